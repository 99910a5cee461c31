"""Where independent work runs: in this process, or on a Dask cluster (`dask.distributed`).

A sweep's points (and any other list of independent, picklable tasks) go through `run_tasks`:

- no scheduler and one job: in this process, one after the other (nothing to start);
- no scheduler and several jobs: a `LocalCluster` of that many single-threaded worker processes,
  started for the run and closed after it: what a user on one machine gets by default;
- `scheduler="tcp://host:8786"`: the workers of an existing Dask cluster (`dask scheduler` and
  `dask worker` on other machines). Tasks and their results travel pickled; a file a task names
  (a model file with `--use-cli`, `--keep-programs`'s folder) must be reachable from the workers.

Shared read-only data (the quantised network of a sweep) is handed to `run_tasks` once as
`shared`: it is broadcast to every worker once, not shipped with each task.
"""
from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator

from ..arch.errors import NpuError

__all__ = ["run_tasks", "SchedulerError"]

#: Seconds to wait for an existing scheduler before giving up with a one-line error.
CONNECT_TIMEOUT_S = 10


class SchedulerError(NpuError):
    """The Dask scheduler named cannot be reached."""


def run_tasks(fn: Callable, tasks: list, *, jobs: int = 1, scheduler: str | None = None,
              shared=None) -> Iterator[tuple[int, object]]:
    """Run fn(task, shared) for every task; yields (task index, result) as results arrive (in
    completion order on a cluster). An exception in a task propagates."""
    if not tasks:
        return
    if scheduler is None and (jobs <= 1 or len(tasks) <= 1):
        for i, t in enumerate(tasks):
            yield i, fn(t, shared)
        return
    with _client(jobs=min(jobs, len(tasks)), scheduler=scheduler) as client:
        from distributed import as_completed

        data = client.scatter(shared, broadcast=True, hash=False) if shared is not None else None
        futures = {client.submit(fn, t, data, pure=False): i for i, t in enumerate(tasks)}
        for fut in as_completed(futures):
            yield futures[fut], fut.result()


@contextlib.contextmanager
def _client(*, jobs: int, scheduler: str | None):
    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError) as exc:
            raise SchedulerError(f"--scheduler {scheduler}: cannot reach the Dask scheduler ({exc})") from None
        with client:
            yield client
        return
    # Single-threaded workers: the golden model runs BLAS single-threaded anyway, and one process
    # per core keeps the GIL out of the way. No dashboard (no port to take, no bokeh needed).
    with LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        yield client
