"""Experiment files: one TOML per experiment, reviewed like code.

A file names an evaluator, a search space, constraints, ``invalid_if`` rules (the
``is_valid`` of the Python API, as strings), a baseline, a budget and evaluator options;
``[variants.NAME]`` tables override any of these for, say, a CPU-sized and a GPU-sized run::

    name = "mlp_fashion"
    evaluator = "mlp_fashion"
    seed = 0
    constraints = []
    invalid_if = ["hidden_dim >= 1024 and batch_size >= 256"]

    [space]
    learning_rate = ["log_uniform", 1e-5, 1e-1]

    [baseline]
    learning_rate = 3e-4

    [budget]
    max_trials = 20

    [evaluator_settings]
    trial_timeout = 300      # seconds; the evaluator stops itself past it
    data_dir = ""            # empty: the data shipped inside the package
"""

from __future__ import annotations

import logging
import math
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bo_hpo.budget import Budget
from bo_hpo.errors import ConfigError, SearchSpaceError
from bo_hpo.space import Rule, SearchSpace

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

logger = logging.getLogger(__name__)

_TOP_KEYS = {"name", "description", "evaluator", "seed", "constraints", "invalid_if", "space",
             "baseline", "budget", "variants", "evaluator_settings", "nightly", "minimize",
             "metric"}
_NIGHTLY_KEYS = {"max_trials", "max_seconds", "final_eval"}
_BUDGET_KEYS = {"max_trials", "max_seconds", "max_device_hours", "patience", "min_improvement"}
_EVALUATOR_KEYS = {"data_dir", "device", "trial_timeout", "final_eval"}
_FUNCTION_NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*")


@dataclass(frozen=True)
class ExperimentSpec:
    """A parsed, checked experiment file."""

    name: str
    evaluator: str
    space: SearchSpace
    rules: tuple[Rule, ...]
    baseline: dict[str, Any] | None
    budget: Budget
    seed: int
    data_dir: str | None = None
    device: str | None = None
    trial_timeout: float | None = None
    final_eval: bool = True
    variant: str | None = None
    path: Path | None = None
    description: str = ""
    variants: tuple[str, ...] = field(default_factory=tuple)
    nightly_budget: Budget | None = None  # each night's budget ([nightly]); None: [budget]
    nightly_final_eval: bool = False
    raw: dict[str, Any] = field(default_factory=dict)  # the file's tables, as written
    minimize: bool = True  # false: higher is better (a function of the user's only)
    metric: str | None = None  # which of a returned mapping's metrics is optimised

    def is_valid(self, config: Mapping[str, Any]) -> bool:
        """False when any ``invalid_if`` rule holds for ``config``."""
        return not any(rule(config) for rule in self.rules)

    def violated_rule(self, config: Mapping[str, Any]) -> str | None:
        return next((rule.text for rule in self.rules if rule(config)), None)


def load_experiment(path: str | Path, variant: str | None = None) -> ExperimentSpec:
    """Read and check an experiment file.

    Args:
        path: the TOML file.
        variant: a ``[variants.NAME]`` table to apply; ``None`` applies none.

    Raises:
        ConfigError: the file is missing, is not valid TOML, or a key is unknown or of the
            wrong type (the message names the key).
        SearchSpaceError: the space, constraints, rules or baseline are malformed.
    """
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"experiment file {str(path)!r} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"experiment file {str(path)!r} is a directory") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from None
    except RecursionError:
        raise ConfigError(
            f"{path}: arrays or tables are nested too deeply to read; an experiment file "
            f"needs a few levels at most"
        ) from None
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"{path}: not a UTF-8 text file (byte {err.start}: {err.reason}); TOML files "
            f"must be UTF-8"
        ) from None
    except OSError as err:
        raise ConfigError(f"experiment file {str(path)!r} cannot be read: {err.strerror}") from None
    return experiment_from_dict(raw, variant=variant, path=path)


