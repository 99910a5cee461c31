"""A structure-aware fuzz harness for every loader and command line of the kit (`make fuzz`).

Each case is a small folder of input files, the command line to run on them and what is expected
(`bad`: the input is clearly wrong and must be refused; `any`: it may be valid). The runner runs
the real entry point of the command in a child process with a time and memory limit and
classifies the outcome: refused properly (exit 2, 3 or 4, one line on stderr, no traceback),
accepted, crash, hang, accepted silently (a bad input with exit 0) or partial output (a failed
run that left a file behind). The goal is zero of the last four.
"""
