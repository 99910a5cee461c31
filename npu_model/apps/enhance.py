"""`python -m npu_model enhance in.wav -o out.wav --program prog.bin`: a wav file through the NPU.

    wav -> STFT (host) -> input features (host) -> int8 quantisation (host)
        -> the golden model, frame by frame (NPU) -> int8 masks
        -> dequantisation, mask reconstruction (host) -> inverse STFT (host) -> wav

The host side needs facts the instruction stream does not carry: the STFT framing and the input
features (npu_model.arch.meta.InputSpec), the scale of the int8 input and of each output port, and
which host layer turns the outputs into a spectrum. They come from the program's META section
when the compiler stores them there (keys `input`, `scales`, `host_layer`, see docs/reports.md),
otherwise from the model file (`--model`), re-quantised here exactly as the compiler does; the
first frames are then checked bit for bit against the model's integer reference, so that a
program compiled from another model or quantisation is reported instead of producing noise.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from compiler import FloatModel, IntModel, QuantConfig, load_model, quantise_cached, read_spec
from compiler.cli import add_calibration_arguments, calibration_of
from compiler.quant.calibrate import with_audio

from ..arch.errors import NpuError
from ..arch.files import check_output, write_bytes
from ..arch.isa import DTYPES
from ..arch.meta import HostLayer, InputSpec
from ..arch.program import Program
from ..golden.machine import Npu, Streams
from ..host import HOST_MASKS, HostFeatures, istft, read_wav, stft, write_wav

from .arguments import MAX_FRAMES, bounded
from .metrics import missing, score
from .plots import spectrogram_figure

__all__ = ["HostSide", "add_arguments", "main_enhance", "enhance", "enhance_many", "float_enhance"]



@dataclass
class HostSide:
    """What the host does around the NPU for one compiled model."""
    inp: InputSpec
    input_port: str
    input_scale: float
    output_scales: dict            # port name -> scale (real value = scale * integer)
    mask_op: str                   # the host's mask op (npu_model.host.HOST_MASKS)
    mask_ports: tuple              # the output ports it reads, in its input order
    source: str                    # "META" or the model file
    reference: object = None       # compiler.quant.IntModel to check the program against, if known
    model: object = None           # the compiler.Model it came from, if known (for the float path)
    notes: list = field(default_factory=list)

    @classmethod
    def from_meta(cls, program) -> "HostSide | None":
        """From META's `input`, `scales` (port -> scale) and, if present, `host_layer` (the mask op
        and the outputs it reads); None if META lacks any of them."""
        meta = program.meta
        spec, scales = meta.input, meta.scales
        if spec is None or scales is None:
            return None
        op, ports = _mask_ports(meta.host_layer, [p.name for p in program.outputs])
        if len(program.inputs) != 1 or op is None:
            return None
        port = program.inputs[0].name
        if port not in scales or any(p not in scales for p in ports):
            return None
        return cls(spec, port, float(scales[port]), {k: float(v) for k, v in scales.items()}, op, ports, "META")

    @classmethod
    def from_model(cls, path, program, *, weights_anywhere: bool = False, calibration: tuple = (),
                   calibration_frames: int | None = None, weights=None) -> "HostSide":
        """Re-quantise the model file as the compiler does (its settings; calibrated on the wav files
        `calibration` when the program was compiled with `--calibration`; `weights` instead of the
        file's, as `--weights` gave them to the compiler)."""
        model = load_model(path, weights_anywhere=weights_anywhere, weights=weights)
        quant = with_audio(QuantConfig.from_spec(model.spec), calibration, calibration_frames)
        return cls.from_quantised(model, quantise_cached(model, quant), program, str(path))

    @classmethod
    def from_quantised(cls, model, qnet, program, path: str) -> "HostSide":
        """From the model and its quantised network, which `program` was compiled from."""
        hosts = [fl for fl in qnet.host_layers if fl.op in HOST_MASKS]
        if not hosts:
            raise NpuError(f"{path}: the model has no host mask layer ({', '.join(HOST_MASKS)}): enhance cannot "
                           "turn its outputs into a spectrum")
        ports = tuple(hosts[0].inputs)
        have = {p.name for p in program.outputs}
        for name in ports:
            if name not in have:
                raise NpuError(f"{path}: the program has no output port {name!r} (it has "
                               f"{', '.join(sorted(have)) or 'none'}): was it compiled from this model?")
        if len(program.inputs) != 1:
            raise NpuError(f"the program has {len(program.inputs)} input ports; enhance needs exactly one")
        port = program.inputs[0]
        if tuple(port.shape) != tuple(qnet.input.shape):
            raise NpuError(f"{path}: the model's input is {qnet.input.shape}, the program's input port "
                           f"{port.name!r} is {port.shape}: was it compiled from this model?")
        scales = {name: float(qnet.tensors[name].scale) for name in qnet.outputs if name in qnet.tensors}
        return cls(model.spec.input, port.name, float(qnet.input.scale), scales, hosts[0].op, ports, path,
                   reference=IntModel(qnet), model=model)


def _mask_ports(host_layer: HostLayer | None, outputs):
    """(mask op, its output ports) from META's host_layer; without one, a program whose outputs
    are named like a magnitude and a phase mask is taken as MEA's (mask_reconstruct)."""
    if host_layer is not None and host_layer.op in HOST_MASKS:
        ins = tuple(host_layer.inputs)
        if len(ins) == len(HOST_MASKS[host_layer.op][1]) and all(i in outputs for i in ins):
            return host_layer.op, ins
    mags = [o for o in outputs if "mag" in o]
    phases = [o for o in outputs if "phase" in o]
    if len(mags) == 1 and len(phases) == 1:
        return "mask_reconstruct", (mags[0], phases[0])
    return None, ()


def enhance(program, host: HostSide, x: np.ndarray, *, check_frames: int = 3, progress: bool = False):
    """Enhance the float signal x; returns (y, info dict)."""
    return enhance_many(program, host, [x], check_frames=check_frames, progress=progress)[0]


def enhance_many(program, host: HostSide, xs: list, *, check_frames: int = 3, progress: bool = False) -> list:
    """Enhance several float signals at once; returns [(y, info dict)] in their order.

    Their frames run through the golden model in lockstep, one stream per signal
    (`machine.Streams`: every batch of instructions computes all of them in one go); a signal
    that ends early is fed zero frames whose outputs are dropped (state only flows forward)."""
    inp = host.inp
    port = next(p for p in program.inputs if p.name == host.input_port)
    dtype = DTYPES[port.dtype]
    prepared = []
    for x in xs:
        spec, pad = stft(x, inp.fft_size, inp.hop, inp.bins, win=inp.window)
        feats, _ = HostFeatures(inp)(spec)
        xq = np.clip(np.round(feats / host.input_scale), dtype.min, dtype.max).astype(dtype.numpy)
        if xq[0].size != port.elements:
            raise NpuError(f"host features give {xq[0].shape} per frame, the program's input port {port.name!r} "
                           f"holds {port.shape}")
        prepared.append((spec, pad, xq))
    npu = Npu(program)
    streams = Streams(npu, len(xs))
    lengths = [len(xq) for _, _, xq in prepared]
    frames = max(lengths)
    outs = [{name: [] for name in host.mask_ports} for _ in xs]
    idle = np.zeros(port.shape, dtype.numpy)
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=frames, desc="enhance", unit="frame", leave=False, disable=None)  # off if not a terminal
    t0 = time.perf_counter()
    for t in range(frames):
        r = streams.run_frame({port.name: np.stack([xq[t].reshape(port.shape) if t < len(xq) else idle
                                                    for _, _, xq in prepared])})
        for k, out in enumerate(outs):
            if t < lengths[k]:
                for name in out:
                    out[name].append(r[name][k])
        if bar is not None:
            bar.update(1)
    sim = time.perf_counter() - t0
    if bar is not None:
        bar.close()
    return [_reconstruct(program, host, x, spec, pad, xq, out, npu.stats, sim / len(xs), check_frames)
            for x, (spec, pad, xq), out in zip(xs, prepared, outs)]


