"""What runs on the host side of the pipeline: test signals, STFT, input features, reconstruction."""
from .features import HostFeatures, HOST_MATHS
from .reconstruct import mask_reconstruct
from .signals import stft_frames, generated_frames, tones_plus_noise

__all__ = ["HostFeatures", "HOST_MATHS", "mask_reconstruct", "stft_frames", "generated_frames", "tones_plus_noise"]
