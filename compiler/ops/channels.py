"""Channel selections: a slice of the channels, and ShuffleNet's channel shuffle.

Grouped networks split a tensor's channels, process the parts apart and interleave them again:
GTCRN's grouped temporal convolution block runs one half of its channels through its layers,
passes the other half by, and shuffles the two back together (ShuffleNet's channel shuffle with
two groups); a chunk into equal parts (`torch.chunk`, ONNX's Slice along channels) is a slice
each. Both keep the integers and the scale and only move them: on the NPU they compile to a few
strided copies (`compiler.lower.layers.lower_channels`), and both are folded into one map from
output channel to input channel (`channel_index`).
"""
from __future__ import annotations

from .base import OpDef
from .fields import Field

__all__ = ["Slice", "ChannelShuffle", "channel_index"]


class Slice(OpDef):
    op = "slice"
    doc = "channels start .. stop - 1 of the input (PyTorch's x[:, start:stop], ONNX's Slice along channels)"
    fields = {"start": Field("int", 0, minimum=0, doc="first channel"),
              "stop": Field("int", minimum=1, doc="one past the last channel")}

    def output_shape(self, layer, ins):
        c, length = ins[0]
        if layer["stop"] > c:
            layer.fail("stop", f"'{layer.inputs[0]}' has {c} channels, so stop is at most {c}, not {layer['stop']}")
        if layer["start"] >= layer["stop"]:
            layer.fail("start", f"must be below stop ({layer['stop']}), not {layer['start']}")
        return layer["stop"] - layer["start"], length


class ChannelShuffle(OpDef):
    op = "channel_shuffle"
    doc = "ShuffleNet's channel shuffle: channel g*(C/groups) + i becomes channel i*groups + g"
    fields = {"groups": Field("int", 2, minimum=2, doc="the number of interleaved groups; divides the channels")}

    def output_shape(self, layer, ins):
        c, length = ins[0]
        if c % layer["groups"]:
            layer.fail("groups", f"'{layer.inputs[0]}' has {c} channels, not a multiple of {layer['groups']} groups")
        return c, length


def channel_index(op: str, attrs: dict, channels: int) -> tuple[int, ...]:
    """The input channel of each output channel of a `slice` or a `channel_shuffle` layer."""
    if op == "slice":
        return tuple(range(attrs["start"], attrs["stop"]))
    g = attrs["groups"]
    per = channels // g
    return tuple(j * per + i for i in range(per) for j in range(g))
