"""Float reference: linear kernels, per-op float layers, the frame-by-frame network runner."""
from .float_layers import FLOAT_LAYERS, activate, sigmoid
from .float_model import FloatModel
from .linear import complex_as_real, conv1d, conv_transpose1d, exact_int

__all__ = ["FloatModel", "FLOAT_LAYERS", "activate", "sigmoid", "conv1d", "conv_transpose1d",
           "complex_as_real", "exact_int"]
