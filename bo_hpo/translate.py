"""SearchSpace -> Ax parameter configs and constraint strings, and Ax parameters -> configs.

The only module that knows both the user's parameter names and Ax's. The mapping:

=================  =====================================================================
user kind           Ax
=================  =====================================================================
uniform             RangeParameterConfig(float)
log_uniform         RangeParameterConfig(float, scaling="log")
int / log_int       RangeParameterConfig(int[, scaling="log"])
choice              ChoiceParameterConfig(is_ordered=False); numeric values are modelled
                    as ordered, as Ax itself infers, unless ``Choice(ordered=False)``
ordered             ChoiceParameterConfig(is_ordered=True)
fixed               nothing: added back when decoding
when={p: [v]}       Ax hierarchical ``dependent_parameters`` on the parent when the child
                    hangs off one value of one parent; otherwise (several values or several
                    parents, which Ax's tree cannot hold) the child stays in Ax's flat space
                    and is dropped from the config when inactive
a % b == 0          the dividend becomes ``<a>__pos`` in [0, 1], its relative position in
                    its range; decoding snaps to the nearest multiple of b in range, so every
                    proposal is feasible by construction; b keeps only values with a
                    feasible dividend
linear              Ax parameter constraint strings, ``c*x + ... <= bound``
tiny float range    ``<name>__unit`` in [0, 1] (Ax rejects ranges narrower than 1.5e-5, even
                    on a log scale, e.g. an epsilon in [1e-10, 1e-6]); mapped back linearly or
                    log-linearly
range up to near 1  with ``tail_decades=d``: a linear float range [low, high] below 1 whose
                    1 - x spans at least d decades (Adam's beta2 in [0.9, 0.9999]: 3) is
                    ``<name>__tail`` in [0, 1], its position on the scale of log(1 - x), so
                    that the model and the initial design see 0.99, 0.999 and 0.9999 as
                    evenly spaced (see ``ModelSettings.tail_decades``)
=================  =====================================================================
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bo_hpo.errors import SearchSpaceError
from bo_hpo.space import Choice, Divisible, Fixed, Float, Int, Param, SearchSpace
from bo_hpo.space.params import Scalar, coerce

POS_SUFFIX = "__pos"
UNIT_SUFFIX = "__unit"
TAIL_SUFFIX = "__tail"
#: Float ranges narrower than this go to Ax as a unit interval (Ax's own floor is 1.5e-5).
_MIN_AX_WIDTH = 1e-4


def _ax_type(values: list[Scalar]) -> str:
    if all(isinstance(v, bool) for v in values):
        return "bool"
    if all(isinstance(v, str) for v in values):
        return "str"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "int"
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return "float"
    return "str"  # mixed kinds: Ax sees string labels


def _labels(values: list[Scalar]) -> list[Scalar]:
    """Values as Ax will hold them (mixed-kind lists become distinct string labels)."""
    kind = _ax_type(values)
    if kind == "str" and not all(isinstance(v, str) for v in values):
        labels = [f"{type(v).__name__}:{v}" for v in values]
        return labels
    if kind == "float":
        return [float(v) for v in values]
    return list(values)


@dataclass
class Translation:
    """A SearchSpace in Ax's terms, with the codec between the two."""

    space: SearchSpace
    parameters: list[Any]
    constraints: list[str]
    flat_conditionals: tuple[str, ...]
    pinned: dict[str, Scalar]  # divisors left with a single feasible value
    unit: frozenset[str] = frozenset()  # narrow float ranges sent to Ax as [0, 1]
    tail: frozenset[str] = frozenset()  # ranges up to near 1, sent as [0, 1] on log(1 - x)

    def ax_name(self, name: str) -> str:
        """The name of the Ax parameter that carries the user's parameter ``name``."""
        if name in self.unit:
            return name + UNIT_SUFFIX
        if name in self.tail:
            return name + TAIL_SUFFIX
        return name

    def position(self, p: Float | Int, value: float) -> float:
        """Where ``value`` lies in ``p``'s range, 0 (low) to 1 (high), on the scale the
        model sees it: log where log, log(1 - x) where the range reaches near 1."""
        return to_unit(p, value, tail=p.name in self.tail)

    def from_position(self, p: Float, u: float) -> float:
        """The value at position ``u`` of float ``p``'s range (inverse of ``position``)."""
        return _from_unit(p, u, tail=p.name in self.tail)

    # ------------------------------------------------------------------ decode
    def decode(self, ax_params: Mapping[str, Any]) -> dict[str, Any]:
        """Ax parameters -> the user's config: active parameters only, in the user's types."""
        config: dict[str, Any] = {}
        dividends = {c.dividend: c for c in self.space.divisibility()}
        for name, p in self.space.params.items():
            if not self.space.is_active(name, config):
                continue
            if name in dividends:
                continue
            if isinstance(p, Fixed):
                config[name] = p.value
            elif isinstance(p, Choice) and len(p.values) == 1:
                config[name] = p.values[0]
            elif name in self.pinned:
                config[name] = coerce(p, self.pinned[name])
            elif name in self.unit or name in self.tail:
                assert isinstance(p, Float)
                u = min(1.0, max(0.0, float(ax_params[self.ax_name(name)])))
                config[name] = self.from_position(p, u)
            else:
                if name not in ax_params:
                    raise SearchSpaceError(f"Ax proposal lacks active parameter {name!r}")
                config[name] = self._from_ax(p, ax_params[name])
        for name, c in dividends.items():
            divisor = c.divisor if isinstance(c.divisor, int) else int(config[c.divisor])
            u = float(ax_params[name + POS_SUFFIX])
            config[name] = coerce(self.space.params[name], self.snap_dividend(c, divisor, u))
        return {n: config[n] for n in self.space.params if n in config}

    def _from_ax(self, p: Param, value: Any) -> Scalar:
        if isinstance(p, Choice):
            labels = _labels(list(p.values))
            for label, v in zip(labels, p.values, strict=True):
                if label == value:
                    return v
            return p.canonical(value)
        if isinstance(p, Int):
            return int(min(p.high, max(p.low, round(float(value)))))
        if isinstance(p, Float):
            return float(min(p.high, max(p.low, float(value))))
        raise TypeError(p)  # pragma: no cover

    def snap_dividend(self, c: Divisible, divisor: int, u: float) -> int:
        """The feasible dividend nearest to relative position ``u`` in the dividend's range."""
        feasible = self.space.feasible_dividends(c, divisor)
        if not feasible:
            raise SearchSpaceError(
                f"constraint {c.text!r}: no feasible {c.dividend} for {c.divisor}={divisor}"
            )
        u = min(1.0, max(0.0, u))
        p = self.space.params[c.dividend]
        if isinstance(p, Choice):
            # Ordered lists are modelled by rank, as Ax models ordered choices.
            ranks = {int(v): i for i, v in enumerate(sorted(int(x) for x in p.values))}
            target = u * (len(ranks) - 1)
            return min(feasible, key=lambda v: (abs(ranks[v] - target), v))
        lo, hi, log = self.space.dividend_range(c)
        if log:
            target = math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo)))
        else:
            target = lo + u * (hi - lo)
        i = bisect.bisect_left(feasible, target)
        candidates = feasible[max(0, i - 1): i + 1]
        if log:
            return min(candidates, key=lambda v: (abs(math.log(v) - math.log(target)), v))
        return min(candidates, key=lambda v: (abs(v - target), v))

    # ------------------------------------------------------------------ encode
    def encode(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """A checked user config -> Ax parameters (inverse of :meth:`decode`)."""
        config = self.space.check_config(config)
        out: dict[str, Any] = {}
        dividends = {c.dividend: c for c in self.space.divisibility()}
        for name, p in self.space.params.items():
            if isinstance(p, Fixed) or (isinstance(p, Choice) and len(p.values) == 1):
                continue
            if name in self.pinned:
                continue
            if name in dividends:
                out[name + POS_SUFFIX] = self._position(dividends[name], int(config[name]))
                continue
            ax_name = self.ax_name(name)
            if name not in config:
                if name in self.flat_conditionals:
                    out[ax_name] = (0.5 if name in self.unit or name in self.tail
                                    else self._placeholder(p))
                continue
            if name in self.unit or name in self.tail:
                assert isinstance(p, Float)
                out[ax_name] = self.position(p, float(config[name]))
            else:
                out[ax_name] = self._to_ax(p, config[name])
        return out

    def _to_ax(self, p: Param, value: Scalar) -> Any:
        if isinstance(p, Choice):
            labels = _labels(list(p.values))
            return labels[[i for i, v in enumerate(p.values) if p.canonical(value) is v][0]]
        if isinstance(p, Int):
            return int(value)
        return float(value)

    def _placeholder(self, p: Param) -> Any:
        """A fixed stand-in for an inactive flat conditional (mid-domain, as Ax's own
        dummy values), so the model always sees the same input for "inactive"."""
        if isinstance(p, Choice):
            labels = _labels(list(p.values))
            return labels[len(labels) // 2]
        if isinstance(p, Int):
            return int(round(_from_unit(Float(p.name, p.low, p.high, log=p.log), 0.5)))
        assert isinstance(p, Float)
        return _from_unit(p, 0.5)

    def _position(self, c: Divisible, value: int) -> float:
        p = self.space.params[c.dividend]
        if isinstance(p, Choice):
            ordered = sorted(int(x) for x in p.values)
            return ordered.index(value) / max(1, len(ordered) - 1)
        lo, hi, log = self.space.dividend_range(c)
        if log:
            return (math.log(value) - math.log(lo)) / (math.log(hi) - math.log(lo))
        return (value - lo) / (hi - lo)


def reaches_near_one(p: Param, decades: float | None) -> bool:
    """Whether ``p`` is a linear float range below 1 whose 1 - x spans at least
    ``decades`` decades (never where ``decades`` is ``None``)."""
    return (decades is not None and isinstance(p, Float) and not p.log and p.high < 1.0
            and math.log10((1.0 - p.low) / (1.0 - p.high)) >= decades - 1e-9)


def translate(space: SearchSpace, tail_decades: float | None = None) -> Translation:
    """Build the Ax parameter configs and constraint strings for ``space``; a linear float
    range up to near 1 (``reaches_near_one(p, tail_decades)``) goes to Ax on the scale of
    log(1 - x)."""
    from bo_hpo._ax import import_ax

    ax = import_ax()
    ChoiceParameterConfig, RangeParameterConfig = ax.ChoiceParameterConfig, ax.RangeParameterConfig

    dividends = {c.dividend: c for c in space.divisibility()}
    divisor_values = {
        c.divisor: space.divisor_values(c)
        for c in space.divisibility() if isinstance(c.divisor, str)
    }
    pinned = {name: values[0] for name, values in divisor_values.items() if len(values) == 1}
    searched = [
        p for p in space.params.values()
        if not isinstance(p, Fixed)
        and not (isinstance(p, Choice) and len(p.values) == 1)
        and p.name not in pinned
    ]
    if not searched:
        raise SearchSpaceError(
            "nothing to tune: every parameter is fixed; give at least one range or choice"
        )
    searched_names = {p.name for p in searched}
    linear_names = {n for c in space.linear() for n in c.names}
    # Narrow ranges, and ranges up to near 1 (a linear constraint stays linear only on the
    # user's scale, so not those in one), go to Ax as a position in [0, 1].
    unit = {p.name for p in searched if isinstance(p, Float) and p.high - p.low < _MIN_AX_WIDTH
            and p.name not in dividends and p.name not in divisor_values}
    tail = {p.name for p in searched if reaches_near_one(p, tail_decades)
            and p.name not in linear_names | unit
            and p.name not in dividends and p.name not in divisor_values}
    ax_names = {name: name + (UNIT_SUFFIX if name in unit else TAIL_SUFFIX)
                for name in unit | tail}

    # Conditionals ride on Ax's hierarchical tree when they hang off one value of one
    # searched parent; Ax's tree cannot hold the rest, which stay flat.
    hierarchical: dict[str, dict[Scalar, list[str]]] = {}
    flat: list[str] = []
    for p in searched:
        if not p.when:
            continue
        (parent_name, values), *others = p.when.items()
        parent = space.params[parent_name]
        if not others and len(values) == 1 and parent_name in searched_names:
            assert isinstance(parent, Choice)
            label = _labels(list(parent.values))[
                list(parent.values).index(parent.canonical(values[0]))
            ]
            hierarchical.setdefault(parent_name, {}).setdefault(label, []).append(
                ax_names.get(p.name, p.name))
        else:
            flat.append(p.name)

    parameters: list[Any] = []
    for p in searched:
        if p.name in unit and p.name in linear_names:
            raise SearchSpaceError(
                f"{p.name}: a range narrower than {_MIN_AX_WIDTH:g} cannot appear in a linear "
                f"constraint (Ax rejects it), got low={p.low!r}, high={p.high!r}"
            )
        if p.name in dividends:
            parameters.append(RangeParameterConfig(
                name=p.name + POS_SUFFIX, bounds=(0.0, 1.0), parameter_type="float"
            ))
        elif p.name in divisor_values:
            # Only divisors that leave a feasible dividend, as an ordered choice.
            values = [coerce(p, v) for v in divisor_values[p.name]]
            ordered = not isinstance(p, Choice) or p.modelled_as_ordered
            parameters.append(ChoiceParameterConfig(
                name=p.name, values=_labels(values), parameter_type=_ax_type(values),
                is_ordered=ordered,
            ))
        elif p.name in unit or p.name in tail:
            parameters.append(RangeParameterConfig(
                name=ax_names[p.name], bounds=(0.0, 1.0), parameter_type="float"
            ))
        elif isinstance(p, (Float, Int)):
            parameters.append(RangeParameterConfig(
                name=p.name, bounds=(p.low, p.high),
                parameter_type="float" if isinstance(p, Float) else "int",
                scaling="log" if p.log else "linear",
            ))
        else:
            assert isinstance(p, Choice)
            labels = _labels(list(p.values))
            dependents = None
            if p.name in hierarchical:
                dependents = {label: hierarchical[p.name].get(label, []) for label in labels}
            parameters.append(ChoiceParameterConfig(
                name=p.name, values=labels, parameter_type=_ax_type(list(p.values)),
                is_ordered=p.modelled_as_ordered, dependent_parameters=dependents,
            ))
    constraints = [_linear_to_ax(c.coefficients, c.bound) for c in space.linear()]
    return Translation(space=space, parameters=parameters, constraints=constraints,
                       flat_conditionals=tuple(flat), pinned=pinned, unit=frozenset(unit),
                       tail=frozenset(tail))


def _from_unit(p: Float, u: float, tail: bool = False) -> float:
    if tail:
        value = 1.0 - math.exp(math.log1p(-p.low)
                               + u * (math.log1p(-p.high) - math.log1p(-p.low)))
    elif p.log:
        value = math.exp(math.log(p.low) + u * (math.log(p.high) - math.log(p.low)))
    else:
        value = p.low + u * (p.high - p.low)
    return float(min(p.high, max(p.low, value)))


def to_unit(p: Float | Int, value: float, tail: bool = False) -> float:
    """Where ``value`` lies in ``p``'s range, 0 (low) to 1 (high), on its scale (log where
    log; with ``tail``, log(1 - x))."""
    if tail:
        return ((math.log1p(-value) - math.log1p(-p.low))
                / (math.log1p(-p.high) - math.log1p(-p.low)))
    if p.log:
        return (math.log(value) - math.log(p.low)) / (math.log(p.high) - math.log(p.low))
    return (value - p.low) / (p.high - p.low)


def _linear_to_ax(coefficients: Mapping[str, float], bound: float) -> str:
    terms = " + ".join(f"{c!r}*{name}" for name, c in coefficients.items())
    return f"{terms} <= {bound!r}"
