"""The speech-quality metrics people report, from the packages they cite.

    pesq     wide-band PESQ (ITU-T P.862.2), the `pesq` package; MOS-LQO, about 1.0 .. 4.6
    stoi     short-time objective intelligibility, the `pystoi` package; 0 .. 1
    si_sdr   scale-invariant signal-to-distortion ratio in dB (Le Roux et al., ICASSP 2019), numpy
    dnsmos   DNSMOS P.835 overall quality (Reddy et al., ICASSP 2022), Microsoft's ONNX models as the
             `speechmos` package ships them, run with onnxruntime; MOS 1 .. 5, non-intrusive (it
             hears the estimate alone, as a listener would)

The first three compare an estimate with the clean reference of the same length at 16 kHz. A
metric whose package is missing, or that cannot score a clip (PESQ finds no utterance), is NaN;
`missing()` says which of the required packages (pesq, pystoi) to install; DNSMOS is optional.
DNSMOS scores 9.01 s of audio: a shorter clip is looped to that length (as speechmos loops it)
and scored as one segment (speechmos would also average the later, repeated, segments).
"""
from __future__ import annotations

import numpy as np

__all__ = ["METRICS", "si_sdr", "dnsmos", "score", "missing"]

METRICS = ("pesq", "stoi", "si_sdr", "dnsmos")


def si_sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """10 log10(|a s|^2 / |a s - e|^2) with a = <e, s> / |s|^2, both signals zero-mean."""
    s = np.asarray(reference, np.float64) - np.mean(reference)
    e = np.asarray(estimate, np.float64) - np.mean(estimate)
    target = (np.dot(e, s) / max(np.dot(s, s), 1e-20)) * s
    return float(10 * np.log10(max(np.dot(target, target), 1e-20) / max(np.dot(e - target, e - target), 1e-20)))


def dnsmos(estimate: np.ndarray, rate: int) -> float:
    """DNSMOS P.835 OVRL of `estimate` (floats, clipped to [-1, 1] as a DAC would), NaN without speechmos
    or at a rate other than its 16 kHz."""
    try:
        from speechmos import dnsmos as model
    except ImportError:
        return float("nan")
    if rate != model.SR:
        return float("nan")
    x = np.resize(np.clip(np.asarray(estimate, np.float32), -1.0, 1.0), int(model.INPUT_LENGTH * rate))
    return float(model.run(x, rate)["ovrl_mos"])


def missing() -> list[str]:
    """Packages the metrics need that are not installed."""
    out = []
    for module, package in (("pesq", "pesq"), ("pystoi", "pystoi")):
        try:
            __import__(module)
        except ImportError:
            out.append(package)
    return out


def score(reference: np.ndarray, estimate: np.ndarray, rate: int) -> dict[str, float]:
    """Every metric of `estimate` against `reference` (NaN where it cannot be computed)."""
    n = min(len(reference), len(estimate))
    ref, est = np.asarray(reference[:n], np.float64), np.asarray(estimate[:n], np.float64)
    out = {"si_sdr": si_sdr(ref, est), "pesq": float("nan"), "stoi": float("nan"), "dnsmos": dnsmos(est, rate)}
    try:
        from pesq import PesqError, pesq
    except ImportError:
        pesq = None
    if pesq is not None:
        try:
            out["pesq"] = float(pesq(rate, ref, est, "wb"))
        except PesqError:           # a silent or too short clip: no utterance to score
            pass
    try:
        from pystoi import stoi
        out["stoi"] = float(stoi(ref, est, rate, extended=False))
    except ImportError:
        pass
    return out
