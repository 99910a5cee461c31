"""Quantisation and the integer reference: calibration, formats, LUTs, integer layers, fidelity."""
from .calibrate import Calibration, calibrate
from .config import QuantConfig
from .int_model import IntModel, QuantisedPipeline, quantise_input
from .intmath import finish, lut_lookup, requantise, saturate, wrap
from .luts import Lut
from .qnet import (Epilogue, QActivation, QAdd, QAttention, QComplexConvTime, QConcat, QConv1d, QConvTranspose1d,
                   QGru, QGruCell, QLayer, QMagnitude, QProjection, QState, QTensor, QuantizedNetwork)
from .quantise import quantise
from .snr import FidelityReport, layer_fidelity, measure_fidelity, snr_db

__all__ = [
    "Calibration", "calibrate", "QuantConfig", "IntModel", "QuantisedPipeline", "quantise_input", "finish",
    "lut_lookup", "requantise", "saturate", "wrap", "Lut", "Epilogue", "QActivation", "QAdd", "QAttention",
    "QComplexConvTime", "QConcat", "QConv1d", "QConvTranspose1d", "QGru", "QGruCell", "QLayer", "QMagnitude",
    "QProjection", "QState", "QTensor", "QuantizedNetwork", "quantise", "FidelityReport", "layer_fidelity",
    "measure_fidelity", "snr_db",
]