def _reconstruct(program, host, x, spec, pad, xq, outs, stats, sim, check_frames):
    """One signal's masks back to a waveform, after checking its first frames against the integer
    reference (when the host side has one)."""
    inp = host.inp
    frames = len(xq)
    ints = {name: np.stack(v) for name, v in outs.items()}          # (T, C, F) per port
    if host.reference is not None and check_frames:
        k = min(check_frames, frames)
        ref, _ = host.reference.run(xq[:k].astype(np.int64))
        for name, got in ints.items():
            want = np.asarray(ref[name]).reshape(k, -1)
            if not np.array_equal(want, got[:k].reshape(k, -1).astype(np.int64)):
                f = int(np.flatnonzero((want != got[:k].reshape(k, -1)).any(axis=1))[0])
                raise NpuError(f"output {name!r} differs from the model's integer reference at frame {f}: the "
                               f"program was not compiled from {host.source} with the current quantisation "
                               "(recompile it)")
    masks = [(ints[name].astype(np.float64) * host.output_scales[name]).reshape(frames, -1, inp.bins)
             for name in host.mask_ports]
    s = HOST_MASKS[host.mask_op][0](spec, *masks)
    y = istft(s[:, 0] + 1j * s[:, 1], inp.fft_size, inp.hop, len(x), pad, win=inp.window)
    info = {"frames": frames, "seconds": len(x) / inp.sample_rate, "sim_s": sim, "cycles": stats.cycles,
            "clock_mhz": program.config.clock_mhz,
            "npu_s_at_clock": frames * stats.cycles / (program.config.clock_mhz * 1e6),
            "checked_frames": min(check_frames, frames) if host.reference is not None else 0}
    return y, info


