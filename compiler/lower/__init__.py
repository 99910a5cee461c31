"""Lowering: a quantised network -> one unrolled NPU program (`compile_network`, network.py),
built from the kernels below through a `ProgramBuilder`.

Kernels: integer layers -> unrolled NPU instructions.

Tensors are channel-last `TensorRef`s; every kernel takes integer weights (int8/int16, PyTorch
layouts), a `Post` (bias, requantisation, activation) and the output `TensorRef`, emits its
instructions for the builder's lane count (partial tiles included) and returns a `KernelResult`
(instructions, MACs, issue cycles, lane mapping). `compiler.lower.reference` holds independent
numpy references of the same semantics and the exact MAC counts.
"""
from .conv import (conv1d, conv_output_length, conv_transpose1d, conv_transpose_output_length, dense,
                   depthwise_conv1d)
from .eltwise import ELEMENTWISE_OPS, copy, elementwise
from .emit import KernelResult, Operand
from .matmul import matmul
from .schedule import Recorder, interleave
from .tensor import IDENTITY, Post, TensorRef, alloc_tensor
from .errors import LoweringError
from .network import compile_network

__all__ = ["TensorRef", "Post", "IDENTITY", "alloc_tensor", "KernelResult", "Operand", "conv1d",
           "conv_transpose1d", "depthwise_conv1d", "dense", "matmul", "elementwise", "copy", "ELEMENTWISE_OPS",
           "conv_output_length", "conv_transpose_output_length", "Recorder", "interleave", "compile_network",
           "LoweringError"]
