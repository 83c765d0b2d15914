"""Progress inside a trial: an objective (or an evaluator's training loop) calls
``bo_hpo.report_step(step, value)``; whoever runs it decides what happens with it.

With a store the value goes to the trial's intermediate values (a learning curve), and the
command line shows it so that a long trial or the final retraining is not minutes of
silence. Outside ``tune`` a report goes nowhere, so evaluators stay usable on their own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar

Reporter = Callable[[int, float, "int | None"], None]

_REPORTER: ContextVar[Reporter | None] = ContextVar("bo_hpo_reporter", default=None)


def report(step: int, value: float, total: int | None = None) -> None:
    """Report an intermediate value (a training loss, a validation score) at ``step`` of
    ``total`` of the running trial. Cheap when nobody listens."""
    reporter = _REPORTER.get()
    if reporter is not None:
        reporter(int(step), float(value), total)


def current() -> Reporter | None:
    return _REPORTER.get()


@contextlib.contextmanager
def reporting(reporter: Reporter | None) -> Iterator[None]:
    """Send reports made inside the block (in this thread) to ``reporter``."""
    token = _REPORTER.set(reporter)
    try:
        yield
    finally:
        _REPORTER.reset(token)
