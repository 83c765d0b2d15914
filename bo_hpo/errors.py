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
        self.reason = str(reason)  # stored and shown as text, whatever was given
        self.detail = str(detail)
        super().__init__(f"{self.reason}: {self.detail}" if detail else self.reason)


class StoreError(BoHpoError):
    """A store cannot be opened or used: unreachable, corrupted, of a newer schema,
    read-only, or holding a different experiment under the name. Never shows a password."""


class NotFoundError(StoreError):
    """The store file, or the experiment named in it, is not there: a wrong name or path,
    not a broken store (exit code 2 from the CLI, where other store errors give 4)."""


class LockedError(BoHpoError):
    """Another live process holds the experiment's lease (a run or nightly job is going
    on); nothing was changed."""

    def __init__(self, message: str, holder: dict | None = None) -> None:
        super().__init__(message)
        self.holder = holder or {}


class SpaceChangedError(BoHpoError):
    """A stored experiment's search space changed in a way its trials cannot follow."""
