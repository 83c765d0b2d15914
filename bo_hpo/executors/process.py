"""Trials in worker processes on this machine: one per GPU (each pinned with
``CUDA_VISIBLE_DEVICES``), or a chosen number of CPU workers.

Workers are started with ``spawn`` and live for the whole run, so an evaluator's data is
loaded once per worker (see :class:`EvaluatorObjective`), not shipped with every trial. A
trial past its timeout is stopped for real: its worker is killed and a fresh one started.
A worker that dies (killed, crashed, out of memory at the OS level) fails its trial with
:class:`WorkerLost`; the loop retries the config.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from bo_hpo.errors import ConfigError
from bo_hpo.executors.base import Outcome, WorkerLost

logger = logging.getLogger(__name__)


def check_importable(fn: Callable[..., Any], where: str) -> None:
    """Raise ConfigError unless ``fn`` can be sent to another process (pickled by
    reference: a module-level function or an instance of a module-level class)."""
    try:
        pickle.dumps(fn)
    except Exception as err:  # pickle raises several types for closures and lambdas
        raise ConfigError(
            f"{where} runs the objective in other processes, so it must be importable: a "
            f"function defined at module level (not a lambda, closure or method of a local "
            f"object), or an evaluator named in an experiment file; got {fn!r} "
            f"({type(err).__name__}: {err}). Use the in-process executor for closures."
        ) from None


@dataclass
class _Worker:
    index: int
    process: Any
    conn: Connection
    device: str | None
    trial: int | None = None
    started: float = 0.0
    started_at: float = 0.0
    deadline: float | None = None


def _worker_main(conn: Connection, fn: Callable[[dict[str, Any]], Any]) -> None:
    """A worker's loop: receive (trial, config), run, send back (value, error)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        trial, config = message
        try:
            value, error = fn(config), None
        except BaseException as err:  # noqa: BLE001 - reported to the parent
            value, error = None, err
        try:
            conn.send((trial, value, error))
        except Exception:  # an unpicklable error or value: send what can be sent
            detail = "".join(traceback.format_exception_only(type(error), error)).strip() \
                if error is not None else f"unpicklable return value {value!r:.200}"
            conn.send((trial, None, RuntimeError(detail)))


