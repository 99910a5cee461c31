"""Interleaving independent instruction streams to hide read-after-write latency.

A dependent sequence (a GRU step: gates, then the update that reads them, then the next step's
gates that read the new state) stalls up to PIPELINE_LATENCY cycles at every dependency when
emitted alone. Two independent sequences (the two directions of a bidirectional GRU, two heads of
attention, two positions of a time-axis GRU) emitted alternately let each one's instructions fill
the other's waits.

    fwd, bwd = Recorder(builder), Recorder(builder)
    gru_step(fwd, ...); gru_step(bwd, ...)         # kernels take the recorder as their builder
    interleave(builder, [fwd, bwd])

A recorder stands in for the builder: weights, records, tables and allocations go straight to the
builder (they are not code), instructions are kept. `interleave` merges the streams round-robin by
*units*: a chain of MACs linked by acc_out=1 / acc_in=1 stays together, since the lanes' ACC
registers hold only one chain at a time. Each stream keeps its own order, so the merge is correct
whenever the streams do not touch each other's data.
"""
from __future__ import annotations

from npu_model.arch.isa import Opcode

__all__ = ["Recorder", "interleave"]


class Recorder:
    """A `ProgramBuilder` stand-in that records `emit` calls and delegates everything else."""

    def __init__(self, builder):
        self._builder = builder
        self.code: list[tuple[Opcode, dict]] = []

    def emit(self, opcode, **fields) -> int:
        self.code.append((Opcode(opcode), dict(fields)))
        return len(self.code) - 1

    def __getattr__(self, name):
        return getattr(self._builder, name)

    def units(self) -> list[list[tuple[Opcode, dict]]]:
        """The recorded code cut into units that must stay contiguous (ACC chains)."""
        out, cur = [], []
        for op, fields in self.code:
            cur.append((op, fields))
            if not (op is Opcode.MAC and fields.get("acc_out", 0)):
                out.append(cur)
                cur = []
        if cur:
            raise ValueError("a recorded stream ends inside an accumulator chain (acc_out=1)")
        return out


def interleave(builder, streams) -> int:
    """Emit the streams' units round-robin into `builder`; returns the instructions emitted."""
    queues = [s.units() for s in streams]
    count = 0
    for i in range(max((len(q) for q in queues), default=0)):
        for q in queues:
            if i < len(q):
                for op, fields in q[i]:
                    builder.emit(op, **fields)
                    count += 1
    return count
