"""An objective for the three-night experiment file (``evaluator =
"report_objectives:bowl"``): a bowl in ``lr`` (best near 1e-3) that diverges above 0.03, a
``warmup`` whose best value lies past the top of its range, an ``optimizer`` that matters
and a ``dropout`` that hardly does."""

from __future__ import annotations

import math

from bo_hpo import TrialFailed


def bowl(config: dict) -> tuple[float, float]:
    lr = config["lr"]
    if lr > 0.03:
        raise TrialFailed("diverged", f"loss exploded at lr={lr:.3g}")
    value = (0.1 + 0.05 * (math.log10(lr) + 3) ** 2 + 2.0 * (config["warmup"] - 0.3) ** 2
             + 0.001 * config["dropout"] + (0.0 if config["optimizer"] == "adam" else 0.04))
    return value, 0.002
