"""The one NPU configuration object shared by the compiler, the golden model and the RTL.

Every hardware parameter that changes what a program may do or how long it takes lives here,
so that a program compiled for one configuration can be checked against the configuration a
model or a design was built for (see `NpuConfig.mismatches`).
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from .errors import NpuError
from .isa import DATA_BUFFERS, FIELD_BY_NAME, INSTRUCTION_BYTES, Buffer
from .memory import ORGANISATIONS, BankOrg, bank_org
from .record import RECORD_BYTES

__all__ = ["NpuConfig", "ConfigError", "BUFFER_NAMES", "COUNTED_BUFFERS", "LANE_CHOICES", "MAX_CLOCK_MHZ"]

LANE_CHOICES = (1, 2, 4, 8, 16)
#: Names of the data buffers in the order of their ISA buffer codes (`npu_model.arch.isa.Buffer`).
BUFFER_NAMES = tuple(b.label for b in DATA_BUFFERS)
#: The parameter memory: the 8-byte records compute instructions read through `p_base`.
PBUF = "pbuf"
#: The memories the frame counters count bytes and high-water marks of: the data buffers and pbuf.
COUNTED_BUFFERS = BUFFER_NAMES + (PBUF,)
#: Largest data buffer the ISA's address fields can reach.
MAX_DATA_BUFFER_BYTES = 1 << FIELD_BY_NAME["a_base"].bits
#: Largest LUT memory the ISA's `lut_base` field can reach.
MAX_LUT_ENTRIES = 1 << FIELD_BY_NAME["lut_base"].bits

KIB = 1024
#: Fastest clock a configuration (or a report's --clock-mhz) may name.
MAX_CLOCK_MHZ = 10_000.0
#: The range of `macro_words`: memory compilers make macros of some tens to some tens of thousands of words.
MIN_MACRO_WORDS = 16
MAX_MACRO_WORDS = 1 << 16
#: Most top-k index registers: an indexed loop runs at most this many iterations.
MAX_TOPK_ENTRIES = 4096


class ConfigError(NpuError, ValueError):
    """A configuration value is out of range or of the wrong type."""


@dataclass(frozen=True, kw_only=True)
class NpuConfig:
    """A frozen, validated NPU configuration.

    lanes:        parallel MAC lanes (one instruction produces up to `lanes` outputs).
    wbuf_bytes:   weight SRAM: weights, bias/requantisation records, constants (read-only at run time).
    abuf_bytes:   activation SRAM: per-frame tensors, input and output regions.
    sbuf_bytes:   state SRAM: tensors that persist across frames (GRU state, past frames, skips).
    pbuf_bytes:   parameter SRAM: the 8-byte bias/requantisation records (read-only at run time).
    imem_bytes:   instruction memory (32-byte instruction words).
    lut_entries:  int16 entries of the lookup-table memory (sigmoid, tanh, exp, ...).
    acc_bits:     accumulator width; sums wrap modulo 2**acc_bits.
    clock_mhz:    clock used to turn cycles into time in reports (does not change behaviour).
    wbuf_org, abuf_org, sbuf_org:  how each data buffer is banked: 'lane' (one bank of 16-bit words
                  per lane) or 'row' (two banks of rows of `lanes` int16 elements); see
                  `npu_model.arch.memory`. Bank conflicts cost cycles (docs/timing.md).
    macro_words:  the deepest SRAM macro (words): a deeper bank or memory is macros stacked.
    topk_entries: index registers of the top-k unit (`topk`, indexed loops: D-GRU's select gate);
                  0 builds no top-k unit.
    """

    lanes: int = 8
    wbuf_bytes: int = 512 * KIB
    abuf_bytes: int = 256 * KIB
    sbuf_bytes: int = 128 * KIB
    pbuf_bytes: int = 32 * KIB
    imem_bytes: int = 64 * KIB
    lut_entries: int = 4096
    acc_bits: int = 32
    clock_mhz: float = 200.0
    wbuf_org: str = "lane"
    abuf_org: str = "lane"
    sbuf_org: str = "lane"
    macro_words: int = 4096
    topk_entries: int = 0

    def __post_init__(self):
        _check_int("lanes", self.lanes)
        if self.lanes not in LANE_CHOICES:
            raise ConfigError(f"lanes: must be one of {', '.join(map(str, LANE_CHOICES))}, not {self.lanes}")
        for name in BUFFER_NAMES:
            value = getattr(self, f"{name}_bytes")
            _check_int(f"{name}_bytes", value)
            if not 16 <= value <= MAX_DATA_BUFFER_BYTES or value % 16:
                raise ConfigError(f"{name}_bytes: must be a multiple of 16 between 16 and "
                                  f"{MAX_DATA_BUFFER_BYTES} (the ISA's address range), not {value}")
        _check_int("pbuf_bytes", self.pbuf_bytes)
        if not RECORD_BYTES <= self.pbuf_bytes <= MAX_DATA_BUFFER_BYTES or self.pbuf_bytes % RECORD_BYTES:
            raise ConfigError(f"pbuf_bytes: must be a multiple of {RECORD_BYTES} (one record) between {RECORD_BYTES} "
                              f"and {MAX_DATA_BUFFER_BYTES} (the ISA's address range), not {self.pbuf_bytes}")
        _check_int("imem_bytes", self.imem_bytes)
        if self.imem_bytes < INSTRUCTION_BYTES or self.imem_bytes % INSTRUCTION_BYTES:
            raise ConfigError(f"imem_bytes: must be a positive multiple of {INSTRUCTION_BYTES} "
                              f"(one instruction word), not {self.imem_bytes}")
        if self.imem_bytes > 1 << 26:
            raise ConfigError(f"imem_bytes: at most {1 << 26} (2 M instructions), not {self.imem_bytes}")
        _check_int("lut_entries", self.lut_entries)
        if not 2 <= self.lut_entries <= MAX_LUT_ENTRIES or self.lut_entries & (self.lut_entries - 1):
            raise ConfigError(f"lut_entries: must be a power of two between 2 and {MAX_LUT_ENTRIES}, "
                              f"not {self.lut_entries}")
        _check_int("acc_bits", self.acc_bits)
        if not 16 <= self.acc_bits <= 48:
            raise ConfigError(f"acc_bits: must be between 16 and 48, not {self.acc_bits}")
        if isinstance(self.clock_mhz, bool) or not isinstance(self.clock_mhz, (int, float)):
            raise ConfigError(f"clock_mhz: must be a number, not {type(self.clock_mhz).__name__}")
        if not 0 < self.clock_mhz <= MAX_CLOCK_MHZ:
            raise ConfigError(f"clock_mhz: must be in (0, {MAX_CLOCK_MHZ:g}], not {self.clock_mhz}")
        object.__setattr__(self, "clock_mhz", float(self.clock_mhz))
        for name in BUFFER_NAMES:
            org = getattr(self, f"{name}_org")
            if org not in ORGANISATIONS:
                raise ConfigError(f"{name}_org: must be one of {', '.join(ORGANISATIONS)}, not {org!r}")
        _check_int("macro_words", self.macro_words)
        if not MIN_MACRO_WORDS <= self.macro_words <= MAX_MACRO_WORDS or self.macro_words & (self.macro_words - 1):
            raise ConfigError(f"macro_words: must be a power of two between {MIN_MACRO_WORDS} and {MAX_MACRO_WORDS}, "
                              f"not {self.macro_words}")

        _check_int("topk_entries", self.topk_entries)
        if not 0 <= self.topk_entries <= MAX_TOPK_ENTRIES:
            raise ConfigError(f"topk_entries: must be between 0 and {MAX_TOPK_ENTRIES}, not {self.topk_entries}")

    # Derived figures -------------------------------------------------------------------------
    @property
    def imem_words(self) -> int:
        return self.imem_bytes // INSTRUCTION_BYTES

    @property
    def pc_bits(self) -> int:
        """Width of a program counter: enough for every instruction word of imem (at least 1)."""
        return max(1, (self.imem_words - 1).bit_length())

    def bank_org(self, name: str) -> BankOrg:
        """The banking of data buffer `name` (`npu_model.arch.memory`): wbuf is written by the host
        only (single-port macros), abuf and sbuf by the lane pipeline too (1R1W macros)."""
        return bank_org(getattr(self, f"{name}_org"), self.lanes, writable=name != "wbuf")

    def buffer_bytes(self, name: str) -> int:
        """Size of a buffer by name ('wbuf', 'abuf', 'sbuf', 'pbuf')."""
        return getattr(self, f"{name}_bytes")

    @property
    def buffer_sizes(self) -> tuple[int, ...]:
        """Size in bytes of every buffer, indexed by its ISA code (`Buffer`), imem included."""
        return tuple(getattr(self, f"{b.label}_bytes") for b in Buffer)

    @property
    def flat_offsets(self) -> dict[str, int]:
        """Offset of each data buffer in one flat memory holding wbuf, abuf and sbuf back to back
        (the golden model's memory image; its overlap tests are one interval test)."""
        out, at = {}, 0
        for b in DATA_BUFFERS:
            out[b.label] = at
            at += getattr(self, f"{b.label}_bytes")
        return out

    # Comparison and serialisation -------------------------------------------------------------
    def mismatches(self, other: "NpuConfig", *, ignore=("clock_mhz",)) -> list[str]:
        """Fields whose values differ, as 'name: self != other'; the clock only changes reports."""
        out = []
        for f in dataclasses.fields(self):
            if f.name in ignore:
                continue
            a, b = getattr(self, f.name), getattr(other, f.name)
            if a != b:
                out.append(f"{f.name}: {a} != {b}")
        return out

    def replace(self, **changes) -> "NpuConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, data, *, source: str = "config") -> "NpuConfig":
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a JSON object, not {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"{source}: unknown field {unknown[0]!r} (known: {', '.join(sorted(known))})")
        try:
            return cls(**data)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None

    @classmethod
    def from_json(cls, text: str, *, source: str = "config") -> "NpuConfig":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{source}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
        except ValueError as exc:                              # an integer of thousands of digits
            raise ConfigError(f"{source}: not valid JSON ({str(exc).split(':')[0]})") from None
        except RecursionError:
            raise ConfigError(f"{source}: not valid JSON (nested too deeply)") from None
        return cls.from_dict(data, source=source)

    @classmethod
    def load(cls, path) -> "NpuConfig":
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path}: not a UTF-8 text file (byte {exc.start}: {exc.reason})") from None
        return cls.from_json(text, source=str(path))


def markdown_config_table() -> str:
    """The CONFIG section's fields and the ranges `NpuConfig` enforces (docs/program-format.md)."""
    d = NpuConfig()
    rows = ["| field | default | range |", "|---|---|---|",
            f"| `lanes` | {d.lanes} | one of {', '.join(map(str, LANE_CHOICES))} |"]
    rows += [f"| `{b}_bytes` | {d.buffer_bytes(b)} | multiple of 16, 16..{MAX_DATA_BUFFER_BYTES} |"
             for b in BUFFER_NAMES]
    rows += [f"| `pbuf_bytes` | {d.pbuf_bytes} | multiple of {RECORD_BYTES}, {RECORD_BYTES}..{MAX_DATA_BUFFER_BYTES} |"]
    rows += [f"| `imem_bytes` | {d.imem_bytes} | multiple of {INSTRUCTION_BYTES}, at most {1 << 26} |",
             f"| `lut_entries` | {d.lut_entries} | power of two, 2..{MAX_LUT_ENTRIES} |",
             f"| `acc_bits` | {d.acc_bits} | 16..48 (the compiler takes only 32) |",
             f"| `clock_mhz` | {d.clock_mhz:g} | number in (0, {MAX_CLOCK_MHZ:g}] (reports only) |"]
    rows += [f"| `{b}_org` | {getattr(d, b + '_org')} | one of {', '.join(ORGANISATIONS)} |" for b in BUFFER_NAMES]
    rows += [f"| `macro_words` | {d.macro_words} | power of two, {MIN_MACRO_WORDS}..{MAX_MACRO_WORDS} |",
             f"| `topk_entries` | {d.topk_entries} | 0..{MAX_TOPK_ENTRIES} (0: no top-k unit) |"]
    return "\n".join(rows)


def _check_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name}: must be an integer, not {type(value).__name__} {value!r}")
