"""Registry of the ops a model file may use, by the name written in `op:`."""
from __future__ import annotations

from .attention import Attention
from .base import ACTIVATIONS, BN_SUFFIXES, LayerSpec, OpDef, Shape
from .channels import ChannelShuffle, Slice, channel_index
from .conv import Conv1d, ConvTranspose1d
from .conv2d import Conv2d, ConvTranspose2d
from .dense import Dense, Flatten, PixelShuffle, Reshape
from .elementwise import (ACTIVATION_OPS, Activation, Add, BatchNorm, Concat, Elu, LayerNorm, LeakyRelu, Mul, Prelu,
                          Softplus)
from .fields import REQUIRED, Field
from .gru import Gru
from .lstm import Lstm
from .host import HOST_OPS, HostMask
from .phase import ComplexConvTime, Magnitude
from .pooling import Mean, MovingAverage

__all__ = ["OPS", "OpDef", "LayerSpec", "Shape", "Field", "REQUIRED", "ACTIVATIONS", "BN_SUFFIXES",
           "is_stateful", "channel_index"]

OPS: dict[str, OpDef] = {
    d.op: d for d in (
        Conv1d(), ConvTranspose1d(), Conv2d(), ConvTranspose2d(), Dense(), Flatten(), Reshape(), PixelShuffle(), Slice(), ChannelShuffle(), Mean(), MovingAverage(), Gru(), Lstm(), Attention(), ComplexConvTime(), Magnitude(),
        Concat(), Add(), Mul(), LeakyRelu(), Prelu(), Softplus(), Elu(), LayerNorm(), BatchNorm(), *(HostMask(o) for o in HOST_OPS), *(Activation(a) for a in ACTIVATION_OPS),
    )
}


def is_stateful(layer: LayerSpec) -> bool:
    """Layers whose output depends on earlier frames (state the NPU keeps in sbuf)."""
    return OPS[layer.op].keeps_state(layer)
