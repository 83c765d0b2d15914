"""Parameter kinds of a search space: plain frozen dataclasses, validated on creation.

The tuple form ML people write (``("log_uniform", 1e-5, 1e-1)``) is parsed into these by
:mod:`bo_hpo.space.loading`; the typed classes can also be used directly.
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bo_hpo.errors import SearchSpaceError

Scalar = int | float | str | bool | None

#: Condition: parent parameter name -> the parent values under which a parameter is active.
When = Mapping[str, Sequence[Scalar]]


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxlong, _REPR.maxother = 6, 200, 60, 200
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 50


def show(value: object) -> str:
    """``repr(value)`` for an error message: cut short when long or deeply nested, and never
    raising (a value nested 100,000 levels deep, or whose ``__repr__`` fails)."""
    return _REPR.repr(value)


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


#: Largest magnitude of an integer bound or listed integer: the model works in float64, which
#: holds every integer up to 2**53 exactly (numpy's int64 sampling fails past 2**63).
MAX_INT = 2**53


def _check_log(name: str, log: object) -> None:
    if not isinstance(log, (bool, np.bool_)):
        raise SearchSpaceError(f"{name}: `log` must be True or False, got log={show(log)}")


def _check_range(name: str, low: float, high: float, log: bool) -> None:
    if not low < high:
        raise SearchSpaceError(f"{name}: `low < high` must hold, got low={low!r}, high={high!r}")
    if log and low <= 0:
        raise SearchSpaceError(f"{name}: a log-scaled range needs low > 0, got low={low!r}")
    if not math.isfinite(float(high) - float(low)):
        raise SearchSpaceError(
            f"{name}: `high - low` must be a finite number, got low={low!r}, high={high!r}"
        )


def _freeze_when(name: str, when: When | None) -> dict[str, tuple[Scalar, ...]]:
    if when is None or (isinstance(when, Mapping) and not when):
        return {}
    if not isinstance(when, Mapping):
        raise SearchSpaceError(
            f"{name}: `when` must be a non-empty mapping of parent name to allowed values, "
            f"got when={show(when)}"
        )
    frozen: dict[str, tuple[Scalar, ...]] = {}
    for parent, values in when.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
            values = [values]  # a single value is a one-element list
        if len(values) == 0:
            raise SearchSpaceError(
                f"{name}: `when` lists no values for parent {parent!r}; give at least one"
            )
        frozen[str(parent)] = tuple(values)
    return frozen


@dataclass(frozen=True)
class Param:
    """Fields every parameter kind shares.

    Attributes:
        name: the key the objective receives.
        when: the parameter is active only when each named parent choice takes one of the
            listed values (AND over parents). Empty means always active.
    """

    name: str
    when: Mapping[str, tuple[Scalar, ...]] = field(default_factory=dict, kw_only=True)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise SearchSpaceError(
                f"parameter names must be identifiers (letters, digits, _), got {self.name!r}"
            )
        if "__" in self.name:
            raise SearchSpaceError(
                f"{self.name}: parameter names may not contain '__' (reserved for "
                f"reparametrised Ax names), got {self.name!r}"
            )
        object.__setattr__(self, "when", _freeze_when(self.name, self.when))

    @property
    def kind(self) -> str:
        raise NotImplementedError

    @property
    def is_discrete(self) -> bool:
        return True

    @property
    def is_numeric(self) -> bool:
        return True

    def cardinality(self) -> float:
        return math.inf

    def values_list(self) -> list[Scalar]:
        """All values of a discrete parameter, in order."""
        raise SearchSpaceError(f"{self.name}: a {self.kind} parameter has no finite value list")

    def contains(self, value: object) -> bool:
        raise NotImplementedError

    def sample(self, rng: np.random.Generator) -> Scalar:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class Float(Param):
    """A real number in ``[low, high]``, searched on a log scale when ``log``."""

    low: float
    high: float
    log: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        for bound in ("low", "high"):
            value = getattr(self, bound)
            if not _is_number(value) or not _is_finite(value):
                raise SearchSpaceError(
                    f"{self.name}: `{bound}` must be a finite number, got {bound}={show(value)}"
                )
            object.__setattr__(self, bound, float(value))
        _check_log(self.name, self.log)
        _check_range(self.name, self.low, self.high, self.log)

    @property
    def kind(self) -> str:
        return "log_uniform" if self.log else "uniform"

    @property
    def is_discrete(self) -> bool:
        return False

    def contains(self, value: object) -> bool:
        return _is_number(value) and self.low <= value <= self.high  # type: ignore[operator]

    def sample(self, rng: np.random.Generator) -> float:
        if self.log:
            return float(np.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        return float(rng.uniform(self.low, self.high))

    def describe(self) -> str:
        return f"{self.kind} [{self.low:g}, {self.high:g}]"


@dataclass(frozen=True)
class Int(Param):
    """An integer in ``[low, high]`` (both included), log-scaled when ``log``."""

    low: int
    high: int
    log: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        for bound in ("low", "high"):
            value = getattr(self, bound)
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if not _is_int(value):
                raise SearchSpaceError(
                    f"{self.name}: `{bound}` of an int parameter must be an integer, "
                    f"got {bound}={show(value)}"
                )
            if abs(int(value)) > MAX_INT:
                raise SearchSpaceError(
                    f"{self.name}: `{bound}` of an int parameter must be at most 2**53 in "
                    f"magnitude, got {bound}={show(value)}"
                )
            object.__setattr__(self, bound, int(value))
        _check_log(self.name, self.log)
        _check_range(self.name, self.low, self.high, self.log)

    @property
    def kind(self) -> str:
        return "log_int" if self.log else "int"

    def cardinality(self) -> float:
        return self.high - self.low + 1

    def values_list(self) -> list[Scalar]:
        return list(range(self.low, self.high + 1))

    def contains(self, value: object) -> bool:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return _is_int(value) and self.low <= int(value) <= self.high  # type: ignore[arg-type]

    def sample(self, rng: np.random.Generator) -> int:
        if self.log:
            # Log-uniform over the integers: draw on [low - 0.5, high + 0.5) in log space.
            lo, hi = math.log(self.low - 0.5 + 1e-9), math.log(self.high + 0.5)
            return int(min(self.high, max(self.low, round(math.exp(rng.uniform(lo, hi))))))
        return int(rng.integers(self.low, self.high + 1))

    def describe(self) -> str:
        return f"{self.kind} [{self.low}, {self.high}]"


@dataclass(frozen=True)
class Choice(Param):
    """One of ``values``; ``ordered`` says whether the values have a meaningful order.

    Unordered choices (optimizers, activations) are categorical to the model; ordered ones
    (batch sizes, widths from a list) keep their order, which the model exploits.
    ``ordered=None`` (the ``"choice"`` kind) infers it as Ax does: numeric lists are
    modelled as ordered, labels as categorical. Pass ``ordered=False`` to force categorical.
    """

    values: tuple[Scalar, ...]
    ordered: bool | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        values = self.values
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
            raise SearchSpaceError(
                f"{self.name}: choice values must be a list, got values={show(values)}"
            )
        if self.ordered is not None and not isinstance(self.ordered, (bool, np.bool_)):
            raise SearchSpaceError(
                f"{self.name}: `ordered` must be True, False or None, got "
                f"ordered={show(self.ordered)}"
            )
        values = tuple(v.item() if isinstance(v, np.generic) else v for v in values)
        if len(values) == 0:
            kind = "an ordered choice" if self.ordered else "a choice"
            raise SearchSpaceError(f"{self.name}: {kind} needs at least one value, got []")
        for v in values:
            if v is not None and not isinstance(v, (int, float, str, bool)):
                raise SearchSpaceError(
                    f"{self.name}: choice values must be numbers, strings, booleans or None, "
                    f"got {show(v)} of type {type(v).__name__}"
                )
            if _is_number(v) and not _is_finite(v):
                raise SearchSpaceError(
                    f"{self.name}: numeric choice values must be finite, got {v!r} in "
                    f"{show(list(values))}"
                )
            if _is_int(v) and abs(v) > MAX_INT:
                raise SearchSpaceError(
                    f"{self.name}: integer choice values must be at most 2**53 in magnitude, "
                    f"got {show(v)}"
                )
        kinds = {"number" if _is_number(v) else type(v).__name__ for v in values if v is not None}
        if len(kinds) > 1:  # allowed (Optuna allows it too), but rarely meant: say so
            import warnings

            warnings.warn(
                f"{self.name}: choice values of mixed types {sorted(kinds)} in "
                f"{show(list(values))} are modelled as unordered labels; if they are numbers, "
                f"write them all as numbers", UserWarning, stacklevel=3,
            )
        seen: set[tuple[type, Scalar]] = set()
        for v in values:
            key = (bool if isinstance(v, bool) else str if isinstance(v, str)
                   else type(None) if v is None else float, v)
            if key in seen:
                raise SearchSpaceError(
                    f"{self.name}: choice values must be distinct, got {show(v)} twice in "
                    f"{show(list(values))}"
                )
            seen.add(key)
        if self.ordered and not all(_is_number(v) for v in values):
            if any(_is_number(v) for v in values):
                raise SearchSpaceError(
                    f"{self.name}: ordered values must be all numbers or all labels, got "
                    f"{show(list(values))}"
                )
        object.__setattr__(self, "values", values)

    @property
    def kind(self) -> str:
        return "ordered" if self.ordered else "choice"

    @property
    def modelled_as_ordered(self) -> bool:
        return self.ordered if self.ordered is not None else self.is_numeric

    @property
    def is_numeric(self) -> bool:
        return all(_is_number(v) for v in self.values)

    @property
    def is_integer(self) -> bool:
        return all(_is_int(v) for v in self.values)

    def cardinality(self) -> float:
        return len(self.values)

    def values_list(self) -> list[Scalar]:
        return list(self.values)

    def contains(self, value: object) -> bool:
        return any(_same(value, v) for v in self.values)

    def canonical(self, value: object) -> Scalar:
        """The listed value equal to ``value`` (so 128.0 becomes the listed 128)."""
        for v in self.values:
            if _same(value, v):
                return v
        raise SearchSpaceError(
            f"{self.name}: value must be one of {list(self.values)!r}, got {value!r}"
        )

    def sample(self, rng: np.random.Generator) -> Scalar:
        return self.values[int(rng.integers(len(self.values)))]

    def describe(self) -> str:
        return f"{self.kind} {list(self.values)!r}"


@dataclass(frozen=True)
class Fixed(Param):
    """A constant handed to the objective but never searched."""

    value: Scalar

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.value, np.generic):
            object.__setattr__(self, "value", self.value.item())
        if self.value is not None and not isinstance(self.value, (int, float, str, bool)):
            raise SearchSpaceError(
                f"{self.name}: a fixed value must be a number, string, boolean or None, got "
                f"{show(self.value)} of type {type(self.value).__name__}"
            )
        if isinstance(self.value, float) and math.isnan(self.value):
            raise SearchSpaceError(
                f"{self.name}: a fixed value must not be NaN (it equals nothing, not even "
                f"itself), got {self.value!r}"
            )

    @property
    def kind(self) -> str:
        return "fixed"

    @property
    def is_numeric(self) -> bool:
        return _is_number(self.value)

    def cardinality(self) -> float:
        return 1

    def values_list(self) -> list[Scalar]:
        return [self.value]

    def contains(self, value: object) -> bool:
        return _same(value, self.value)

    def sample(self, rng: np.random.Generator) -> Scalar:
        return self.value

    def describe(self) -> str:
        return f"fixed {self.value!r}"


def _same(a: object, b: object) -> bool:
    """Equality that keeps True apart from 1 and "1" apart from 1."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    if _is_number(a) and _is_number(b):
        return bool(a == b)  # exact, and no OverflowError for a huge int against a float
    return False


def _is_finite(value: object) -> bool:
    """False for NaN, inf, and an int too large to be a float."""
    try:
        return math.isfinite(value)  # type: ignore[arg-type]
    except OverflowError:
        return False


def coerce(param: Param, value: Any) -> Scalar:
    """``value`` in the parameter's own type (int for Int, the listed value for Choice)."""
    if isinstance(param, Int):
        return int(round(float(value)))
    if isinstance(param, Float):
        return float(value)
    if isinstance(param, Choice):
        return param.canonical(value)
    if isinstance(param, Fixed):
        return param.value
    raise TypeError(param)  # pragma: no cover
