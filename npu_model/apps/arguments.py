"""argparse types for numeric options: a value out of its range is refused by argparse (usage
and one error line, exit 2) before any work, never clamped or carried into a result as inf."""
from __future__ import annotations

import argparse
import math

__all__ = ["bounded", "bounded_list", "precisions", "MAX_FRAMES", "MAX_JOBS"]

#: Most frames one command runs (an hour of 16 kHz audio at hop 64 is 900,000).
MAX_FRAMES = 1_000_000
#: Most worker processes a sweep starts.
MAX_JOBS = 1024


def _parse(kind, text: str, low, high, low_open: bool):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not {'an integer' if kind is int else 'a number'}: {text[:40]!r}") \
            from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be finite, not {text[:40]}")
    if (value <= low if low_open else value < low) or value > high:
        raise argparse.ArgumentTypeError(f"must be in {'(' if low_open else '['}{low:g}, {high:g}], not {text[:40]}")
    return value


def bounded(kind, low, high, *, low_open: bool = False):
    """An int or float option in [low, high] ((low, high] with `low_open`)."""
    return lambda text: _parse(kind, text, low, high, low_open)


def bounded_list(kind, low, high, *, low_open: bool = False):
    """A comma-separated list of such values (at least one)."""
    def parse(text):
        values = [_parse(kind, v.strip(), low, high, low_open) for v in text.split(",") if v.strip()]
        if not values:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list, not {text[:40]!r}")
        return values
    return parse


def precisions(text: str) -> list[str]:
    """A comma-separated list of activation precisions (int8, int16), each once."""
    values = [v.strip() for v in text.split(",") if v.strip()]
    bad = [v for v in values if v not in ("int8", "int16")]
    if not values or bad:
        raise argparse.ArgumentTypeError(f"expected a list of int8 and int16, not {text[:40]!r}")
    return list(dict.fromkeys(values))
