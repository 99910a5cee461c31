import json

import pytest

from npu_model.arch.config import MAX_DATA_BUFFER_BYTES, ConfigError, NpuConfig


def test_defaults_are_valid_and_frozen():
    cfg = NpuConfig()
    assert cfg.lanes == 8
    with pytest.raises(AttributeError):
        cfg.lanes = 4


def test_keyword_only():
    with pytest.raises(TypeError):
        NpuConfig(8)


@pytest.mark.parametrize("kwargs, message", [
    ({"lanes": 3}, "lanes: must be one of 1, 2, 4, 8, 16, not 3"),
    ({"lanes": 8.0}, "lanes: must be an integer, not float 8.0"),
    ({"lanes": True}, "lanes: must be an integer, not bool True"),
    ({"abuf_bytes": 100}, f"abuf_bytes: must be a multiple of 16 between 16 and {MAX_DATA_BUFFER_BYTES}"),
    ({"wbuf_bytes": 2 * MAX_DATA_BUFFER_BYTES}, f"wbuf_bytes: must be a multiple of 16 between 16 and {MAX_DATA_BUFFER_BYTES}"),
    ({"imem_bytes": 33}, "imem_bytes: must be a positive multiple of 32"),
    ({"lut_entries": 1000}, "lut_entries: must be a power of two between 2 and 16384, not 1000"),
    ({"acc_bits": 64}, "acc_bits: must be between 16 and 48, not 64"),
    ({"clock_mhz": 0}, "clock_mhz: must be in (0, 10000], not 0"),
    ({"clock_mhz": "fast"}, "clock_mhz: must be a number, not str"),
])
def test_bad_values_name_the_field(kwargs, message):
    with pytest.raises(ConfigError) as exc:
        NpuConfig(**kwargs)
    assert str(exc.value).startswith(message)


def test_json_round_trip(tmp_path):
    cfg = NpuConfig(lanes=16, abuf_bytes=65536, clock_mhz=150)
    assert NpuConfig.from_json(cfg.to_json()) == cfg
    path = tmp_path / "npu.json"
    path.write_text(cfg.to_json())
    assert NpuConfig.load(path) == cfg


def test_json_errors_name_the_file(tmp_path):
    path = tmp_path / "npu.json"
    path.write_text(json.dumps({"lanes": 8, "sram": 1}))
    with pytest.raises(ConfigError, match=r"npu.json: unknown field 'sram'"):
        NpuConfig.load(path)
    path.write_text(json.dumps({"lanes": 5}))
    with pytest.raises(ConfigError, match=r"npu.json: lanes: must be one of"):
        NpuConfig.load(path)
    path.write_text("{")
    with pytest.raises(ConfigError, match=r"npu.json: not valid JSON"):
        NpuConfig.load(path)
    with pytest.raises(ConfigError, match=r"missing.json: cannot read"):
        NpuConfig.load(tmp_path / "missing.json")


def test_mismatches_ignore_the_clock():
    a = NpuConfig(lanes=8)
    assert a.mismatches(a.replace(clock_mhz=100)) == []
    assert a.mismatches(a.replace(lanes=4)) == ["lanes: 8 != 4"]
