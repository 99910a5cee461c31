"""Run fuzz cases in child processes and classify what each one did.

The default runner forks a parent that has already imported the tools, so a case costs the
command's own work, not an interpreter start (a few milliseconds instead of about a second); the
child runs the same entry point `python -m compiler` / `python -m npu_model` runs, with the same
exit-code and traceback behaviour as the interpreter's. `spawn=True` starts a fresh interpreter
per case instead (slower; proves the fork changes nothing). Each child gets a wall-clock limit
(SIGALRM, then SIGKILL from the parent) and an address-space limit, so a case that allocates
what its file declares fails there with MemoryError (a crash) instead of taking the machine.
"""
from __future__ import annotations

import importlib
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from .case import Case, Expect, Outcome

__all__ = ["Result", "run_cases", "classify", "REFUSAL_CODES"]

#: Exit codes of a proper refusal: 2 bad input, 3 NPU fault, 4 does not fit (compiler).
REFUSAL_CODES = (2, 3, 4)
#: Address space a case may add to the parent's (bytes).
MEMORY_HEADROOM = 3 << 30
_STDOUT, _STDERR = ".fuzz.stdout", ".fuzz.stderr"


@dataclass
class Result:
    case: Case
    outcome: Outcome
    code: int | None
    stderr: str
    seconds: float
    left: list                    # files a failed run left behind


#: `python -m NAME` -> the module whose `main(argv)` it runs.
ENTRY_MODULES = {"compiler": "compiler.cli", "npu_model": "npu_model.apps.cli"}


def _entry(command: str):
    return importlib.import_module(ENTRY_MODULES.get(command, command)).main


def _files(folder: Path) -> set:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")
            if p.is_file() and not p.name.startswith(".fuzz.")}


def _child(case: Case, folder: Path, timeout: float) -> None:
    """In the forked child: redirect, limit, run the entry point, exit as the interpreter would."""
    code = 1
    try:
        os.chdir(folder)
        for fd, name in ((1, _STDOUT), (2, _STDERR)):
            f = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(f, fd)
            os.close(f)
        sys.stdout = open(1, "w", closefd=False)
        sys.stderr = open(2, "w", closefd=False)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        signal.alarm(max(1, int(timeout)))
        soft = _address_space() + MEMORY_HEADROOM
        resource.setrlimit(resource.RLIMIT_AS, (soft, resource.RLIM_INFINITY))
        sys.argv = [f"python -m {case.command}", *map(str, case.argv)]
        try:
            result = _entry(case.command)(list(map(str, case.argv)))
            code = result if isinstance(result, int) else (0 if result is None else 1)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:
            traceback.print_exc()
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


def _address_space() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * resource.getpagesize()


def classify(case: Case, code: int | None, stderr: str, left: list, hung: bool) -> Outcome:
    if hung:
        return Outcome.HANG
    lines = [l for l in stderr.splitlines() if l.strip()]
    if code == 0:
        if "Traceback" in stderr:
            return Outcome.CRASH
        return Outcome.SILENT if case.expect is Expect.BAD else Outcome.ACCEPTED
    if lines and lines[0].startswith("usage:") and lines[-1].split(": ", 1)[-1].startswith("error:"):
        lines = lines[-1:]                         # argparse: its usage block, then one error line
    if code in REFUSAL_CODES and len(lines) == 1 and "Traceback" not in stderr:
        return Outcome.PARTIAL if left else Outcome.REFUSED
    return Outcome.CRASH


def _prepare(case: Case, root: Path, index: int) -> tuple[Path, set]:
    folder = root / f"case{index:05d}"
    folder.mkdir()
    for name, data in case.files.items():
        path = folder / name
        if data is None:                       # a folder (e.g. an output path that is a directory)
            path.mkdir(parents=True, exist_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return folder, _files(folder)


def _finish(case, folder, before, code, hung, seconds) -> Result:
    stderr = (folder / _STDERR).read_text(errors="replace") if (folder / _STDERR).exists() else ""
    left = sorted(_files(folder) - before) if code != 0 else []
    left += [p.name for p in folder.rglob(".*.tmp")]
    return Result(case, classify(case, code, stderr, left, hung), code, stderr, seconds, left)


def _spawn(case: Case, folder: Path, timeout: float) -> tuple[int | None, bool]:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    with open(folder / _STDOUT, "wb") as out, open(folder / _STDERR, "wb") as err:
        try:
            proc = subprocess.run([sys.executable, "-m", case.command, *map(str, case.argv)], cwd=folder,
                                  stdout=out, stderr=err, timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            return None, True
    return proc.returncode, False


def run_cases(cases, *, jobs: int = 2, timeout: float = 20.0, spawn: bool = False, keep=None,
              progress=None) -> list[Result]:
    """Run every case (at most `jobs` at a time); `keep`: a folder to keep the case folders in."""
    for command in {case.command for case in cases}:
        _entry(command)                               # imported once here, not in every child
    root = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="npu-fuzz-"))
    root.mkdir(parents=True, exist_ok=True)
    results = [None] * len(cases)
    try:
        if spawn:
            for i, case in enumerate(cases):
                folder, before = _prepare(case, root, i)
                t0 = time.perf_counter()
                code, hung = _spawn(case, folder, timeout)
                results[i] = _finish(case, folder, before, code, hung, time.perf_counter() - t0)
                progress and progress(results[i])
            return results
        running = {}                                  # pid -> (index, folder, before, start)
        pending = list(enumerate(cases))[::-1]
        while pending or running:
            while pending and len(running) < jobs:
                i, case = pending.pop()
                folder, before = _prepare(case, root, i)
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:
                    _child(case, folder, timeout)
                running[pid] = (i, folder, before, time.perf_counter())
            pid, status = _wait(running, timeout)
            i, folder, before, start = running.pop(pid)
            hung = os.WIFSIGNALED(status) and os.WTERMSIG(status) in (signal.SIGALRM, signal.SIGKILL) and \
                time.perf_counter() - start >= timeout * 0.9
            code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
            results[i] = _finish(cases[i], folder, before, code, hung, time.perf_counter() - start)
            progress and progress(results[i])
        return results
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


def _wait(running: dict, timeout: float):
    """Reap the next child; kill one that outlived its alarm (it may have blocked SIGALRM)."""
    while True:
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid:
            return pid, status
        now = time.perf_counter()
        for other, (_, _, _, start) in running.items():
            if now - start > timeout + 5:
                os.kill(other, signal.SIGKILL)
        time.sleep(0.002)
