"""The report's advice as a new experiment file: ``bo-hpo refine NAME -o FILE.toml``.

The original file's tables (read from its path, or as stored when the file is gone) are kept;
the parameters the advice names get their new ranges (or are fixed), the recommendation
becomes the baseline, and the experiment gets a new name (``NAME_refined``), so running it
starts a new experiment rather than changing the stored one. Every change is checked the way
``bo-hpo check`` checks a file; one that would not pass is left out and said so.
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bo_hpo.errors import BoHpoError, ConfigError
from bo_hpo.report.advice import Advice
from bo_hpo.report.data import fmt
from bo_hpo.space import Rule

#: Top-level keys in the order a person reads a file.
_ORDER = ("name", "description", "evaluator", "seed", "constraints", "invalid_if", "space",
          "baseline", "budget", "nightly", "evaluator_settings", "variants")


@dataclass
class Refined:
    """A refined experiment: its TOML text, the changes made and the ones left out."""

    name: str
    text: str
    applied: list[Advice]
    skipped: list[tuple[Advice, str]] = field(default_factory=list)


def refine_experiment(raw: Mapping[str, Any], advice: Sequence[Advice],
                      recommended: Mapping[str, Any], *, source: str,
                      trials: int | None = None, path: Path | None = None) -> Refined:
    """Apply ``advice`` to an experiment file's tables and render the new file.

    Args:
        raw: the original file's tables (as ``tomllib`` reads them).
        advice: from :func:`bo_hpo.report.advice.advise`; notes are kept as comments.
        recommended: the recommended config, which becomes the baseline.
        source: what it was refined from, for the header comment (the experiment's name).
        trials: how many trials the advice rests on, for the header comment.
        path: where the file will be written (a relative ``data_dir`` is made absolute
            when the original file's location is known).

    Raises:
        ConfigError: the original tables themselves do not load.
    """
    from bo_hpo.experiment import experiment_from_dict

    try:
        original = experiment_from_dict(raw)
    except BoHpoError as err:
        raise ConfigError(f"refine: the original experiment does not load: {err}") from None
    new = copy.deepcopy(dict(raw))
    new["name"] = f"{original.name}_refined"
    notes: dict[str, str] = {}
    applied: list[Advice] = []
    skipped: list[tuple[Advice, str]] = []
    base = {k: v for k, v in recommended.items() if k in original.space.params}
    trial_new = copy.deepcopy(new)
    trial_new["baseline"] = dict(base)
    baseline_item = next((a for a in advice if a.kind == "baseline"), None)
    if baseline_item is not None:
        error = _check(trial_new, path)
        if error is None:
            new, applied = trial_new, [baseline_item]
        else:
            skipped.append((baseline_item, error))
    for item in advice:
        if item.kind in ("note", "baseline") or item.param is None or item.new is None:
            continue
        candidate = _apply(new, original.space, item, recommended)
        error = _check(candidate, path)
        if error is None:
            new = candidate
            applied.append(item)
            notes[item.param] = _was(raw["space"].get(item.param)) + item.kind
        else:
            skipped.append((item, error))
    header = [f"Refined from experiment {source!r} by `bo-hpo refine` on "
              f"{time.strftime('%Y-%m-%d')}" + (f", after {trials} trials." if trials else ".")]
    header += [f"- {a.message}" for a in applied]
    header += [f"- (not applied) {a.message} ({why})" for a, why in skipped]
    header += [f"- (note) {a.message}" for a in advice if a.kind == "note"]
    return Refined(new["name"], dumps(new, header=header, comments=notes), applied, skipped)


def _apply(raw: Mapping[str, Any], space: Any, item: Advice,
           recommended: Mapping[str, Any]) -> dict[str, Any]:
    """``raw`` with ``item``'s new entry for its parameter; fixing a condition's parent
    makes its children unconditional (the baseline then needs a value for them: the
    recommendation's, else the middle of the range) or drops them, with their rules, when
    they can never be active."""
    new = copy.deepcopy(dict(raw))
    name = item.param
    assert name is not None and item.new is not None
    p = space.params[name]
    entry = list(item.new)
    if p.when:
        entry.append({"when": {k: list(v) for k, v in p.when.items()}})
    new["space"] = dict(new["space"])
    new["space"][name] = entry
    baseline = dict(new.get("baseline") or {})
    if entry[0] == "fixed":
        baseline.pop(name, None)
        for child, q in space.params.items():
            if name not in q.when:
                continue
            if any(_same(entry[1], v) for v in q.when[name]):
                new["space"][child] = _without_parent(new["space"][child], name)
                if baseline and child not in baseline:
                    baseline[child] = recommended.get(child, _middle(q))
            else:
                new["space"].pop(child, None)
                baseline.pop(child, None)
                new["invalid_if"] = [r for r in new.get("invalid_if", [])
                                     if child not in Rule.parse(r).names]
    if baseline:
        new["baseline"] = baseline
    return new


def _middle(p: Any) -> Any:
    from bo_hpo.report.model import middle

    return middle(p)


def _without_parent(entry: Any, parent: str) -> Any:
    if isinstance(entry, list) and entry and isinstance(entry[-1], dict):
        options = copy.deepcopy(entry[-1])
        when = dict(options.get("when", {}))
        when.pop(parent, None)
        head = list(entry[:-1])
        if when:
            options["when"] = when
            return head + [options]
        options.pop("when", None)
        return head + ([options] if options else [])
    if isinstance(entry, dict):
        out = copy.deepcopy(entry)
        when = dict(out.get("when", {}))
        when.pop(parent, None)
        if when:
            out["when"] = when
        else:
            out.pop("when", None)
        return out
    return entry


def _same(a: Any, b: Any) -> bool:
    from bo_hpo.space.params import _same as same

    return same(a, b)


def _check(raw: Mapping[str, Any], path: Path | None) -> str | None:
    """``None`` when ``raw`` loads as ``bo-hpo check`` loads a file (every variant too) and
    the evaluator accepts both ends of every range; else the reason."""
    from bo_hpo.experiment import experiment_from_dict

    try:
        text = dumps(raw)
        import sys

        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover
            import tomli as tomllib
        parsed = tomllib.loads(text)
        spec = experiment_from_dict(parsed, path=path)
        for variant in spec.variants:
            experiment_from_dict(parsed, variant=variant, path=path)
        _evaluator_accepts(spec)
    except BoHpoError as err:
        return str(err)
    return None


def _evaluator_accepts(spec: Any) -> None:
    from bo_hpo.evaluators import get_evaluator
    from bo_hpo.space import Choice, Fixed

    try:
        evaluator = get_evaluator(spec.evaluator)
    except ConfigError:
        return  # a function that cannot be imported here: `bo-hpo check` says so itself
    base = dict(spec.baseline or {})
    for name, p in spec.space.params.items():
        values = p.values_list() if isinstance(p, (Choice, Fixed)) else [p.low, p.high]
        for value in values:
            evaluator.check_config({**base, name: value})


def _was(entry: Any) -> str:
    if isinstance(entry, list) and len(entry) >= 2:
        if entry[0] in ("choice", "ordered"):
            return f"was {_value(entry[1])}: "
        if len(entry) >= 3 and not isinstance(entry[1], (list, dict)):
            return f"was [{fmt(entry[1])}, {fmt(entry[2])}]: "
    if isinstance(entry, dict) and "low" in entry:
        return f"was [{fmt(entry['low'])}, {fmt(entry['high'])}]: "
    return f"was {_value(entry)}: " if entry is not None else ""


# --------------------------------------------------------------------------- TOML out
def dumps(raw: Mapping[str, Any], header: Sequence[str] = (),
          comments: Mapping[str, str] | None = None) -> str:
    """An experiment's tables as TOML text (the subset experiment files use): scalars,
    lists and inline tables; ``[variants.NAME]`` as tables of their own. ``comments`` puts a
    comment after a ``[space]`` entry."""
    comments = comments or {}
    lines = [f"# {_one_line(h)}" for h in header]
    if lines:
        lines.append("")
    keys = [k for k in _ORDER if k in raw] + [k for k in raw if k not in _ORDER]
    for key in keys:
        if not isinstance(raw[key], Mapping):
            lines.append(f"{_key(key)} = {_value(raw[key])}")
    for key in keys:
        value = raw[key]
        if not isinstance(value, Mapping):
            continue
        if key == "variants":
            for vname, vtable in value.items():
                lines += ["", f"[variants.{_key(vname)}]"]
                lines += [f"{_key(k)} = {_value(v)}" for k, v in vtable.items()]
            continue
        lines += ["", f"[{_key(key)}]"]
        for k, v in value.items():
            line = f"{_key(k)} = {_value(v)}"
            if key == "space" and k in comments:
                line += f"   # {_one_line(comments[k])}"
            lines.append(line)
    return "\n".join(lines) + "\n"


def _one_line(text: str) -> str:
    """A comment stays one line whatever a value held (a newline would start TOML)."""
    return " ".join(str(text).splitlines())


def _key(key: str) -> str:
    bare = key and all(c.isalnum() and c.isascii() or c in "_-" for c in key)
    return key if bare else json.dumps(key, ensure_ascii=False)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # JSON's escapes are TOML's
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }" \
            if value else "{}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if value is None:
        raise ConfigError("refine: TOML has no null; a value of None cannot be written")
    if hasattr(value, "item"):
        return _value(value.item())
    raise ConfigError(f"refine: cannot write {value!r} of type {type(value).__name__} to TOML")


def original_tables(result: Any, store: str | None = None) -> dict[str, Any]:
    """The experiment file's tables: from the file the run was started with when it still
    exists, else as the store kept them.

    Raises:
        ConfigError: the experiment was created from Python (it has no file to refine).
    """
    import sys

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    info = result.info or {}
    path = info.get("experiment_file")
    if path and Path(path).is_file():
        try:
            return tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
            pass  # edited or broken since the run: use what the store kept
    name = info.get("name")
    if not name or info.get("source") not in (None, "file"):
        raise ConfigError(
            f"refine: experiment {name!r} was created from Python and has no experiment file; "
            f"the report's advice lists the ranges to change")
    from bo_hpo.runner import spec_from_store

    spec, _ = spec_from_store(name, store or info.get("store"))
    return dict(spec.raw)


def refine_result(result: Any, *, store: str | None = None, path: Path | None = None,
                  predict: Any = True) -> Refined:
    """The advice of ``result``'s report as a refined experiment file (text, not written).

    Args:
        result: a stored experiment's result (``bo_hpo.load``) started from a file.
        store: the store's URL, to read the stored file when the original is gone.
        path: where the file will be written (see :func:`refine_experiment`).
        predict: ``True`` fits the model for the importance; ``None`` advises without it
            (no parameter is then fixed); or a callable as in :mod:`bo_hpo.report.model`.

    Raises:
        ConfigError: no recommendation yet, or the experiment has no file (made in Python).
    """
    from bo_hpo.report.advice import advise, baseline_advice
    from bo_hpo.report.model import fit_predictor, model_view

    if result.recommendation_source == "none" or result.space is None:
        raise ConfigError("refine: no trial has completed, so there is nothing to refine yet")
    raw = original_tables(result, store)
    if predict is True:
        predict = fit_predictor(result)
    view = model_view(result.space, result.best_config, result.records, predict or None)
    importance = ({n: share for n, share, _ in view.importance} if view.available else None)
    advice = advise(result.space, result.records, result.best_config, importance,
                    result.minimize)
    if any(a.kind != "note" for a in advice):
        advice.append(baseline_advice(result.best_config, result.best_trial))
    completed = sum(r.status == "completed" for r in result.records)
    return refine_experiment(raw, advice, result.best_config,
                             source=str((result.info or {}).get("name")), trials=completed,
                             path=path)
