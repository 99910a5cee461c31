"""What runs on the host around the NPU: the one STFT/ISTFT, input features, mask reconstruction,
test signals and wav I/O. Below the compiler and the applications; imports only `npu_model.arch`."""
from .features import FEATURE_CHANNELS, HOST_MATHS, HostFeatures
from .reconstruct import HOST_MASKS, mask_complex, mask_magnitude, mask_reconstruct
from .signals import generated_frames, tones_plus_noise
from .stft import hann, istft, stft, stft_frames, window
from .wav import read_wav, write_wav

__all__ = ["HOST_MATHS", "HostFeatures", "mask_reconstruct", "mask_magnitude", "mask_complex", "HOST_MASKS", "generated_frames", "tones_plus_noise",
           "FEATURE_CHANNELS", "hann", "window", "istft", "stft", "stft_frames", "read_wav", "write_wav"]