@dataclass
class ProcessExecutor:
    """Runs trials in ``workers`` spawned processes (``None``: one per visible GPU, else
    ``max(1, cpu_count // 2)``). ``devices``: GPU indices to pin workers to, in turn
    (``None``: every visible GPU; ``[]``: pin none). More workers than GPUs share them:
    ``workers=8`` on 2 GPUs puts four on each, as Ray's fractional ``num_gpus`` would."""

    workers: int | None = None
    devices: list[int] | None = None
    _fn: Any = field(default=None, init=False, repr=False)
    _pool: list[_Worker] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.workers is not None and (isinstance(self.workers, bool)
                                         or not isinstance(self.workers, int)
                                         or self.workers < 1):
            raise ConfigError(f"workers must be a positive integer, got {self.workers!r}")
        if self.devices is None:
            self.devices = _visible_gpus()
        if self.workers is None:
            self.workers = len(self.devices) if self.devices else max(
                1, (os.cpu_count() or 2) // 2)
        self.capacity = self.workers

    # ------------------------------------------------------------------ workers
    def _start(self, index: int) -> _Worker:
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        device = None
        previous = os.environ.get("CUDA_VISIBLE_DEVICES")
        if self.devices:
            device = _physical(self.devices[index % len(self.devices)], previous)
        if device is not None:  # spawn copies the environment at start: pin this worker
            os.environ["CUDA_VISIBLE_DEVICES"] = device
        try:
            process = ctx.Process(target=_worker_main, args=(child, self._fn),
                                  name=f"bo_hpo-worker-{index}", daemon=True)
            process.start()
        finally:
            if device is not None:
                if previous is None:
                    os.environ.pop("CUDA_VISIBLE_DEVICES", None)
                else:
                    os.environ["CUDA_VISIBLE_DEVICES"] = previous
        child.close()
        return _Worker(index, process, parent, device)

    def _ensure_pool(self, fn: Callable[[dict[str, Any]], Any]) -> None:
        if self._fn is None:
            check_importable(fn, "the process executor")
            self._fn = fn
            self._pool = [self._start(i) for i in range(self.capacity)]
        elif fn is not self._fn and pickle.dumps(fn) != pickle.dumps(self._fn):
            raise ConfigError("a ProcessExecutor runs one objective; make another for another")

    def _replace(self, worker: _Worker) -> None:
        try:
            worker.conn.close()
        except OSError:
            pass
        if worker.process.is_alive():
            worker.process.kill()
        worker.process.join(timeout=10)
        self._pool[self._pool.index(worker)] = self._start(worker.index)

    # ------------------------------------------------------------------ contract
    def submit(self, trial: int, fn: Callable[[dict[str, Any]], Any],
               config: Mapping[str, Any], timeout: float | None) -> None:
        self._ensure_pool(fn)
        idle = next((w for w in self._pool if w.trial is None), None)
        if idle is None:
            raise RuntimeError("ProcessExecutor: every worker is busy")
        if not idle.process.is_alive():
            self._replace(idle)
            idle = next(w for w in self._pool if w.index == idle.index)
        idle.trial, idle.started = trial, time.perf_counter()
        idle.started_at = time.time()
        idle.deadline = None if timeout is None else idle.started + timeout
        idle.conn.send((trial, dict(config)))

    def in_flight(self) -> int:
        return sum(w.trial is not None for w in self._pool)

    def worker_of(self, trial: int) -> str | None:
        w = next((w for w in self._pool if w.trial == trial), None)
        if w is None:
            return None
        return f"process {w.index} (pid {w.process.pid}" + (
            f", cuda:{w.device})" if w.device is not None else ", cpu)")

    def wait(self) -> list[Outcome]:
        busy = [w for w in self._pool if w.trial is not None]
        if not busy:
            return []
        while True:
            deadlines = [w.deadline for w in busy if w.deadline is not None]
            timeout = None if not deadlines else max(0.0, min(deadlines) - time.perf_counter())
            ready = wait([w.conn for w in busy] + [w.process.sentinel for w in busy],
                         timeout=timeout)
            now = time.perf_counter()
            outcomes: list[Outcome] = []
            for w in busy:
                outcome = self._poll(w, ready, now)
                if outcome is not None:
                    outcomes.append(outcome)
            if outcomes:
                return outcomes

    def _poll(self, w: _Worker, ready: list[Any], now: float) -> Outcome | None:
        trial, seconds = w.trial, now - w.started
        assert trial is not None
        if w.conn in ready:
            try:
                got, value, error = w.conn.recv()
            except (EOFError, OSError):
                got = None
            if got == trial:
                w.trial = None
                return Outcome(trial, value=value, error=error, seconds=seconds,
                               started_at=w.started_at, worker=self._label(w))
        if w.process.sentinel in ready or not w.process.is_alive():
            code = w.process.exitcode
            label = self._label(w)
            logger.warning("worker %d (pid %s) died with exit code %s running trial %d",
                           w.index, w.process.pid, code, trial)
            self._replace(w)
            hint = ("; if every worker dies like this, the script that calls tune() may lack "
                    "`if __name__ == \"__main__\":` (spawned workers import it)"
                    if code == 1 else "")
            return Outcome(trial, error=WorkerLost(f"{label} died (exit code {code}){hint}"),
                           seconds=seconds, started_at=w.started_at, worker=label)
        if w.deadline is not None and now >= w.deadline:
            label = self._label(w)
            logger.warning("trial %d ran past its time limit; killing %s", trial, label)
            self._replace(w)
            return Outcome(trial, timed_out=True, seconds=seconds, started_at=w.started_at,
                           worker=label)
        return None

    def _label(self, w: _Worker) -> str:
        return f"process {w.index} (pid {w.process.pid}, " + (
            f"cuda:{w.device})" if w.device is not None else "cpu)")

    def shutdown(self) -> None:
        for w in self._pool:
            try:
                w.conn.send(None)
            except OSError:
                pass
        for w in self._pool:
            w.process.join(timeout=2)
            if w.process.is_alive():
                w.process.kill()
                w.process.join(timeout=5)
            try:
                w.conn.close()
            except OSError:
                pass
        self._pool = []
        self._fn = None

    def pids(self) -> list[int]:
        """The workers' process ids (for tests and monitoring)."""
        return [w.process.pid for w in self._pool]


def _physical(index: int, visible: str | None) -> str:
    """GPU ``index`` as this process counts them, named as the child must see it: under
    ``CUDA_VISIBLE_DEVICES=2,3`` index 0 is GPU "2" (pinning the child to "0" would move it
    onto a GPU this process was not given)."""
    ids = [v.strip() for v in (visible or "").split(",") if v.strip()]
    return ids[index] if 0 <= index < len(ids) else str(index)


def _visible_gpus() -> list[int]:
    try:
        import torch

        return list(range(torch.cuda.device_count()))
    except Exception:  # no torch, or no CUDA runtime
        return []


class EvaluatorObjective:
    """An evaluator by name, with its settings, as a picklable objective: each process
    loads the evaluator's data once, on its first trial, and keeps it."""

    _cache: dict[tuple, Any] = {}

    def __init__(self, evaluator: str, *, data_dir: str | None, seed: int,
                 device: str | None, time_limit: float | None) -> None:
        self.evaluator, self.data_dir, self.seed = evaluator, data_dir, seed
        self.device, self.time_limit = device, time_limit

    def _data(self) -> Any:
        from bo_hpo.evaluators import get_evaluator

        key = (self.evaluator, self.data_dir, self.seed)
        if key not in EvaluatorObjective._cache:
            EvaluatorObjective._cache[key] = get_evaluator(self.evaluator).load_data(
                self.data_dir, seed=self.seed)
        return EvaluatorObjective._cache[key]

    def __call__(self, config: dict[str, Any]) -> Any:
        from bo_hpo.evaluators import get_evaluator

        evaluator = get_evaluator(self.evaluator)
        device = self.device
        if device is None and os.environ.get("CUDA_VISIBLE_DEVICES"):
            device = "cuda"  # a worker pinned to one GPU
        return evaluator.evaluate(config, data=self._data(), seed=self.seed, device=device,
                                  time_limit=self.time_limit)
