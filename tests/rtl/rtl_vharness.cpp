// Minimal Verilator driver for the RTL tests: reads a script on stdin, prints results.
//   W sel addr hex256     host write of one row (hex, most significant digit first)
//   R sel addr            host read of one row: prints "D <hex256>"
//   S                     start a frame and wait for done: prints "F fault pc code" and counters
//   C                     print "K name value" for every counter
#include "Vnpu.h"
#include "verilated.h"
#include <cstdio>
#include <iostream>
#include <string>

static Vnpu* top;
static void tick() { top->clk = 0; top->eval(); top->clk = 1; top->eval(); }

int main(int argc, char** argv) {
  Verilated::commandArgs(argc, argv);
  top = new Vnpu;
  top->start = 0; top->host_we = 0; top->host_re = 0;
  tick();
  std::string op;
  while (std::cin >> op) {
    if (op == "W") {
      unsigned sel, addr; std::string hex;
      std::cin >> sel >> addr >> hex;
      top->host_sel = sel; top->host_addr = addr; top->host_we = 1;
      for (int w = 0; w < 8; w++) top->host_wdata[w] = std::stoul(hex.substr(56 - 8 * w, 8), nullptr, 16);
      tick();
      top->host_we = 0;
    } else if (op == "R") {
      unsigned sel, addr;
      std::cin >> sel >> addr;
      top->host_sel = sel; top->host_addr = addr; top->host_re = 1;
      tick();
      top->host_re = 0;
      printf("D ");
      for (int w = 7; w >= 0; w--) printf("%08x", top->host_rdata[w]);
      printf("\n");
    } else if (op == "S") {
      top->start = 1; tick(); top->start = 0;
      long n = 0;
      do { tick(); } while (!top->done && ++n < 10000000);
      printf("F %d %d %d\n", top->fault, top->fault_pc, top->fault_code);
    } else if (op == "C") {
#define K(x) printf("K " #x " %u\n", top->counters_##x);
      K(cycles) K(instructions) K(mac_cycles) K(macs) K(stall_cycles) K(conflict_cycles)
      K(wbuf_hwm) K(wbuf_read_bytes) K(wbuf_write_bytes) K(abuf_hwm) K(abuf_read_bytes)
      K(abuf_write_bytes) K(sbuf_hwm) K(sbuf_read_bytes) K(sbuf_write_bytes)
    }
  }
  delete top;
  return 0;
}
