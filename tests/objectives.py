"""Importable objectives for experiment files in tests (``evaluator = "objectives:slow"``).

They read their knobs from the environment so that a subprocess can be steered: the
seconds one trial sleeps (``BO_HPO_TEST_SLEEP``).
"""

from __future__ import annotations

import math
import os
import time


def slow(config: dict) -> float:
    """A smooth 3-parameter bowl that sleeps first, so a kill lands mid-trial."""
    time.sleep(float(os.environ.get("BO_HPO_TEST_SLEEP", "0.5")))
    return (math.log10(config["lr"]) + 3) ** 2 + (config["dropout"] - 0.2) ** 2 + (
        0.0 if config["optimizer"] == "adam" else 0.3)
