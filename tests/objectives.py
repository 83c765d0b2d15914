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


def bowl(config: dict) -> float:
    """The same bowl without sleeping (``BO_HPO_TEST_SLEEP`` still applies if set)."""
    return slow(config)


def dies_once(config: dict) -> float:
    """Kills its own process on the first call (a worker lost mid-trial): the file named by
    ``BO_HPO_TEST_MARKER`` records that the death happened, so the retry completes."""
    import signal

    marker = os.environ["BO_HPO_TEST_MARKER"]
    try:  # atomic: of workers starting at once, exactly one dies
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return slow(config)
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    os.kill(os.getpid(), signal.SIGKILL)
    return slow(config)


def pid_then_sleep(config: dict) -> float:
    """Writes its pid next to the marker, then sleeps far past any test's timeout."""
    with open(os.environ["BO_HPO_TEST_MARKER"] + f".{os.getpid()}", "w") as f:
        f.write(str(os.getpid()))
    time.sleep(600)
    return 0.0


def visible_devices(config: dict) -> float:
    """The GPU index this worker was pinned to (-1: none), as the trial's value."""
    return float(os.environ.get("CUDA_VISIBLE_DEVICES", "-1"))
