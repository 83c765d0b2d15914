"""SearchSpace: parameters, conditions and constraints, checked as a whole."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from bo_hpo.errors import SearchSpaceError
from bo_hpo.space.constraints import Constraint, Divisible, Linear, parse_constraint
from bo_hpo.space.params import Choice, Fixed, Float, Int, Param, Scalar, coerce, show

Config = dict[str, Any]

#: Enumeration limit for size() over the parameters that conditions or constraints tie together.
_MAX_ENUMERATION = 2_000_000
_MAX_REJECTIONS = 10_000


class SearchSpace:
    """What may vary: parameters (with conditions) plus constraints between them.

    Args:
        params: a spec dict in tuple form (``{"lr": ("log_uniform", 1e-5, 1e-1)}``), a
            mapping of names to typed parameters, or a sequence of typed parameters.
        constraints: constraint strings (see :mod:`bo_hpo.space.constraints`).

    Raises:
        SearchSpaceError: naming the parameter, the rule broken and the value given.
    """

    def __init__(
        self,
        params: Mapping[str, Any] | Sequence[Param],
        constraints: Iterable[str | Constraint] = (),
    ) -> None:
        from bo_hpo.space.loading import params_from_spec

        if isinstance(constraints, str):
            constraints = [constraints]  # one constraint, not a sequence of characters
        if isinstance(constraints, (bytes, Mapping)) or not isinstance(constraints, Iterable):
            raise SearchSpaceError(
                f"constraints must be a list of strings, got {show(constraints)}"
            )
        if isinstance(params, SearchSpace):
            constraints = [*params.constraints, *constraints]
            params = list(params.params.values())
        parsed = params_from_spec(params)
        if not parsed:
            raise SearchSpaceError("a search space needs at least one parameter, got none")
        self.params: dict[str, Param] = _order_by_conditions(parsed)
        self.constraints: tuple[Constraint, ...] = tuple(
            c if isinstance(c, (Linear, Divisible)) else parse_constraint(c) for c in constraints
        )
        self._check_conditions()
        self._check_constraints()

    # ---------------------------------------------------------------- plain data
    def to_dict(self) -> dict[str, Any]:
        """The space as plain, JSON-able data: ``{"params": {...}, "constraints": [...]}``."""
        from bo_hpo.space.loading import param_to_dict

        return {"params": {n: param_to_dict(p) for n, p in self.params.items()},
                "constraints": [c.text for c in self.constraints]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SearchSpace:
        """Inverse of :meth:`to_dict`."""
        from bo_hpo.space.loading import param_from_dict

        return cls([param_from_dict(n, d) for n, d in data["params"].items()],
                   constraints=data.get("constraints", ()))

    def fingerprint(self) -> str:
        """A hash of what may vary (names, kinds, ranges, values, conditions, constraints);
        equal spaces give equal fingerprints whatever order they were written in."""
        import hashlib
        import json

        data = self.to_dict()
        data["constraints"] = sorted(data["constraints"])
        text = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    # ---------------------------------------------------------------- structure checks
    def _check_conditions(self) -> None:
        for p in self.params.values():
            for parent_name, values in p.when.items():
                parent = self.params.get(parent_name)
                if parent is None:
                    raise SearchSpaceError(
                        f"{p.name}: condition names unknown parameter {parent_name!r}; "
                        f"known: {sorted(self.params)}"
                    )
                if not isinstance(parent, Choice):
                    raise SearchSpaceError(
                        f"{p.name}: a condition must be on a choice or ordered parameter, but "
                        f"{parent_name!r} is {parent.kind}"
                    )
                for v in values:
                    if not parent.contains(v):
                        raise SearchSpaceError(
                            f"{p.name}: condition value {show(v)} is not one of {parent_name}'s "
                            f"values {list(parent.values)!r}"
                        )

    def _check_constraints(self) -> None:
        dividends: set[str] = set()
        for c in self.constraints:
            for name in c.names:
                p = self.params.get(name)
                if p is None:
                    raise SearchSpaceError(
                        f"constraint {c.text!r} names unknown parameter {name!r}; known: "
                        f"{sorted(self.params)}"
                    )
                if not p.is_numeric:
                    raise SearchSpaceError(
                        f"constraint {c.text!r}: {name!r} must be numeric, but it is "
                        f"{p.describe()}"
                    )
                if p.when:
                    raise SearchSpaceError(
                        f"constraint {c.text!r}: {name!r} is conditional (active only when "
                        f"{dict(p.when)}); constraints may only use always-active parameters"
                    )
            if isinstance(c, Linear):
                for name in c.names:
                    p = self.params[name]
                    if not isinstance(p, (Float, Int)):
                        raise SearchSpaceError(
                            f"constraint {c.text!r}: {name!r} is {p.kind}; linear constraints "
                            f"apply to uniform and int parameters only"
                        )
                    if p.log:
                        raise SearchSpaceError(
                            f"constraint {c.text!r}: {name!r} is {p.kind}; Ax cannot enforce "
                            f"linear constraints on log-scaled parameters (use a linear scale "
                            f"or an is_valid rule)"
                        )
                self._check_linear_feasible(c)
            else:
                self._check_divisible(c, dividends)
        linear_names = {n for c in self.constraints if isinstance(c, Linear) for n in c.names}
        clash = linear_names & dividends
        if clash:
            raise SearchSpaceError(
                f"{sorted(clash)[0]!r} is the dividend of a divisibility constraint and also "
                f"appears in a linear constraint; this combination is not supported"
            )

    def _check_linear_feasible(self, c: Linear) -> None:
        # Smallest achievable left-hand side over the box: feasible iff <= bound.
        lowest = 0.0
        for name, coef in c.coefficients.items():
            p = self.params[name]
            assert isinstance(p, (Float, Int))
            lowest += coef * (p.low if coef > 0 else p.high)
        if lowest > c.bound + 1e-9 * max(1.0, abs(c.bound)):
            raise SearchSpaceError(
                f"constraint {c.text!r} cannot hold anywhere in the parameters' bounds "
                f"(its smallest left-hand side is {lowest:g} > {c.bound:g})"
            )

    def _check_divisible(self, c: Divisible, dividends: set[str]) -> None:
        dividend = self.params[c.dividend]
        if c.dividend in dividends:
            raise SearchSpaceError(
                f"constraint {c.text!r}: {c.dividend!r} is already the dividend of another "
                f"divisibility constraint; only one per parameter is supported"
            )
        dividends.add(c.dividend)
        for name in c.names:
            p = self.params[name]
            is_int = isinstance(p, Int) or (
                isinstance(p, Choice) and p.is_integer
            ) or (isinstance(p, Fixed) and isinstance(p.value, int))
            if not is_int:
                raise SearchSpaceError(
                    f"constraint {c.text!r}: {name!r} must take integer values, but it is "
                    f"{p.describe()}"
                )
        if isinstance(dividend, Fixed):
            raise SearchSpaceError(
                f"constraint {c.text!r}: the dividend {c.dividend!r} is fixed; fix the "
                f"divisor too or drop the constraint"
            )
        if isinstance(c.divisor, str) and c.divisor in dividends:
            raise SearchSpaceError(
                f"constraint {c.text!r}: {c.divisor!r} cannot be both a divisor and a dividend"
            )
        if isinstance(c.divisor, str):
            divisor = self.params[c.divisor]
            lowest = (divisor.low if isinstance(divisor, Int)
                      else min(int(v) for v in divisor.values_list()))
            if lowest <= 0:
                raise SearchSpaceError(
                    f"constraint {c.text!r}: the divisor {c.divisor!r} must be positive, but "
                    f"its range includes {lowest!r} ({self._divisor_description(c)})"
                )
        if not self.divisor_values(c):
            raise SearchSpaceError(
                f"constraint {c.text!r} has no feasible pair: no value of {c.dividend} "
                f"({dividend.describe()}) is divisible by any value of the divisor "
                f"({self._divisor_description(c)})"
            )

    def _divisor_description(self, c: Divisible) -> str:
        if isinstance(c.divisor, int):
            return str(c.divisor)
        return self.params[c.divisor].describe()

    # ------------------------------------------------------------ divisibility helpers
    def dividend_range(self, c: Divisible) -> tuple[int, int, bool]:
        """(low, high, log) of the dividend's values."""
        p = self.params[c.dividend]
        if isinstance(p, Int):
            return p.low, p.high, p.log
        values = [int(v) for v in p.values_list()]
        return min(values), max(values), False

    def feasible_dividends(self, c: Divisible, divisor: int) -> Sequence[int]:
        """Sorted dividend values divisible by ``divisor`` (a ``range`` for an int range, so
        that a wide one is not spelled out in memory)."""
        p = self.params[c.dividend]
        if divisor <= 0:
            return []
        if isinstance(p, Int):
            first = -(-p.low // divisor) * divisor
            return range(first, p.high + 1, divisor)
        return sorted(int(v) for v in p.values_list() if int(v) % divisor == 0)

    def divisor_values(self, c: Divisible) -> list[int]:
        """Divisor values that leave at least one feasible dividend, in the given order."""
        if isinstance(c.divisor, int):
            values = [c.divisor]
        else:
            p = self.params[c.divisor]
            if isinstance(p, Int) and p.cardinality() > 100_000:
                raise SearchSpaceError(
                    f"constraint {c.text!r}: the divisor {c.divisor!r} has "
                    f"{int(p.cardinality())} values; give it as a list (ordered) instead"
                )
            values = [int(v) for v in p.values_list()]
        return [v for v in values if self.feasible_dividends(c, v)]

    def divisibility(self) -> list[Divisible]:
        return [c for c in self.constraints if isinstance(c, Divisible)]

    def linear(self) -> list[Linear]:
        return [c for c in self.constraints if isinstance(c, Linear)]

    # ------------------------------------------------------------------- configs
    def is_active(self, name: str, config: Mapping[str, Any]) -> bool:
        p = self.params[name]
        for parent, values in p.when.items():
            if parent not in config or not self.params[parent].contains(config[parent]):
                return False
            if not any(self.params[parent].contains(v) and _eq(config[parent], v) for v in values):
                return False
        return True

    def active_names(self, config: Mapping[str, Any]) -> list[str]:
        return [n for n in self.params if self.is_active(n, config)]

    def violated(self, config: Mapping[str, Any]) -> list[str]:
        """The texts of the constraints ``config`` breaks."""
        return [c.text for c in self.constraints if not c.holds(config)]

    def check_config(self, config: Mapping[str, Any], what: str = "config") -> Config:
        """Validate a full config (a baseline, say) and return it in canonical form.

        Fixed parameters may be left out; values of inactive parameters are dropped.

        Raises:
            SearchSpaceError: naming the parameter and the value when ``config`` lies
                outside the space.
        """
        if not isinstance(config, Mapping):
            raise SearchSpaceError(
                f"{what} must be a mapping of names to values, got {show(config)}"
            )
        unknown = sorted(set(config) - set(self.params), key=str)
        if unknown:
            raise SearchSpaceError(
                f"{what}: unknown parameter {show(unknown[0])}; known: {sorted(self.params)}"
            )
        out: Config = {}
        for name, p in self.params.items():
            if not self.is_active(name, out):
                continue
            if name not in config:
                if isinstance(p, Fixed):
                    out[name] = p.value
                    continue
                raise SearchSpaceError(f"{what}: missing a value for {name!r} ({p.describe()})")
            value = config[name]
            if isinstance(p, (Float, Int)) and (isinstance(value, (str, bool, bytes))
                                                or value is None):
                raise SearchSpaceError(
                    f"{what}: {name}={show(value)} is not a number ({p.describe()})")
            if not p.contains(value):
                raise SearchSpaceError(
                    f"{what}: {name}={show(value)} is outside the space ({p.describe()})"
                )
            out[name] = coerce(p, value)
        broken = self.violated(out)
        if broken:
            raise SearchSpaceError(f"{what}: breaks constraint {broken[0]!r} with {out!r}")
        return out

    def sample(
        self,
        rng: np.random.Generator | int | None = None,
        is_valid: Callable[[Config], bool] | None = None,
    ) -> Config:
        """Draw one random configuration that satisfies every constraint (and ``is_valid``).

        Divisibility pairs are drawn directly from the feasible pairs; linear constraints and
        ``is_valid`` by rejection (at most 10,000 draws).
        """
        rng = np.random.default_rng(rng)
        divisible = {c.dividend: c for c in self.divisibility()}
        for _ in range(_MAX_REJECTIONS):
            config: Config = {}
            for name, p in self.params.items():
                if not self.is_active(name, config):
                    continue
                if name in divisible:
                    continue  # drawn once its divisor is known (below)
                config[name] = p.sample(rng)
            for name, c in divisible.items():
                divisors = self.divisor_values(c)
                d = config[c.divisor] if isinstance(c.divisor, str) else c.divisor
                if d not in divisors:
                    d = divisors[int(rng.integers(len(divisors)))]
                    if isinstance(c.divisor, str):
                        config[c.divisor] = coerce(self.params[c.divisor], d)
                feasible = self.feasible_dividends(c, int(d))
                config[name] = coerce(self.params[name], feasible[int(rng.integers(len(feasible)))])
            config = {n: config[n] for n in self.params if n in config}
            if not self.violated(config) and (is_valid is None or is_valid(config)):
                return config
        raise SearchSpaceError(
            f"could not draw a configuration that satisfies the constraints"
            f"{' and is_valid' if is_valid else ''} in {_MAX_REJECTIONS} tries"
        )

    def size(self) -> float:
        """Distinct configurations, constraints applied; ``math.inf`` if any can be continuous.

        Inactive conditional parameters do not multiply the count.
        """
        if any(not p.is_discrete for p in self.params.values()):
            return math.inf
        tied = {parent for p in self.params.values() for parent in p.when}
        tied |= {n for c in self.constraints for n in c.names}
        tied_params = [p for p in self.params.values() if p.name in tied]
        free = [p for p in self.params.values() if p.name not in tied]
        combos = math.prod(p.cardinality() for p in tied_params) if tied_params else 1
        if combos > _MAX_ENUMERATION:
            raise SearchSpaceError(
                f"size(): {combos:.3g} combinations of the conditioned and constrained "
                f"parameters {sorted(tied)} are too many to count"
            )
        total = 0
        names = [p.name for p in tied_params]  # parents before children
        first = {n: self.params[n].values_list()[0] for n in names}
        for values in itertools.product(*(p.values_list() for p in tied_params)):
            assignment = dict(zip(names, values, strict=True))
            active: Config = {}
            for n in names:
                if self.is_active(n, active):
                    active[n] = assignment[n]
            # Tied parameters that are inactive count once, not once per value.
            if any(n not in active and assignment[n] != first[n] for n in names):
                continue
            if any(
                all(n in active for n in c.names) and not c.holds(active) for c in self.constraints
            ):
                continue
            total += math.prod(
                int(p.cardinality()) for p in free if self.is_active(p.name, active)
            )
        return total

    # ------------------------------------------------------------------ display
    def __repr__(self) -> str:
        lines = [f"  {n}: {p.describe()}" + (f" when {dict(p.when)}" if p.when else "")
                 for n, p in self.params.items()]
        lines += [f"  constraint: {c.text}" for c in self.constraints]
        return "SearchSpace(\n" + "\n".join(lines) + "\n)"

    def __len__(self) -> int:
        return len(self.params)


def _eq(a: Any, b: Scalar) -> bool:
    from bo_hpo.space.params import _same

    return _same(a, b)


def _order_by_conditions(params: list[Param]) -> dict[str, Param]:
    """Parents before children (keeping the user's order otherwise); rejects cycles."""
    by_name: dict[str, Param] = {}
    for p in params:
        if p.name in by_name:
            raise SearchSpaceError(f"{p.name}: parameter defined twice")
        by_name[p.name] = p
    ordered: dict[str, Param] = {}
    visiting: set[str] = set()

    def visit(p: Param) -> None:
        if p.name in ordered:
            return
        if p.name in visiting:
            raise SearchSpaceError(f"{p.name}: conditions form a cycle through {p.name!r}")
        visiting.add(p.name)
        for parent in p.when:
            if parent in by_name:
                visit(by_name[parent])
        visiting.discard(p.name)
        ordered[p.name] = p

    for p in params:
        visit(p)
    return ordered