def float_enhance(model, x: np.ndarray, float_model=None) -> np.ndarray:
    """`x` through the float model (compiler.FloatModel) and the same host pipeline as the NPU:
    what the network computes, to compare the NPU's output with."""
    inp = model.spec.input
    spec, pad = stft(x, inp.fft_size, inp.hop, inp.bins, win=inp.window)
    host = next(layer for layer in model.layers if layer.host and layer.op in HOST_MASKS)
    s = (float_model or FloatModel(model)).run(spec)[0][host.output]
    return istft(s[:, 0] + 1j * s[:, 1], inp.fft_size, inp.hop, len(x), pad, win=inp.window)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="mono PCM wav file at the model's sample rate")
    p.add_argument("-o", "--output", required=True, metavar="WAV", help="enhanced 16-bit mono wav to write")
    p.add_argument("--program", required=True, metavar="PROG", help="compiled program (python -m compiler ... -o)")
    p.add_argument("--model", metavar="YAML", help="the model the program was compiled from (needed when the "
                                                   "program's META does not describe the host side)")
    p.add_argument("--check-frames", type=bounded(int, 0, MAX_FRAMES), default=3, metavar="N",
                   help="with --model: compare the first N frames with the integer reference (default 3, 0: off)")
    p.add_argument("--weights", metavar="NPZ", help="with --model: the weights the program was compiled with "
                                                   "(python -m compiler --weights)")
    p.add_argument("--weights-anywhere", action="store_true",
                   help="with --model: let it read its weights .npz from outside its own folder")
    add_calibration_arguments(p, what="with --model, as the program was compiled (python -m compiler "
                                       "--calibration): ")
    p.add_argument("--clean", metavar="WAV", help="the clean speech of the input: print PESQ, STOI and SI-SDR of the "
                                                  "noisy input, the NPU's output and (with --model) the float model's")
    p.add_argument("--figure", metavar="PNG", help="write spectrograms of the input, the NPU's output and (with "
                                                   "--model) the float model's")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar (there is none anyway when the output is not a terminal)")


def main_enhance(args) -> int:
    check_output(args.output)
    program = Program.load(args.program)
    if args.weights and not args.model:
        raise NpuError("--weights applies with --model (re-quantising it)")
    if (args.calibration or args.calibration_frames) and not args.model:
        raise NpuError("--calibration and --calibration-frames apply with --model (re-quantising it)")
    calibration, calibration_frames = calibration_of(args)
    host = None if args.model else HostSide.from_meta(program)
    if host is None:
        if not args.model:
            raise NpuError(f"{args.program}: its META does not describe the host side (STFT, scales); "
                           "give the model it was compiled from with --model")
        if not Path(args.model).is_file():
            raise NpuError(f"{args.model}: no such model file")
        # Check the audio before the (slow) re-quantisation.
        spec_rate = read_spec(args.model).input.sample_rate
        read_wav(args.input, sample_rate=spec_rate)
        host = HostSide.from_model(args.model, program, weights_anywhere=args.weights_anywhere,
                                   calibration=calibration, calibration_frames=calibration_frames,
                                   weights=args.weights)
    if args.check_frames < 0:
        raise NpuError(f"--check-frames must be at least 0, not {args.check_frames}")
    x, rate = read_wav(args.input, sample_rate=host.inp.sample_rate)
    clean = read_wav(args.clean, sample_rate=rate)[0] if args.clean else None
    if clean is not None:
        if len(clean) != len(x):
            raise NpuError(f"{args.clean}: {len(clean)} samples, the input has {len(x)}")
        need = missing()
        if need:
            raise NpuError(f"--clean: the metrics need {', '.join(need)} (pip install {' '.join(need)})")
    if args.figure:
        check_output(args.figure)
    y, info = enhance(program, host, x, check_frames=args.check_frames, progress=not args.no_progress)
    write_wav(args.output, y, rate)
    signals = {"noisy input": x}
    if host.model is not None and (args.clean or args.figure):
        signals["float model"] = float_enhance(host.model, x)
    signals["NPU (golden model)"] = y
    # Real-time factor as in docs/reports.md: frame compute time at the clock / frame hop time.
    rt = (info["cycles"] / (info["clock_mhz"] * 1e6)) / (host.inp.hop / host.inp.sample_rate)
    print(f"{args.output}: {info['seconds']:.2f} s of audio, {info['frames']} frames through the golden model in "
          f"{info['sim_s']:.1f} s ({1e3 * info['sim_s'] / max(info['frames'], 1):.1f} ms/frame); on the NPU at "
          f"{info['clock_mhz']:g} MHz: {info['cycles']:,} cycles/frame, real-time factor {rt:.2f}"
          + (f"; first {info['checked_frames']} frame(s) match the integer reference" if info["checked_frames"] else ""))
    if clean is not None:
        print(f"{'against ' + Path(args.clean).name:<28} {'PESQ':>6} {'STOI':>6} {'SI-SDR':>8}")
        for name, s in signals.items():
            m = score(clean, s, rate)
            print(f"{name:<28} {m['pesq']:6.3f} {m['stoi']:6.3f} {m['si_sdr']:6.2f} dB")
    if args.figure:
        write_bytes(args.figure, spectrogram_figure(signals, rate, f"{Path(args.input).name} through "
                                                                   f"{Path(args.program).name}"))
        print(f"wrote {args.figure}")
    return 0