def experiment_from_dict(
    raw: Mapping[str, Any], variant: str | None = None, path: Path | None = None
) -> ExperimentSpec:
    """Build an :class:`ExperimentSpec` from the parsed TOML mapping."""
    where = str(path) if path else "experiment"
    _no_unknown(raw, _TOP_KEYS, where, "top-level key")
    variants = raw.get("variants", {})
    _expect(variants, dict, where, "variants")
    for other, table in variants.items():  # every variant's keys, not only the one applied
        _merge(raw, table, f"{where}: [variants.{other}]")
    if variant is not None:
        if variant not in variants:
            raise ConfigError(
                f"{where}: variant {variant!r} is not defined; defined: {sorted(variants)}"
            )
        raw = _merge(raw, variants[variant], f"{where}: [variants.{variant}]")

    from bo_hpo.durable import check_name
    from bo_hpo.evaluators import available_evaluators, get_evaluator

    as_written = {k: v for k, v in raw.items()}
    evaluator = raw.get("evaluator")
    if isinstance(evaluator, str) and ":" in evaluator:
        if not _FUNCTION_NAME.fullmatch(evaluator):
            raise ConfigError(
                f"{where}: `evaluator` must be one of {list(available_evaluators())} or "
                f"'package.module:function' (dotted identifiers), got {evaluator!r}"
            )
        try:
            get_evaluator(evaluator)
        except ConfigError as err:
            raise ConfigError(f"{where}: `evaluator`: {err}") from None
    elif evaluator not in available_evaluators():
        raise ConfigError(
            f"{where}: `evaluator` must be one of {list(available_evaluators())} or "
            f"'package.module:function', got {evaluator!r}"
        )
    name = raw.get("name", path.stem if path else evaluator)
    _expect(name, str, where, "name")
    check_name(name, what=f"{where}: `name`")
    seed = raw.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise ConfigError(
            f"{where}: `seed` must be an integer from 0 to 2**63 - 1, got {seed!r}"
        )
    space_raw = raw.get("space")
    if not isinstance(space_raw, dict) or not space_raw:
        raise ConfigError(f"{where}: `[space]` must be a table with at least one parameter")
    constraints = raw.get("constraints", [])
    _expect_str_list(constraints, where, "constraints")
    from bo_hpo.space.loading import KINDS

    for key, entry in space_raw.items():
        if isinstance(entry, str) and entry in KINDS:
            logger.warning(
                "%s: [space] %s = %r is a fixed string that happens to be a kind's name; did "
                "you mean %s = [%r, low, high]?", where, key, entry, key, entry)
    try:
        space = SearchSpace(space_raw, constraints=constraints)
    except SearchSpaceError as err:
        raise SearchSpaceError(f"{where}: [space]: {err}") from None
    invalid_if = raw.get("invalid_if", [])
    _expect_str_list(invalid_if, where, "invalid_if")
    try:
        rules = tuple(Rule.parse(text) for text in invalid_if)
    except (ConfigError, SearchSpaceError) as err:  # which file and key, as for the rest
        raise type(err)(f"{where}: invalid_if: {err}") from None
    for rule in rules:
        unknown = rule.names - set(space.params)
        if unknown:
            raise SearchSpaceError(
                f"{where}: invalid_if rule {rule.text!r} names unknown parameter "
                f"{sorted(unknown)[0]!r}; known: {sorted(space.params)}"
            )
    baseline = raw.get("baseline")
    if baseline is not None:
        _expect(baseline, dict, where, "baseline")
        baseline = space.check_config(baseline, what=f"{where}: [baseline]")
        broken = next((r for r in rules if r(baseline)), None)
        if broken is not None:
            values = ", ".join(f"{k}={baseline[k]!r}" for k in sorted(broken.names)
                               if k in baseline)
            raise SearchSpaceError(f"{where}: [baseline] breaks invalid_if rule "
                                   f"{broken.text!r} ({values})")
    budget_raw = raw.get("budget", {"max_trials": 20})
    _expect(budget_raw, dict, where, "budget")
    _no_unknown(budget_raw, _BUDGET_KEYS, where, "key in [budget]")
    try:
        budget = Budget(**budget_raw)
    except ConfigError as err:
        raise ConfigError(f"{where}: [budget]: {err}") from None
    options = raw.get("evaluator_settings", {})
    _expect(options, dict, where, "evaluator_settings")
    _no_unknown(options, _EVALUATOR_KEYS, where, "key in [evaluator_settings]")
    data_dir = options.get("data_dir") or None
    if data_dir is not None:
        _expect(data_dir, str, where, "evaluator_settings.data_dir")
        if path is not None and not Path(data_dir).is_absolute():
            data_dir = str((path.parent / data_dir).resolve())
    device = options.get("device") or None
    if device is not None and (not isinstance(device, str)
                               or not re.fullmatch(r"cpu|cuda(:[0-9]+)?", device)):
        raise ConfigError(f"{where}: evaluator_settings.device must be 'cpu', 'cuda' or "
                          f"'cuda:N', got {device!r}")
    timeout = options.get("trial_timeout")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                or not math.isfinite(timeout) or timeout <= 0):
        raise ConfigError(f"{where}: evaluator_settings.trial_timeout must be a positive number "
                          f"of seconds, got {timeout!r}")
    final_eval = options.get("final_eval", True)
    _expect(final_eval, bool, where, "evaluator_settings.final_eval")
    if isinstance(evaluator, str) and ":" in evaluator:
        final_eval = False  # a plain function has no held-out set to score on
    nightly_raw = raw.get("nightly", {})
    _expect(nightly_raw, dict, where, "nightly")
    _no_unknown(nightly_raw, _NIGHTLY_KEYS, where, "key in [nightly]")
    nightly_final_eval = nightly_raw.get("final_eval", False)
    _expect(nightly_final_eval, bool, where, "nightly.final_eval")
    nightly_budget = None
    night_limits = {k: v for k, v in nightly_raw.items() if k != "final_eval"}
    if night_limits:
        try:
            nightly_budget = Budget(**night_limits)
        except ConfigError as err:
            raise ConfigError(f"{where}: [nightly]: {err}") from None
    description = raw.get("description", "")
    _expect(description, str, where, "description")
    minimize = raw.get("minimize", True)
    if not isinstance(minimize, bool):
        raise ConfigError(f"{where}: `minimize` must be true or false, got {minimize!r}")
    metric = raw.get("metric")
    if metric is not None and (not isinstance(metric, str) or not metric):
        raise ConfigError(f"{where}: `metric` must be the name of one returned metric, "
                          f"got {metric!r}")
    if ":" not in evaluator and (not minimize or metric is not None):
        key = "metric" if metric is not None else "minimize = false"
        raise ConfigError(f"{where}: `{key}` needs an evaluator of your own "
                          f"('package.module:function'); {evaluator!r} reports an error, "
                          f"which is minimised")
    if variant is None:  # a variant that is not applied now must load too
        for other in variants:
            try:
                experiment_from_dict(raw, variant=other, path=path)
            except (ConfigError, SearchSpaceError) as err:
                raise type(err)(f"{err} (with [variants.{other}] applied)") from None
    return ExperimentSpec(
        name=name, evaluator=evaluator, space=space, rules=rules, baseline=baseline,
        budget=budget, seed=seed, data_dir=data_dir, device=device,
        trial_timeout=None if timeout is None else float(timeout), final_eval=final_eval,
        variant=variant, path=path, description=description, variants=tuple(variants),
        nightly_budget=nightly_budget, nightly_final_eval=nightly_final_eval, raw=as_written,
        minimize=minimize, metric=metric,
    )


def _merge(base: Mapping[str, Any], override: Any, where: str) -> dict[str, Any]:
    if not isinstance(override, dict):
        raise ConfigError(f"{where} must be a table, got {override!r}")
    merged = {k: v for k, v in base.items() if k != "variants"}
    for key, value in override.items():
        if key not in _TOP_KEYS - {"variants"}:
            raise ConfigError(f"{where}: unknown key {key!r}; allowed: "
                              f"{sorted(_TOP_KEYS - {'variants'})}")
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def _no_unknown(table: Mapping[str, Any], allowed: set[str], where: str, what: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown {what} {unknown[0]!r}; allowed: {sorted(allowed)}")


def _expect(value: Any, kind: type, where: str, key: str) -> None:
    if not isinstance(value, kind):
        raise ConfigError(
            f"{where}: `{key}` must be a {'table' if kind is dict else kind.__name__}, got "
            f"{value!r}"
        )


def _expect_str_list(value: Any, where: str, key: str) -> None:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: `{key}` must be a list of strings, got {value!r}")
