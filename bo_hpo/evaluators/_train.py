"""What every evaluator's training loop shares: device, seeding, schedules and failure checks.

The loops themselves live in ``mlp.py`` and ``transformer.py`` and read top to bottom; this
module only holds the pieces that would otherwise be written twice. Global torch settings (thread
count, TF32, the RNG state) are changed only inside :func:`training_session` and restored on
exit, so calling an evaluator leaves the caller's process as it found it.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import torch

from bo_hpo.errors import ConfigError, TrialFailed

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: A loss above this multiple of the first step's loss counts as divergence.
DIVERGENCE_FACTOR = 10.0
#: Steps between two divergence checks on CUDA, where each check is a device sync
#: (``.item()``); on CPU, where reading a loss costs nothing, every step is checked.
DIVERGENCE_CHECK_EVERY_CUDA = 50


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``"cuda"`` when a GPU is visible, else ``"cpu"``; or the device asked for.

    Raises:
        ConfigError: a CUDA device was asked for but none is available.
    """
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device={str(device)!r} was asked for, but no CUDA device is available")
    return dev


def cpu_count() -> int:
    """Cores this process may run on (its affinity mask, not the machine's total)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def training_threads() -> int:
    """Intra-op threads for a training run: ``OMP_NUM_THREADS`` when set, else the cores that
    are free right now (at least one).

    OpenMP threads that outnumber free cores spin-wait on one another and run many times
    slower: measured here, the MLP baseline took 118 s instead of about 5 s with its two
    threads on two cores while one other CPU-bound job ran. So before each training run the
    cores' idle time is sampled for a tenth of a second (Linux; elsewhere all cores are
    used). Set ``OMP_NUM_THREADS`` to choose yourself, e.g. cores / workers when several
    trials share a machine.
    """
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    cores = cpu_count()
    free = free_cores()
    if free is None:
        return cores
    return max(1, min(cores, int(free + 0.5)))


def _cpu_times() -> tuple[float, float] | None:
    """(idle, total) jiffies of all cores from /proc/stat, or None off Linux."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = [float(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    if len(fields) < 5:
        return None
    return fields[3] + fields[4], sum(fields[:8])  # idle + iowait; user..steal


def free_cores(sample_seconds: float = 0.1, read: Any = None) -> float | None:
    """How many cores sat idle over a short sample (``None`` when it cannot be measured)."""
    read = read or _cpu_times
    first = read()
    if first is None:
        return None
    time.sleep(sample_seconds)
    second = read()
    if second is None or second[1] <= first[1]:
        return None
    idle_share = (second[0] - first[0]) / (second[1] - first[1])
    return idle_share * (os.cpu_count() or 1)


@contextlib.contextmanager
def training_session(device: torch.device, seed: int) -> Iterator[torch.Generator]:
    """Set up one training run: seeds, threads and (on CUDA) TF32; undo it all on exit.

    Inside, torch's global RNG (dropout, init) is seeded with ``seed`` in a forked RNG state,
    the intra-op thread count equals :func:`training_threads`, and on CUDA TF32 matmuls are allowed.

    Yields:
        A CPU generator seeded with ``seed``, for the batch order.
    """
    fork_devices = [device.index or 0] if device.type == "cuda" else []
    old_threads = torch.get_num_threads()
    old_tf32 = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    with torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(seed)
        threads = training_threads()
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        if device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
            torch.cuda.reset_peak_memory_stats(device)
        try:
            yield torch.Generator().manual_seed(seed)
        finally:
            torch.set_num_threads(old_threads)
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old_tf32


