"""Lowering of the integer LSTM (`QLstm`): the step of `QLstmCell`, gates updated in place.

Per step and direction (int16 throughout, the epilogues of the cell):

    gx = W_ih x   (MACs over the 4H gate rows, every position at once, before the steps)
    gh = W_hh h   (MACs; h = 0: a `mov` of the biases, no MAC)
    i, f, g, o = gx_* + gh_* -> table    written over gx_*      (four adds, in place)
    fc = f * c    >> 15                  written over gh_i      (mul; gh_i is dead after i)
    ig = i * g    >> 29 - c_log2         written over gh_f      (mul)
    c' = fc + ig                         the cell state         (add)
    tc = c'       -> tanh                written over gh_g      (mov through the table)
    h' = o * tc   >> 15                  the output / state     (mul)

axis 'time': one step per frame for all positions; h (the layer's output) and c live in sbuf,
channel-last, updated in place by the step's last instructions. axis 'frequency': each direction
runs over the positions, h of a step is the previous output row, c a one-position temporary;
the directions are interleaved instruction by instruction, as the GRU's.
"""
from __future__ import annotations

from npu_model.arch.isa import DType, Opcode

from .eltwise import copy, elementwise
from .errors import LoweringError
from .gru import frequency_directions, grouped_dense, input_gates
from .layers import post_of, vector_op

__all__ = ["lower_lstm"]

_GATES = 4


def lower_lstm(ctx, layer):
    x = ctx.materialise(layer.inputs[0])
    if layer.axis == "time":
        return _time_lstm(ctx, layer, x)
    if layer.axis == "frequency":
        return _frequency_lstm(ctx, layer, x)
    raise LoweringError(layer.name, f"unknown LSTM axis {layer.axis!r}")


def _step(b, op, cell, luts, gx, gh, c, h_out, c_out):
    """One step's element-wise part through `op` (tensor or vector operations): the gates' input
    parts in gx and recurrent parts in gh (four views each, both overwritten), c the previous cell
    state; writes c_out, then h_out last (the previous h has been read by gh's products)."""
    P = lambda ep: post_of(ep, luts)  # noqa: E731
    xi, xf, xg, xo = gx
    hi, hf, hg, ho = gh
    op(b, Opcode.ADD, xi, hi, xi, P(cell.ep_i))
    op(b, Opcode.ADD, xf, hf, xf, P(cell.ep_f))
    op(b, Opcode.ADD, xg, hg, xg, P(cell.ep_g))
    op(b, Opcode.ADD, xo, ho, xo, P(cell.ep_o))
    op(b, Opcode.MUL, xf, c, hi, P(cell.ep_fc))                    # fc = f * c
    op(b, Opcode.MUL, xi, xg, hf, P(cell.ep_ig))                   # ig = i * g
    op(b, Opcode.ADD, hi, hf, c_out, P(cell.ep_c))                 # c'
    op(b, Opcode.MOV, c_out, None, hg, P(cell.ep_tc))              # tanh(c')
    op(b, Opcode.MUL, xo, hg, h_out, P(cell.ep_hnew))              # h' = o * tanh(c')


def _time_lstm(ctx, layer, x):
    if len(layer.cells) != 1:
        raise LoweringError(layer.name, "a time-axis LSTM has one direction")
    cell = layer.cells[0]
    hid, length = layer.hidden, x.positions
    b = ctx.b
    h = ctx.state_tensor(f"{layer.state}.h", length, hid, DType.I16)       # sbuf, (positions, H)
    c = ctx.state_tensor(f"{layer.state}.c", length, hid, DType.I16)
    gx = input_gates(ctx, cell, x, f"{layer.name}.gx", layer.groups, _GATES)
    gh = ctx.temp_tensor(f"{layer.name}.gh", length, _GATES * hid, DType.I16)
    grouped_dense(b, h, cell.w_hh, post_of(cell.ep_h, ctx.luts), gh, layer.groups, name=f"{layer.name}.hh",
                  gates=_GATES)
    views = [tuple(t.view(ch=k * hid, channels=hid) for k in range(_GATES)) for t in (gx, gh)]
    _step(b, elementwise, cell, ctx.luts, *views, c, h, c)
    ctx.note("one step, all positions; h and c in sbuf updated in place")
    return h


def _frequency_lstm(ctx, layer, x):
    """The directions' steps (`gru.frequency_directions`), c a one-position temporary each."""
    def direction(rec, cell, gx, gh, out, zero, name):
        c = ctx.temp_tensor(f"{name}.c", 1, layer.hidden, DType.I16)
        _direction(rec, ctx, layer, cell, gx, gh, c, out, zero, name)
    return frequency_directions(ctx, layer, x, _GATES, direction)


def _direction(rec, ctx, layer, cell, gx, gh, c, out, zero, name):
    hid, length = out.channels, out.positions
    post_h = post_of(cell.ep_h, ctx.luts)
    cache = {}
    hv = tuple(gh.view(ch=k * hid, channels=hid) for k in range(_GATES))
    prev = None
    for p in (range(length - 1, -1, -1) if cell.reverse else range(length)):
        if prev is None:
            copy(rec, zero, gh, post_h)                              # gh = finish(0, ep_h)
            c_prev = zero
        else:
            h = out.view(pos=prev, positions=1)
            grouped_dense(rec, h, cell.w_hh, post_h, gh, layer.groups, name=f"{name}.hh", cache=cache, gates=_GATES)
            c_prev = c
        xv = tuple(gx.view(pos=p, positions=1, ch=k * hid, channels=hid) for k in range(_GATES))
        hp = out.view(pos=p, positions=1)
        _step(rec, vector_op, cell, ctx.luts, xv, hv, c_prev, hp, c)
        prev = p
