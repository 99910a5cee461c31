"""The META section is a typed record (npu_model.arch.meta): the compiler's keys round-trip, a
hand-written key is kept, and a malformed one is a one-line error naming the key."""
from __future__ import annotations

import pytest

from npu_model.arch.errors import ProgramFormatError
from npu_model.arch.meta import HostLayer, InputSpec, ProgramMeta

INPUT = {"name": "x", "bins": 257, "channels": 3, "sample_rate": 16000, "fft_size": 512, "hop": 128,
         "features": ["compressed_complex", "log_power"], "compression": 0.3, "window": "hann"}


def test_round_trip_keeps_every_key():
    d = {"compiler": "1", "model": "m", "lanes": 8, "inputs": ["x"], "outputs": ["y"], "host_layers": [],
         "scales": {"x": 0.5}, "input": INPUT, "host_layer": {"op": "mask_reconstruct", "inputs": ["a", "b"]},
         "instructions": 10, "macs_per_frame": 99, "params": {"model": 3}, "buffers": {"abuf": 4},
         "cycles_per_frame": 123, "utilisation": 0.5, "abuf_peak_bytes": 64, "note": {"free": "form"}}
    meta = ProgramMeta.from_dict(d)
    assert meta.to_dict() == d
    assert meta.input == InputSpec(**{**INPUT, "features": tuple(INPUT["features"])})
    assert meta.host_layer == HostLayer("mask_reconstruct", ("a", "b"))
    assert meta.extra == {"note": {"free": "form"}}
    assert meta.frame_timing == (128, 16000)
    assert ProgramMeta.from_dict({}).to_dict() == {}
    assert ProgramMeta(hop=160, sample_rate=8000).frame_timing == (160, 8000)


@pytest.mark.parametrize("d, message", [
    ({"lanes": "8"}, r"^p.bin: META lanes: must be an integer, not str '8'$"),
    ({"lanes": 3}, r"^p.bin: META lanes: must be one of 1, 2, 4, 8, 16, not 3$"),
    ({"macs_per_frame": True}, r"^p.bin: META macs_per_frame: must be an integer, not bool True$"),
    ({"input": {**INPUT, "hop": 1.5}}, r"^p.bin: META input.hop: must be an integer, not float 1.5$"),
    ({"input": {**INPUT, "fft_size": 0}}, r"^p.bin: META input.fft_size: must be 2 to 2\^16, not 0$"),
    ({"input": {**INPUT, "compression": float("nan")}},
     r"^p.bin: META input.compression: must be a finite number, not nan$"),
    ({"input": {**INPUT, "features": [5]}}, r"^p.bin: META input.features\[0\]: must be a string, not int 5$"),
    ({"input": {**INPUT, "features": ["x"]}}, r"^p.bin: META input.features\[0\]: must be one of compressed_"),
    ({"input": {**INPUT, "hop": 600}}, r"^p.bin: META input.hop: hop longer than the FFT"),
    ({"input": {k: v for k, v in INPUT.items() if k != "bins"}}, r"^p.bin: META input: field 'bins' missing$"),
    ({"input": {**INPUT, "windowing": "hann"}}, r"^p.bin: META input: unknown field 'windowing'"),
    ({"input": {**INPUT, "window": "kaiser"}}, r"^p.bin: META input.window: must be one of hann, sqrt_hann"),
    ({"host_layer": {"op": "mask_reconstruct"}}, r"^p.bin: META host_layer: field 'inputs' missing$"),
    ({"scales": {"x": -1.0}}, r"^p.bin: META scales.x: must be 1e-15 to 1000000000, not -1.0$"),
    ({"scales": {"../x": 1.0}}, r"^p.bin: META scales key: '../x': a name is"),
    ([], r"^p.bin: META: must be an object \(META\), not list \[\]$"),
])
def test_malformed_meta_names_the_key(d, message):
    with pytest.raises(ProgramFormatError, match=message):
        ProgramMeta.from_dict(d, source="p.bin")
