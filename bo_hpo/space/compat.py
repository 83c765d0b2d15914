"""Whether an experiment's stored trials carry over to a changed search space.

Experiments are continued night after night; between runs the user may edit the space.
:func:`compare_spaces` decides, from the old space, the new one and the stored trials'
configs, whether the old trials still describe points of the new space (so the model can
keep learning from them) or whether the change needs a new version of the experiment.
:func:`carry_config` then turns an old trial's config into one of the new space.

The rules follow what a user of Ax or Optuna expects when continuing a study: widening or
shifting a range, adding choice values or adding parameters that have a value for the old
trials is fine; anything that leaves a stored trial outside the new space, or changes what
the old trials ran with (a kind, a fixed value, a condition, a removed parameter), is not.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bo_hpo.errors import SearchSpaceError
from bo_hpo.space.constraints import Constraint
from bo_hpo.space.params import Choice, Fixed, Float, Int, Param, _same, coerce
from bo_hpo.space.space import SearchSpace

Config = dict[str, Any]

_BASELINE_ADVICE = (
    "give it a value in the baseline ([baseline] in the experiment file) so that old trials "
    "can be carried over"
)


@dataclass
class SpaceChange:
    """The outcome of :func:`compare_spaces`.

    Attributes:
        compatible: the stored trials carry over to the new space.
        changes: one human-readable line per change (compatible or not).
        problems: why the stored trials cannot carry over; empty when ``compatible``.
        defaults: the values old trials get for parameters the new space adds.
    """

    compatible: bool
    changes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    defaults: dict[str, Any] = field(default_factory=dict)

    def describe(self, name: str | None = None) -> str:
        """One paragraph: the changes, or the problems followed by what to do instead.

        Args:
            name: the experiment's name, used in the advice when given.
        """
        if self.compatible:
            if not self.changes:
                return "The search space is unchanged."
            return (
                "The search space changed; the stored trials carry over: "
                + "; ".join(self.changes) + "."
            )
        new_name = f"{name}_v2" if name else "<old>_v2"
        return (
            "The search space changed in a way the stored trials cannot carry over: "
            + "; ".join(self.problems)
            + ". To change the space this way, start a new version of the experiment: give it "
            f'a new name (e.g. name = "{new_name}") in the experiment file, or pass '
            + (f'name="{new_name}"' if name else "name=...")
            + " to tune()."
        )


def compare_spaces(
    old: SearchSpace,
    new: SearchSpace,
    configs: Sequence[Mapping[str, Any]],
    defaults: Mapping[str, Any] | None = None,
) -> SpaceChange:
    """Compare the space the stored trials ran in with a new one.

    Args:
        old: the space the stored trials were proposed in.
        new: the space the experiment is to continue in.
        configs: the stored trials' configs (active parameters only).
        defaults: values for parameters the new space adds (the experiment's baseline);
            keys naming other parameters are ignored.

    Returns:
        A :class:`SpaceChange`; ``compatible`` is true when every stored trial maps to a
        point of the new space that satisfies its constraints.
    """
    given = dict(defaults or {})
    changes: list[str] = []
    problems: list[str] = []

    for name, p in old.params.items():
        if name not in new.params:
            n = sum(1 for c in configs if name in c)
            changes.append(f"{name}: removed ({p.describe()})")
            problems.append(
                f"{name}: removed from the space; {_of(n, len(configs))} used it "
                f"(the model cannot tell what the old trials would have done without it)"
            )

    for name, p in old.params.items():
        q = new.params.get(name)
        if q is not None:
            _compare_param(old, new, p, q, configs, changes, problems)

    resolved: Config = {}
    unresolved: list[Param] = []
    for name, q in new.params.items():
        if name in old.params:
            continue
        if isinstance(q, Fixed):
            resolved[name] = q.value
        elif name in given and q.contains(given[name]):
            resolved[name] = coerce(q, given[name])
        else:
            unresolved.append(q)

    carried = [_carry(c, new, resolved) for c in configs]
    for name, q in new.params.items():
        if name in old.params:
            continue
        cond = f" when {_when(q)}" if q.when else ""
        if name in resolved:
            changes.append(
                f"{name}: new parameter ({q.describe()}{cond}); old trials get "
                f"{name}={resolved[name]!r}"
            )
            continue
        n = sum(1 for _, missing in carried if name in missing)
        if n == 0:
            changes.append(
                f"{name}: new parameter ({q.describe()}{cond}), inactive for every stored trial"
            )
            continue
        changes.append(f"{name}: new parameter ({q.describe()}{cond})")
        if name in given:
            problems.append(
                f"{name}: new parameter ({q.describe()}) active for {_trials(n)}, and its "
                f"baseline value {given[name]!r} is outside it; {_BASELINE_ADVICE}"
            )
        else:
            problems.append(
                f"{name}: new parameter ({q.describe()}) active for {_trials(n)}, which have "
                f"no value for it; {_BASELINE_ADVICE}"
            )

    _compare_constraints(old, new, [cfg for cfg, _ in carried], changes, problems)
    return SpaceChange(
        compatible=not problems, changes=changes, problems=problems, defaults=resolved
    )


def carry_config(
    config: Mapping[str, Any], new: SearchSpace, defaults: Mapping[str, Any]
) -> Config:
    """An old trial's config expressed in the new space.

    Parameters the new space adds get their fixed value or their value from ``defaults``
    where they are active under the new space's conditions; parameters that are inactive in
    (or gone from) the new space are dropped. Keys follow the new space's order.

    Raises:
        SearchSpaceError: a parameter active for this config has neither a value in it nor a
            usable one in ``defaults``.
    """
    out, missing = _carry(config, new, defaults)
    if missing:
        name = missing[0]
        p = new.params[name]
        if name in defaults:
            raise SearchSpaceError(
                f"{name}: the default {defaults[name]!r} is outside the parameter "
                f"({p.describe()}); cannot carry config {dict(config)!r}"
            )
        raise SearchSpaceError(
            f"{name}: no value for this parameter ({p.describe()}) in config {dict(config)!r} "
            f"and none in the defaults; {_BASELINE_ADVICE}"
        )
    return out


# ------------------------------------------------------------------------------- helpers
def _carry(
    config: Mapping[str, Any], new: SearchSpace, defaults: Mapping[str, Any]
) -> tuple[Config, list[str]]:
    """(the carried config, names active in ``new`` that got no value)."""
    out: Config = {}
    missing: list[str] = []
    for name, p in new.params.items():
        if not new.is_active(name, out):
            continue
        if name in config:
            out[name] = config[name]
        elif name in defaults and p.contains(defaults[name]):
            out[name] = coerce(p, defaults[name])
        elif isinstance(p, Fixed):
            out[name] = p.value
        else:
            missing.append(name)
    return out, missing


def _trials(n: int) -> str:
    return f"{n} stored trial" + ("" if n == 1 else "s")


def _of(n: int, total: int) -> str:
    return f"{n} of {_trials(total)}"


def _when(p: Param) -> str:
    if not p.when:
        return "always active"
    return " and ".join(f"{k} in {list(v)!r}" for k, v in p.when.items())


def _same_when(p: Param, q: Param) -> bool:
    if set(p.when) != set(q.when):
        return False
    for parent, values in p.when.items():
        other = q.when[parent]
        if len(values) != len(other):
            return False
        if not all(any(_same(a, b) for b in other) for a in values):
            return False
    return True


def _bounds(p: Float | Int) -> str:
    return f"[{p.low!r}, {p.high!r}]"


def _compare_param(
    old: SearchSpace,
    new: SearchSpace,
    p: Param,
    q: Param,
    configs: Sequence[Mapping[str, Any]],
    changes: list[str],
    problems: list[str],
) -> None:
    name = p.name
    used = [c[name] for c in configs if name in c]
    if p.kind != q.kind:
        changes.append(f"{name}: kind changed from {p.describe()} to {q.describe()}")
        problems.append(
            f"{name}: kind changed from {p.kind} to {q.kind}, which affects {_trials(len(used))}"
            f" (the model would read their values on another scale or encoding)"
        )
        return
    if not _same_when(p, q):
        n = sum(1 for c in configs if old.is_active(name, c) or new.is_active(name, c))
        changes.append(f"{name}: condition changed from {_when(p)} to {_when(q)}")
        problems.append(
            f"{name}: condition changed from {_when(p)} to {_when(q)}, which affects "
            f"{_trials(n)} (when it is active decides what the old trials ran with)"
        )
    if isinstance(p, (Float, Int)) and isinstance(q, (Float, Int)):
        _compare_range(p, q, used, changes, problems)
    elif isinstance(p, Choice) and isinstance(q, Choice):
        _compare_choice(p, q, used, changes, problems)
    elif isinstance(p, Fixed) and isinstance(q, Fixed) and not _same(p.value, q.value):
        n = sum(1 for c in configs if old.is_active(name, c))
        changes.append(f"{name}: fixed value changed from {p.value!r} to {q.value!r}")
        problems.append(
            f"{name}: fixed value changed from {p.value!r} to {q.value!r}; {_trials(n)} ran "
            f"with {name}={p.value!r}"
        )


def _compare_range(
    p: Float | Int, q: Float | Int, used: list[Any], changes: list[str], problems: list[str]
) -> None:
    if p.low == q.low and p.high == q.high:
        return
    if q.low <= p.low and q.high >= p.high:
        how = "widened"
    elif q.low >= p.low and q.high <= p.high:
        how = "narrowed"
    else:
        how = "shifted"
    change = f"{p.name}: range {how} from {_bounds(p)} to {_bounds(q)}"
    changes.append(change)
    outside = [v for v in used if not q.contains(v)]
    if outside:
        shown = ", ".join(repr(v) for v in outside[:3])
        more = ", ..." if len(outside) > 3 else ""
        problems.append(
            f"{p.name}: range {how} from {_bounds(p)} to {_bounds(q)}, but "
            f"{_of(len(outside), len(used))} with a value for it lie outside the new range "
            f"{_bounds(q)} ({p.name} = {shown}{more})"
        )


def _compare_choice(
    p: Choice, q: Choice, used: list[Any], changes: list[str], problems: list[str]
) -> None:
    name = p.name
    added = [v for v in q.values if not p.contains(v)]
    removed = [v for v in p.values if not q.contains(v)]
    if added:
        changes.append(f"{name}: values {added!r} added")
    for v in removed:
        n = sum(1 for u in used if _same(u, v))
        if n:
            changes.append(f"{name}: value {v!r} removed")
            problems.append(
                f"{name}: value {v!r} removed, but {_trials(n)} used it (new values: "
                f"{list(q.values)!r})"
            )
        else:
            changes.append(f"{name}: value {v!r} removed (no stored trial used it)")
    strays = [u for u in used if not q.contains(u) and not any(_same(u, v) for v in removed)]
    if strays:
        problems.append(
            f"{name}: {_trials(len(strays))} have values outside {list(q.values)!r} "
            f"(e.g. {strays[0]!r})"
        )
    if p.modelled_as_ordered:
        kept = [v for v in p.values if q.contains(v)]
        if [q.canonical(v) for v in kept] != [v for v in q.values if p.contains(v)]:
            changes.append(f"{name}: values reordered to {list(q.values)!r}")
    if p.ordered != q.ordered:
        if p.modelled_as_ordered != q.modelled_as_ordered:
            model = "ordered" if q.modelled_as_ordered else "categorical"
            changes.append(f"{name}: now modelled as {model}")
            problems.append(
                f"{name}: ordered changed from {p.ordered!r} to {q.ordered!r}, so it is now "
                f"modelled as {model}; affects {_trials(len(used))}"
            )
        else:
            changes.append(f"{name}: ordered changed from {p.ordered!r} to {q.ordered!r}")


def _constraint_holds(c: Constraint, config: Mapping[str, Any]) -> bool:
    try:
        return c.holds(config)
    except (ArithmeticError, TypeError, ValueError):
        return False


def _compare_constraints(
    old: SearchSpace,
    new: SearchSpace,
    carried: list[Config],
    changes: list[str],
    problems: list[str],
) -> None:
    old_texts = {c.text for c in old.constraints}
    new_texts = {c.text for c in new.constraints}
    gone = [c for c in old.constraints if c.text not in new_texts]
    for c in new.constraints:
        if c.text in old_texts:
            continue
        was = next((g for g in gone if set(g.names) == set(c.names)), None)
        if was is not None:
            gone.remove(was)
            what = f"constraint {was.text!r} changed to {c.text!r}"
        else:
            what = f"constraint {c.text!r} added"
        changes.append(what)
        checked = [cfg for cfg in carried if all(n in cfg for n in c.names)]
        broken = [cfg for cfg in checked if not _constraint_holds(c, cfg)]
        if broken:
            example = ", ".join(f"{n}={broken[0][n]!r}" for n in c.names)
            problems.append(
                f"{what}, but {_of(len(broken), len(checked))} it applies to break it "
                f"(e.g. {example})"
            )
    for g in gone:
        changes.append(f"constraint {g.text!r} removed")
