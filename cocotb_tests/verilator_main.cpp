// The simulator's main loop: cocotb's Verilator main (cocotb/share/lib/verilator/verilator.cpp,
// Copyright cocotb contributors, Revised BSD License) with the clock generated here instead of
// by the design under Verilator --timing, and with the callback rounds skipped while cocotb
// waits only for value changes (cocotb_tests/build.py builds with it; see docs/cosim.md).
//
// Why: the NPU runs millions of cycles per frame with Python asleep (it waits for one
// RisingEdge of `tb_done`). Under --timing every half period went through Verilator's
// coroutine scheduler plus four rounds of VPI callbacks; here a half period is one toggle of
// the top-level `clk` input, one evaluation and one check of the value-change callbacks.
//
// Skipping is exact: callbacks are registered only by callbacks, so after a time step in which
// none ran, the only callbacks left are value-change ones (checked after every evaluation) and
// timed ones no earlier than cbNextDeadline() (the full loop runs again from that time on).
//
// The waveform build (VM_TRACE) writes the FST here rather than by $dumpvars, so that its time
// stamps are frame time: the wrapper raises `tb_wave_on` in frame cycle `tb_wave_from`, and from
// then on every time step is dumped at (simulation time - frame start), i.e. frame cycle c at
// c x the configured clock period; the file is closed when `tb_wave_done` rises.

#include <algorithm>
#include <memory>

#include "Vtop.h"
#include "verilated.h"
#include "verilated_vpi.h"
#if VM_TRACE
#include <string>

#include "verilated_fst_c.h"
#endif

#ifndef COSIM_HALF_PERIOD
#error "COSIM_HALF_PERIOD (half the clock period in time precision units) must be defined"
#endif

static vluint64_t main_time = 0;  // current simulation time, in time precision units

double sc_time_stamp() { return main_time; }  // $time

extern "C" {
void vlog_startup_routines_bootstrap(void);
}

#if VM_TRACE
// The waveform window: see the header.
class Waveform {
  public:
    explicit Waveform(Vtop *top) {
        Verilated::traceEverOn(true);
        top->trace(&fst_, 99);
        const char *dir = Verilated::commandArgsPlusMatch("cosim_dir=");
        path_ = (dir && *dir) ? std::string(dir + sizeof("+cosim_dir=") - 1) : std::string(".");
        path_ += "/wave.fst";
    }
    ~Waveform() { close(); }

    // After each time step: open at the window's start, dump while open, close at its end.
    void step(vluint64_t now) {
        if (done_) return;
        if (!fst_.isOpen()) {
            if (!read(on_, "cosim_top.tb_wave_on")) return;
            start_ = now - read(from_, "cosim_top.tb_wave_from") * 2 * COSIM_HALF_PERIOD;
            fst_.open(path_.c_str());
        }
        fst_.dump(now - start_);
        if (read(done_flag_, "cosim_top.tb_wave_done")) close();
    }

  private:
    // A public signal's value through VPI; its handle is looked up on first use and kept.
    static vluint64_t read(vpiHandle &h, const char *name) {
        if (!h) h = vpi_handle_by_name(const_cast<PLI_BYTE8 *>(name), nullptr);
        if (!h) return 0;
        s_vpi_value v;
        v.format = vpiIntVal;
        vpi_get_value(h, &v);
        return static_cast<vluint64_t>(static_cast<vluint32_t>(v.value.integer));
    }
    void close() {
        if (fst_.isOpen()) {
            fst_.close();
            done_ = true;
        }
    }

    VerilatedFstC fst_;
    vpiHandle on_ = nullptr, from_ = nullptr, done_flag_ = nullptr;
    std::string path_;
    vluint64_t start_ = 0;
    bool done_ = false;
};
#endif

// Run value-change callbacks until values stop changing (they may write signals).
static bool settle_value_callbacks() {
    bool called = VerilatedVpi::callValueCbs();
    if (called) {
        while (VerilatedVpi::callValueCbs()) {
        }
    }
    return called;
}

// Evaluate the design and settle the value-change callbacks. Returns whether any ran.
static bool evaluate(Vtop *top) {
    top->eval_step();
    VerilatedVpi::clearEvalNeeded();
    VerilatedVpi::doInertialPuts();
    return settle_value_callbacks();
}

// The rest of a time step's evaluation after `evaluate()` (as in cocotb's loop): evaluate
// again while callbacks write signals, ReadWrite callbacks, then ReadOnly callbacks.
// Returns whether any callback ran (`ran`: whether the first `evaluate()` ran one).
static bool finish_time_step(Vtop *top, bool ran) {
    for (;;) {
        while (VerilatedVpi::evalNeeded()) ran |= evaluate(top);
        const bool rw = VerilatedVpi::callCbs(cbReadWriteSynch);
        VerilatedVpi::doInertialPuts();
        if (rw || VerilatedVpi::evalNeeded()) ran |= settle_value_callbacks() || rw;
        if (!VerilatedVpi::evalNeeded()) break;
        ran |= evaluate(top);
    }
    top->eval_end_step();
    return VerilatedVpi::callCbs(cbReadOnlySynch) || ran;
}

int main(int argc, char **argv) {
    Verilated::commandArgs(argc, argv);
    std::unique_ptr<Vtop> top(new Vtop(""));
    Verilated::fatalOnVpiError(false);  // otherwise it will fail on systemtf
#if VM_TRACE
    Waveform wave(top.get());
#endif

    vlog_startup_routines_bootstrap();
    Verilated::addExitCb([](void *) { VerilatedVpi::callCbs(cbEndOfSimulation); }, nullptr);
    VerilatedVpi::callCbs(cbStartOfSimulation);
    settle_value_callbacks();

    top->clk = 0;
    vluint64_t next_edge = COSIM_HALF_PERIOD;
    bool quiet = false;  // no callback ran in the last time step
    while (!Verilated::gotFinish()) {
        bool ran = evaluate(top.get());
        if (ran || !quiet) {
            ran = finish_time_step(top.get(), ran);
        } else {
            top->eval_end_step();  // nothing registered that the full step would call
        }
#if VM_TRACE
        wave.step(main_time);
#endif

        // Next time: the clock's next edge, or an earlier timed callback.
        const vluint64_t deadline = VerilatedVpi::cbNextDeadline();
        main_time = std::min(deadline, next_edge);
        if (main_time == next_edge) {
            top->clk = !top->clk;
            next_edge += COSIM_HALF_PERIOD;
        }
        if (ran || !quiet || main_time >= deadline) {
            // NextSimTime, then timed callbacks, at the start of the time step.
            if (VerilatedVpi::callCbs(cbNextSimTime)) {
                settle_value_callbacks();
                ran = true;
            }
            if (VerilatedVpi::hasCbs(cbAfterDelay) || main_time >= deadline) {
                VerilatedVpi::callTimedCbs();
                settle_value_callbacks();
                ran = true;
            }
        }
        quiet = !ran;
    }

    top->final();
    VerilatedVpi::callCbs(cbEndOfSimulation);
    // Fail the sim if any assertion/error fired during the run.
    return Verilated::threadContextp()->errorCount() > 0 ? 1 : 0;
}
