"""Where trials run. The loop hands an executor (trial, function, config) and collects
outcomes; it never cares whether they ran here, in a thread, or on another machine."""

from bo_hpo.executors.base import Executor, Outcome
from bo_hpo.executors.local import SequentialExecutor

__all__ = ["Executor", "Outcome", "SequentialExecutor"]
