"""Trials as Ray tasks, on a local Ray instance or an existing cluster.

Each trial is one task with ``num_cpus`` / ``num_gpus`` resources (a fraction of a GPU lets
several small trials share one) and ``max_calls=1``, so the worker process exits after its
trial and its CUDA memory is freed. Ray is driven from bo_hpo's own loop (not Ray Tune's
searchers): a task that errors is a failed trial, a worker that dies is ``worker_lost``,
and a task past its timeout is cancelled. ``pip install 'bo-hpo[ray]'``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from bo_hpo.errors import ConfigError
from bo_hpo.executors.base import Outcome, WorkerLost
from bo_hpo.executors.process import check_importable

logger = logging.getLogger(__name__)


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "the Ray executor needs Ray: pip install 'bo-hpo[ray]'"
        ) from None
    return ray


def _run_trial(fn: Callable[[dict[str, Any]], Any], config: dict[str, Any]) -> tuple:
    """Runs inside the Ray worker: returns (value, error, node) so that an objective's own
    exception is a failed trial, not a Ray error."""
    import os
    import socket

    node = f"{socket.gethostname()} (pid {os.getpid()})"
    try:
        return fn(config), None, node
    except BaseException as err:  # noqa: BLE001 - reported to the loop
        try:
            import pickle

            pickle.dumps(err)
        except Exception:
            err = RuntimeError(f"{type(err).__name__}: {err}")
        return None, err, node


class RayExecutor:
    """Runs up to ``workers`` trials at once as Ray tasks.

    Args:
        workers: trials in flight at once (``None``: as many as the cluster's resources
            allow for ``num_cpus``/``num_gpus`` per trial).
        address: ``None`` starts a local Ray instance (or joins the one ``ray.init``
            already made); ``"auto"`` joins an existing cluster from this node;
            ``"ray://host:10001"`` connects through Ray Client.
        num_cpus, num_gpus: resources each trial asks for (``num_gpus=0.5``: two trials a
            GPU).
        init_kwargs: more ``ray.init`` arguments (``num_cpus`` of a local instance, say).
    """

    def __init__(self, workers: int | None = None, *, address: str | None = None,
                 num_cpus: float = 1, num_gpus: float = 0,
                 init_kwargs: Mapping[str, Any] | None = None) -> None:
        ray = _import_ray()
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                    or workers < 1):
            raise ConfigError(f"workers must be a positive integer, got {workers!r}")
        if num_cpus < 0 or num_gpus < 0:
            raise ConfigError(f"num_cpus and num_gpus must be >= 0, got {num_cpus}, {num_gpus}")
        self._started_ray = False
        if not ray.is_initialized():
            kwargs = dict(init_kwargs or {})
            kwargs.setdefault("include_dashboard", False)
            kwargs.setdefault("log_to_driver", False)
            try:
                ray.init(address=address, **kwargs)
            except ConnectionError as err:
                raise ConfigError(f"cannot reach the Ray cluster at {address!r}: {err}") from None
            self._started_ray = True
        if workers is None:
            resources = ray.cluster_resources()
            by_cpu = int(resources.get("CPU", 1) // num_cpus) if num_cpus else 10**6
            by_gpu = int(resources.get("GPU", 0) // num_gpus) if num_gpus else 10**6
            workers = max(1, min(by_cpu, by_gpu))
        self.capacity = workers
        self._remote = ray.remote(num_cpus=num_cpus, num_gpus=num_gpus, max_calls=1,
                                  max_retries=0)(_run_trial)
        self._running: dict[Any, tuple[int, float, float, float | None]] = {}
        self._fn_ref: Any = None
        self._fn: Any = None
        self.num_gpus = num_gpus

    def submit(self, trial: int, fn: Callable[[dict[str, Any]], Any],
               config: Mapping[str, Any], timeout: float | None) -> None:
        ray = _import_ray()
        if self._fn is not fn:
            check_importable(fn, "the Ray executor")
            self._fn, self._fn_ref = fn, ray.put(fn)
        started = time.perf_counter()
        ref = self._remote.remote(self._fn_ref, dict(config))
        self._running[ref] = (trial, started, time.time(),
                              None if timeout is None else started + timeout)

    def in_flight(self) -> int:
        return len(self._running)

    def wait(self) -> list[Outcome]:
        ray = _import_ray()
        if not self._running:
            return []
        while True:
            deadlines = [d for *_, d in self._running.values() if d is not None]
            timeout = None if not deadlines else max(0.0, min(deadlines) - time.perf_counter())
            ready, _ = ray.wait(list(self._running), num_returns=1, timeout=timeout)
            outcomes = [self._collect(ref) for ref in ready]
            now = time.perf_counter()
            for ref, (trial, started, started_at, deadline) in list(self._running.items()):
                if deadline is not None and now >= deadline:
                    logger.warning("trial %d ran past its time limit; cancelling its task",
                                   trial)
                    ray.cancel(ref, force=True)
                    del self._running[ref]
                    outcomes.append(Outcome(trial, timed_out=True, seconds=now - started,
                                            started_at=started_at, worker="ray task"))
            if outcomes:
                return outcomes

    def _collect(self, ref: Any) -> Outcome:
        ray = _import_ray()
        trial, started, started_at, _ = self._running.pop(ref)
        seconds = time.perf_counter() - started
        devices = max(1, int(self.num_gpus)) if self.num_gpus else 1
        try:
            value, error, node = ray.get(ref)
        except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError,
                ray.exceptions.ActorDiedError, ray.exceptions.LocalRayletDiedError,
                ray.exceptions.OutOfMemoryError) as err:
            return Outcome(trial, error=WorkerLost(f"Ray worker lost: {type(err).__name__}"),
                           seconds=seconds, started_at=started_at, worker="ray task",
                           devices=devices)
        except ray.exceptions.RayError as err:
            return Outcome(trial, error=WorkerLost(f"Ray task failed: {err}"[:500]),
                           seconds=seconds, started_at=started_at, worker="ray task",
                           devices=devices)
        return Outcome(trial, value=value, error=error, seconds=seconds,
                       started_at=started_at, worker=f"ray task on {node}", devices=devices)

    def shutdown(self) -> None:
        ray = _import_ray()
        for ref in list(self._running):
            ray.cancel(ref, force=True)
        self._running.clear()
        if self._started_ray:
            ray.shutdown()
            self._started_ray = False
