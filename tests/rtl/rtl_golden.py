"""The golden model (`npu_model`) as the RTL tests' reference: fault codes, footprints, and whole
runs of instruction lists with given initial buffer contents.

`run()` wraps the instructions in a `Program` whose one input port covers all of abuf (so the
test's initial abuf is placed like a host input) and runs one frame on the cosimulation's
transaction model (`cocotb_tests.scoreboard.GoldenModel`, i.e. `npu_model.golden.machine.Npu`, with the
schedule of the instructions before a fault for faulting programs).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from npu_model.golden.analysis import analyse, footprint as _footprint, instruction_fault
from npu_model.arch.config import NpuConfig
from npu_model.arch.errors import NpuFault, ProgramFormatError
from npu_model.arch.isa import Instruction, Opcode, encode
from npu_model.arch.program import Port, Program

from cocotb_tests.scoreboard import GoldenModel

__all__ = ["fault_code", "rejected_by_loader", "footprint", "program_of", "run", "BUFS"]

BUFS = {0: "wbuf", 1: "abuf", 2: "sbuf"}
_EOF = Instruction(opcode=int(Opcode.EOF))


def fault_code(cfg: NpuConfig, ins: Instruction) -> int:
    """The golden model's fault code of one instruction (0: legal)."""
    found = instruction_fault(ins, 0, cfg)
    return 0 if found is None else found[0]


def rejected_by_loader(cfg: NpuConfig, ins: Instruction) -> bool:
    """The loader refuses the instruction (e.g. it writes a byte twice)."""
    try:
        analyse(program_of(cfg, [ins]))
    except ProgramFormatError:
        return True
    except NpuFault:
        return False
    return False


def footprint(ins: Instruction, x: str) -> tuple[int, int]:
    steps = 1 if x == "d" and ins.opcode in (Opcode.MAC, Opcode.DOT) else ins.r
    size = 2 if getattr(ins, f"{x}_dtype") else 1
    lo, hi = _footprint(getattr(ins, f"{x}_base"), getattr(ins, f"{x}_rstride"),
                        getattr(ins, f"{x}_lstride"), steps, ins.n, size)
    return int(lo), int(hi)


def program_of(cfg: NpuConfig, instructions, *, wbuf=b"", sbuf=b"", lut=()) -> Program:
    """A program of `instructions` (eof appended if missing) with the images given (pbuf: a
    copy of the wbuf image, as the RTL harness loads it); input port 0 is the whole of abuf,
    output port 0 its first byte."""
    instructions = list(instructions)
    if not instructions or instructions[-1].opcode != Opcode.EOF:
        instructions.append(_EOF)
    code = np.frombuffer(b"".join(encode(i) for i in instructions), np.uint8)
    return Program(config=cfg, code=code, wbuf=bytes(wbuf), sbuf=bytes(sbuf), pbuf=bytes(wbuf)[:cfg.pbuf_bytes],
                   lut=np.asarray(lut, np.int16),
                   inputs=[Port("abuf", "abuf", 0, "i8", (cfg.abuf_bytes,))],
                   outputs=[Port("out", "abuf", 0, "i8", (1,))])


@dataclass
class Run:
    schedule: list            # (issue, retire) per pc (before the fault, if it faults)
    counters: dict
    mem: dict                 # 'wbuf'/'abuf'/'sbuf' -> bytes after the frame (empty if it faults)
    fault: tuple | None       # (pc, code)


def run(cfg: NpuConfig, instructions, *, wbuf=b"", abuf=b"", sbuf=b"", lut=()) -> Run:
    """One frame of `instructions` on the golden model, from the given buffer contents."""
    model = GoldenModel(program_of(cfg, instructions, wbuf=wbuf, sbuf=sbuf, lut=lut))
    start = np.frombuffer(bytes(abuf).ljust(cfg.abuf_bytes, b"\0"), np.int8)
    exp = model.run_frame(0, {"abuf": start})
    schedule = list(zip(exp.issue.tolist(), exp.retire.tolist()))
    mem = {}
    if exp.fault is None:
        mem = {"wbuf": bytes(wbuf).ljust(cfg.wbuf_bytes, b"\0"),
               "abuf": exp.buffers["abuf"].tobytes(), "sbuf": exp.buffers["sbuf"].tobytes()}
    return Run(schedule, exp.counters, mem, exp.fault)
