"""Where trials run. The loop hands an executor (trial, function, config) and collects
outcomes; it never cares whether they ran here, in a thread, or on another machine."""

from bo_hpo.executors.base import Executor, Outcome, WorkerLost
from bo_hpo.executors.local import SequentialExecutor, ThreadExecutor

__all__ = ["Executor", "Outcome", "ProcessExecutor", "RayExecutor", "SequentialExecutor",
           "ThreadExecutor", "WorkerLost"]


def __getattr__(name: str):  # the process and Ray executors load on first use
    if name == "ProcessExecutor":
        from bo_hpo.executors.process import ProcessExecutor

        return ProcessExecutor
    if name == "RayExecutor":
        from bo_hpo.executors.ray import RayExecutor

        return RayExecutor
    raise AttributeError(name)
