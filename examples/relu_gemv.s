# A hand-written NPU program: y = relu(W x + b) on 8 lanes, and a running sum of y kept in sbuf
# across frames (state carried from frame to frame).
#   python -m npu_model asm examples/relu_gemv.s -o build/relu_gemv.bin
#   python -m npu_model run build/relu_gemv.bin --input examples/relu_gemv_frames.npy --trace traces/run.jsonl
.config lanes=8 wbuf_bytes=4096 abuf_bytes=4096 sbuf_bytes=1024 imem_bytes=4096 lut_entries=256
.input  x   abuf 0x000 i8  16
.output y   abuf 0x100 i8  8
.output sum sbuf 0x000 i16 8

# Parameter records: bias, mult, shift (8 bytes each) — one per output lane for the GEMV ...
.param 0x000 10 3 4
.param 0x008 -20 3 4
.param 0x010 0 3 4
.param 0x018 5 3 4
.param 0x020 40 3 4
.param 0x028 -8 3 4
.param 0x030 0 3 4
.param 0x038 1 3 4
# ... and one shared identity record for the running sum.
.param 0x040 0 1 0
# W, 16 rows (input elements) of 8 lanes (outputs): stored [r][lane] so each step reads one row.
.data wbuf 0x080 i8  1  2  3  4  -1 -2 -3 -4   5  6  7  8  -5 -6 -7 -8
.data wbuf 0x090 i8  2  0 -2  0   2  0 -2  0   1  1  1  1   1  1  1  1
.data wbuf 0x0a0 i8 -1  3 -1  3  -1  3 -1  3   4  4 -4 -4   4  4 -4 -4
.data wbuf 0x0b0 i8  7  0  0  7   0  7  7  0   3 -3  3 -3   3 -3  3 -3
.data wbuf 0x0c0 i8  1  2  3  4   5  6  7  8   8  7  6  5   4  3  2  1
.data wbuf 0x0d0 i8 -8 -7 -6 -5  -4 -3 -2 -1   0  1  0  1   0  1  0  1
.data wbuf 0x0e0 i8  2  4  6  8   1  3  5  7  -2 -4 -6 -8  -1 -3 -5 -7
.data wbuf 0x0f0 i8  9  0  9  0   0  9  0  9   1 -1  1 -1  -1  1 -1  1
.symbol W wbuf 0x080 128 i8 16x8

.layer gemv conv1d 128
sync_in port=0
mac n=8 r=16 a=abuf.i8[0x0+1r] b=wbuf.i8[0x80+8r+1l] d=abuf.i8[0x100+1l] p=0x0+8l act=relu
.layer state add 0
add n=8 r=1 a=sbuf.i16[0x0+2l] b=abuf.i8[0x100+1l] d=sbuf.i16[0x0+2l] p=0x40
sync_out port=0
sync_out port=1
eof
