"""The package's exceptions: one base class, one subclass per kind of mistake."""

from __future__ import annotations


class BoHpoError(Exception):
    """Base class of every error bo_hpo raises on purpose."""


class SearchSpaceError(BoHpoError, ValueError):
    """A search-space spec, constraint, condition or baseline breaks a rule."""


class ConfigError(BoHpoError, ValueError):
    """An experiment file, argument or option is malformed or out of range."""


class TuningError(BoHpoError, RuntimeError):
    """The tuning loop cannot go on (too many failed or invalid trials, say)."""


class TrialFailed(BoHpoError):
    """Raised by an objective or evaluator to fail one trial with a short reason.

    The loop records ``reason`` (a short machine-readable tag such as ``"diverged"``,
    ``"out_of_memory"``, ``"timeout"`` or ``"shape"``) and ``detail`` on the trial and goes on.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)
