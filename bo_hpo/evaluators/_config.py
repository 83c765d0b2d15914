"""Resolving and checking an evaluator's config dict: unknown keys are errors, not ignored."""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection, Mapping
from typing import Any

from bo_hpo.errors import ConfigError


def merge_defaults(
    config: Mapping[str, Any], defaults: Mapping[str, Any], evaluator: str
) -> dict[str, Any]:
    """Return ``defaults`` updated with ``config``; a key not in ``defaults`` is an error.

    Raises:
        ConfigError: ``config`` has a key the evaluator does not know (a typo, usually).
    """
    unknown = sorted(set(config) - set(defaults))
    if unknown:
        raise ConfigError(
            f"{evaluator}: config keys must be among {sorted(defaults)}, got unknown {unknown}"
        )
    return {**defaults, **config}


def as_int(cfg: Mapping[str, Any], key: str, *, low: int, high: int | None = None) -> int:
    """``cfg[key]`` as an int in ``[low, high]``; integral floats such as ``128.0`` are accepted."""
    value = cfg[key]
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{key} must be an integer, got {value!r}")
    if not float(value).is_integer():
        raise ConfigError(f"{key} must be an integer, got {value!r}")
    out = int(value)
    if out < low or (high is not None and out > high):
        bound = f"[{low}, {high}]" if high is not None else f">= {low}"
        raise ConfigError(f"{key} must be {bound}, got {value!r}")
    return out


def as_float(
    cfg: Mapping[str, Any],
    key: str,
    *,
    low: float,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``cfg[key]`` as a finite float in the given interval (closed unless ``*_open``)."""
    value = cfg[key]
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{key} must be a number, got {value!r}")
    out = float(value)
    too_low = out <= low if low_open else out < low
    too_high = high is not None and (out >= high if high_open else out > high)
    if not math.isfinite(out) or too_low or too_high:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        raise ConfigError(f"{key} must lie in {left}{low}, {high}{right}, got {value!r}")
    return out


def as_choice(cfg: Mapping[str, Any], key: str, choices: Collection[str]) -> str:
    """``cfg[key]`` matched case-insensitively to one of ``choices`` (returned as spelled there)."""
    value = cfg[key]
    lookup = {c.lower(): c for c in choices}
    if not isinstance(value, str) or value.lower() not in lookup:
        raise ConfigError(f"{key} must be one of {sorted(choices)}, got {value!r}")
    return lookup[value.lower()]