def autocast(device: torch.device) -> contextlib.AbstractContextManager[object]:
    """bf16 autocast on CUDA; nothing on CPU (bf16 matmuls are slower than fp32 on most CPUs)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def synchronize(device: torch.device) -> None:
    """Wait for queued CUDA work, so that a wall-clock reading means something."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_memory_bytes(device: torch.device) -> int:
    """Peak memory of the run so far, in bytes.

    On CUDA: the peak allocated by torch since :func:`training_session` began. On CPU: the
    process's peak resident set size (``ru_maxrss``), an upper bound that includes everything
    the process ever held, not just this run.
    """
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def warmup_cosine(step: int, total_steps: int, warmup_steps: int) -> float:
    """Learning-rate multiplier at ``step`` (0-based): linear warmup, then cosine decay to 0.

    During warmup the multiplier climbs ``1/w, 2/w, ..., 1`` (never 0, so the first step
    moves); afterwards it follows half a cosine from 1 at the end of warmup to 0 at
    ``total_steps``.
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


class Deadline:
    """Raises ``TrialFailed("timeout")`` once ``seconds`` of wall-clock time have passed.

    Checked between steps, so a run overshoots by at most one step. ``None`` never expires.
    """

    def __init__(self, seconds: float | None, what: str) -> None:
        if seconds is not None and not seconds > 0:
            raise ConfigError(f"time_limit must be > 0 seconds or None, got {seconds!r}")
        self.seconds = seconds
        self.what = what
        self.start = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def check(self, step: int) -> None:
        if self.seconds is not None and self.elapsed() > self.seconds:
            raise TrialFailed(
                "timeout",
                f"{self.what} exceeded time_limit={self.seconds:g} s at step {step} "
                f"({self.elapsed():.2f} s elapsed)",
            )


class DivergenceGuard:
    """Raises ``TrialFailed("diverged")`` on a non-finite loss or one above ``factor`` × the first.

    On CUDA reading a loss forces a device sync, so only the first step's loss and every
    ``every``-th loss are read (plus the last, via :meth:`final`); a diverged run is stopped
    within ``every`` steps (NaN weights stay NaN, so nothing is missed for long). On CPU every
    step is checked, since there the read is free.
    """

    def __init__(self, what: str, device: torch.device, factor: float = DIVERGENCE_FACTOR) -> None:
        self.what = what
        self.factor = factor
        self.every = DIVERGENCE_CHECK_EVERY_CUDA if device.type == "cuda" else 1
        self.initial: float | None = None
        self.last: float = math.nan

    def observe(self, step: int, loss: torch.Tensor) -> None:
        """Look at ``loss`` (a scalar tensor) when ``step`` is a checking step."""
        if step == 0 or step % self.every == 0:
            self._check(step, float(loss.detach()))

    def final(self, step: int, loss: torch.Tensor) -> float:
        """Check the last loss and return it as a float."""
        self._check(step, float(loss.detach()))
        return self.last

    def _check(self, step: int, value: float) -> None:
        self.last = value
        if self.initial is None:
            self.initial = value
        if not math.isfinite(value):
            raise TrialFailed("diverged", f"{self.what}: loss is {value} at step {step}")
        if value > self.factor * max(self.initial, 1e-8):
            raise TrialFailed(
                "diverged",
                f"{self.what}: loss {value:.4g} at step {step} exceeds {self.factor:g} x the "
                f"initial loss {self.initial:.4g}",
            )


def free_memory(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def guard_oom(fn: Callable[[], T], *, device: torch.device, what: str) -> T:
    """Call ``fn()``; turn ``torch.OutOfMemoryError`` into ``TrialFailed("out_of_memory")``.

    ``fn`` must own the model, optimizer and batches (create them inside it), so that they
    die with its frame. The ``TrialFailed`` is raised *after* the ``except`` block, unchained:
    a chained traceback would keep that frame, and so the tensors, alive. Memory is then
    collected and the CUDA cache emptied, so that the next trial starts clean.
    """
    detail = None
    try:
        return fn()
    except torch.OutOfMemoryError as err:
        first_line = (str(err).strip().splitlines() or [type(err).__name__])[0]
        detail = f"{what} on {device}: {first_line}"
    free_memory(device)
    logger.warning("trial ran out of memory: %s", detail)
    raise TrialFailed("out_of_memory", detail)


def count_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
