"""Compiler front end for the speech-enhancement NPU.

    model = load_model("models/trunet.yaml")     # parse, validate, weights, batch-norm folding
    print(summarise(model.spec).format())        # parameters, MACs per frame, host work
    tensors, state = FloatModel(model).run(stft) # float reference, frames in order, state carried
    qnet = quantise(model)                       # calibrated integer network (what lowering reads)
    ints, state = IntModel(qnet).run(x_int8)     # integer reference, the NPU's exact arithmetic
    report = measure_fidelity(model, qnet)       # SNR of integer vs float outputs
"""
from .errors import ModelError, QuantisationError
from .model import Model, build_model, companion_config, load_model, read_spec
from .parse import parse_model, parse_model_text
from .quant import (IntModel, QuantConfig, QuantisedPipeline, QuantizedNetwork, layer_fidelity, measure_fidelity,
                    quantise, quantise_input, snr_db)
from .cache import quantise_cached
from .reference import FloatModel
from .spec import ModelSpec
from .summary import ModelSummary, summarise
from .weights import expected_weights, load_npz, save_npz

__all__ = [
    "ModelError", "QuantisationError", "Model", "build_model", "companion_config", "load_model", "read_spec", "parse_model",
    "parse_model_text", "IntModel", "QuantConfig", "QuantisedPipeline", "QuantizedNetwork", "layer_fidelity",
    "measure_fidelity", "quantise", "quantise_cached", "quantise_input", "snr_db", "FloatModel", "ModelSpec",
    "ModelSummary", "summarise", "expected_weights", "load_npz", "save_npz",
]
