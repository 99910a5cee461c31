"""`python -m training MODEL.yaml -o WEIGHTS.npz`: train a model file's network on synthetic speech.

The network is built from the same model file the compiler reads (training/net.py), so what is
trained is what is compiled. The data is the evaluation set's generator with other sentences:
Harvard sentences of lists 2 to 5 (the evaluation set speaks the first twelve of lists 1 and 2,
so no sentence is shared), spoken by the same six espeak-ng voices at random rates and pitches,
mixed on the fly with the six generated noises at -5 to 20 dB SNR and a random level (the peak
between -26 and -1 dBFS), cut into random crops. Everything follows from `--seed`.

Loss: the power-law compressed spectral loss (Braun and Tashev, "A consolidated view of loss
functions for supervised deep learning-based speech enhancement", TSP 2021; exponent 0.3):
0.7 x the MSE of the compressed magnitudes plus 0.3 x the MSE of the compressed complex spectra,
between the network's enhanced STFT (its host mask op applied in torch) and the clean STFT.
Adam, learning rate 1e-3 with cosine decay to 1e-5, gradients clipped at norm 5, CPU, float32.
The weights are written as the model format's `.npz` (float32), with a JSON record of the run
beside them (`WEIGHTS.train.json`: command, seed, steps, wall time, final loss).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

__all__ = ["TRAIN_SENTENCES", "initial_model", "train", "main"]

#: Harvard sentences (IEEE 1969), lists 2 to 5 without the two the evaluation set speaks.
TRAIN_SENTENCES = (
    "The source of the huge river is the clear spring.", "Kick the ball straight and follow through.",
    "Help the woman get back to her feet.", "A pot of tea helps to pass the evening.",
    "Smoky fires lack flame and heat.", "The soft cushion broke the man's fall.",
    "The salt breeze came across from the sea.", "The girl at the booth sold fifty bonds.",
    "The small pup gnawed a hole in the sock.", "The fish twisted and turned on the bent hook.",
    "Press the pants and sew a button on the vest.", "The swan dive was far short of perfect.",
    "The beauty of the view stunned the young boy.", "Two blue fish swam in the tank.",
    "Her purse was full of useless trash.", "The colt reared and threw the tall rider.",
    "It snowed, rained, and hailed the same morning.", "Read verse out loud for pleasure.",
    "Hoist the load to your left shoulder.", "Take the winding path to reach the lake.",
    "Note closely the size of the gas tank.", "Wipe the grease off his dirty face.",
    "Mend the coat before you go out.", "The wrist was badly strained and hung limp.",
    "The stray cat gave birth to kittens.", "The young girl gave no clear response.",
    "The meal was cooked before the bell rang.", "What joy there is in living.",
    "A king ruled the state in the early days.", "The ship was torn apart on the sharp reef.",
    "Sickness kept him home the third week.", "The wide road shimmered in the hot sun.",
    "The lazy cow lay in the cool grass.", "Lift the square stone over the fence.",
    "The rope will bind the seven books at once.", "Hop over the fence and plunge in.",
    "The friendly gang left the drug store.", "Mesh wire keeps chicks inside.",
)
_COMPRESS = 0.3


def _speech(rate: int, rng: np.random.Generator, repeats: int) -> list[np.ndarray]:
    from npu_model.apps.speech import VOICES, synthesize_all
    requests = [(s, VOICES[(i + k) % len(VOICES)], int(rng.integers(140, 181)), int(rng.integers(35, 66)))
                for k in range(repeats) for i, s in enumerate(TRAIN_SENTENCES)]
    return synthesize_all(requests, sample_rate=rate)


class _Batches:
    """Random noisy/clean crops -> (features, noisy STFT, clean STFT) as torch tensors."""

    def __init__(self, model, speech, rng, seconds: float):
        from npu_model.host import HostFeatures
        self.inp = model.spec.input
        self.features = HostFeatures(self.inp)
        self.speech, self.rng = speech, rng
        self.n = int(seconds * self.inp.sample_rate)

    def clip(self):
        from npu_model.apps.noises import NOISES, make_noise, mix_at_snr
        from npu_model.host import stft
        rng, inp = self.rng, self.inp
        s = self.speech[int(rng.integers(len(self.speech)))]
        s = np.pad(s, (0, max(0, self.n - len(s))))
        start = int(rng.integers(len(s) - self.n + 1))
        s = s[start:start + self.n]
        kind = NOISES[int(rng.integers(len(NOISES)))]
        noisy = mix_at_snr(s, make_noise(kind, self.n, inp.sample_rate, rng, self.speech), rng.uniform(-5, 20))
        gain = 10 ** (rng.uniform(-26, -1) / 20) / max(np.abs(noisy).max(), 1e-9)
        x, _ = stft(noisy * gain, inp.fft_size, inp.hop, inp.bins, win=inp.window)
        y, _ = stft(s * gain, inp.fft_size, inp.hop, inp.bins, win=inp.window)
        return self.features(x)[0], x, y

    def __call__(self, size: int):
        import torch
        clips = [self.clip() for _ in range(size)]
        f = torch.as_tensor(np.stack([c[0] for c in clips]), dtype=torch.float32)
        x = np.stack([c[1] for c in clips])
        y = np.stack([c[2] for c in clips])
        t = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731
        return f, t(x.real), t(x.imag), t(y.real), t(y.imag)


def compressed_loss(sr, si, yr, yi):
    """0.7 MSE(|S|^c, |Y|^c) + 0.3 MSE(S^c, Y^c), S^c = |S|^c e^{j angle S}."""
    import torch
    ms = torch.sqrt(sr ** 2 + si ** 2 + 1e-12)
    my = torch.sqrt(yr ** 2 + yi ** 2 + 1e-12)
    cs, cy = ms ** _COMPRESS, my ** _COMPRESS
    mag = torch.mean((cs - cy) ** 2)
    cplx = torch.mean((cs * sr / ms - cy * yr / my) ** 2 + (cs * si / ms - cy * yi / my) ** 2)
    return 0.7 * mag + 0.3 * cplx


def train(model, *, seed: int, steps: int, batch: int, seconds: float, minutes: float | None, log=print,
          speech: list | None = None, stop_after: int | None = None):
    """Train `model`'s network from its file's weights -> (TorchNet in eval mode, a record of the run).
    `speech`: clean utterances to train on (default: the synthetic training sentences). The learning
    rate follows a cosine over `steps`; `minutes` or `stop_after` may end the run before."""
    import torch
    from .net import TorchNet, apply_mask
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = TorchNet(model)
    net.load_arrays(model.weights)          # the file's initialisation (random: He-normal, seeded)
    host = net.host[0]
    if speech is None:
        log(f"synthesising {len(TRAIN_SENTENCES) * 4} utterances ...")
        speech = _speech(model.spec.input.sample_rate, rng, 4)
    batches = _Batches(model, speech, rng, seconds)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps, eta_min=1e-5)
    start, losses, done = time.time(), [], 0
    for step in range(steps):
        f, xr, xi, yr, yi = batches(batch)
        outs = net(f)
        sr, si = apply_mask(host.op, [outs[i] for i in host.inputs], xr, xi)
        loss = compressed_loss(sr, si, yr, yi)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        done = step + 1
        if done % 50 == 0 or done == steps or done == 1:
            log(f"step {done}/{steps}  loss {np.mean(losses[-50:]):.5f}  {time.time() - start:.0f} s")
        if minutes is not None and time.time() - start > 60 * minutes:
            log(f"stopped at the time budget ({minutes} min) after {done} steps")
            break
        if done == stop_after:
            log(f"stopped after {done} steps (--stop-after)")
            break
    net.eval()
    return net, {"steps": done, "final_loss": float(np.mean(losses[-50:])), "seconds": round(time.time() - start)}


def initial_model(path, init_seed: int | None = None, bn_shift: float = 0.0):
    """The model file at `path` with the weights training starts from: its own `weights:` section,
    or with `init_seed` the model format's seeded random ones (`{init: random, seed, bn_shift}`)."""
    from compiler import build_model, load_model, parse_model
    if init_seed is None:
        return load_model(path)
    init = {"init": "random", "seed": init_seed, "bn_shift": bn_shift}
    return build_model(dataclasses.replace(parse_model(path), weights=init))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m training", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("model", help="model file (YAML); its `weights:` section is the initialisation")
    p.add_argument("-o", "--output", required=True, metavar="WEIGHTS.npz", help="the trained weights")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=3000, help="optimiser steps (default 3000)")
    p.add_argument("--batch", type=int, default=8, help="clips per step (default 8)")
    p.add_argument("--seconds", type=float, default=2.0, help="length of a training crop (default 2 s)")
    p.add_argument("--minutes", type=float, help="stop after this wall time (the steps still set the schedule)")
    p.add_argument("--stop-after", type=int, metavar="N",
                   help="stop after N steps, the schedule still set by --steps: repeats a run that --minutes cut "
                        "short (its record's `steps`) on any machine")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    p.add_argument("--init-seed", type=int, metavar="SEED",
                   help="start from the model format's seeded random weights ({init: random, seed: SEED, bn_shift: "
                        "--bn-shift}) instead of the file's `weights:` section (which may name trained ones)")
    p.add_argument("--bn-shift", type=float, default=0.0, help="with --init-seed: the batch-norm shifts' mean")
    args = p.parse_args(argv)
    try:
        import torch
    except ImportError:
        print("python -m training: needs PyTorch (pip install '.[train]')", file=sys.stderr)
        return 2
    from compiler import save_npz
    from compiler.errors import ModelError
    from npu_model.arch.files import write_text
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        model = initial_model(args.model, args.init_seed, args.bn_shift)
        net, record = train(model, seed=args.seed, steps=args.steps, batch=args.batch, seconds=args.seconds,
                            minutes=args.minutes, stop_after=args.stop_after)
    except ModelError as exc:
        print(f"python -m training: {exc}", file=sys.stderr)
        return 2
    out = Path(args.output)
    save_npz(net.state_arrays(), out)
    record.update(command="python -m training " + " ".join(argv if argv is not None else sys.argv[1:]),
                  seed=args.seed, batch=args.batch, crop_seconds=args.seconds, torch=torch.__version__,
                  parameters=int(sum(p.numel() for p in net.parameters())))
    write_text(out.with_suffix(".train.json"), json.dumps(record, indent=1) + "\n")
    print(f"wrote {out} and {out.with_suffix('.train.json')} ({record['steps']} steps, {record['seconds']} s, "
          f"loss {record['final_loss']:.5f})")
    return 0
