"""How long the HTML report of a 200-trial experiment takes to build (target: under 15 s on
2 CPU cores).

The experiment: the seed document's 9-parameter MLP space (conditional momentum, two
``invalid_if`` rules) with an instant analytic objective that diverges at large learning
rates, 200 evaluated trials of quasi-random search (``method="random"``, so that making the
experiment is quick), stored in SQLite. Then, ``--repeats`` times, what ``bo-hpo report``
does: ``bo_hpo.load`` and ``write_report``, timed step by step: rebuilding the model from
the records (Ax replay), the model's views (the GP fit and one batched prediction for the
slices, one for the 25 x 25 contour), the plain data of the other sections, the HTML (plotly
figures) and writing the file; and, end to end, the ``bo-hpo report`` command in a fresh
process (its imports of Ax, torch and plotly included). The process is pinned to 2 cores
when the machine has more (the command's process inherits it).

Prints a markdown table; writes JSON to ``benchmarks/results/report_build.json``.

Usage::

    python benchmarks/report_build.py              # 200 trials, 3 repeats
    python benchmarks/report_build.py --trials 50 --repeats 1
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import logging
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bo_hpo  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "report_build.json"
TARGET_S = 15.0

SPACE = {
    "learning_rate": ("log_uniform", 1e-5, 1e-1),
    "batch_size": ("ordered", [32, 64, 128, 256]),
    "hidden_dim": ("ordered", [128, 256, 512, 1024]),
    "num_layers": ("ordered", [2, 3, 4, 6]),
    "dropout": ("uniform", 0.0, 0.5),
    "optimizer": ("choice", ["SGD", "Adam", "AdamW"]),
    "momentum": ("uniform", 0.0, 0.99, {"when": {"optimizer": ["SGD"]}}),
    "weight_decay": ("log_uniform", 1e-6, 1e-1),
    "epochs": ("fixed", 8),
}
BASELINE = {"learning_rate": 3e-4, "batch_size": 128, "hidden_dim": 512, "num_layers": 4,
            "dropout": 0.1, "optimizer": "AdamW", "weight_decay": 1e-2}


def is_valid(c: dict[str, Any]) -> bool:
    if c["hidden_dim"] >= 1024 and c["batch_size"] >= 256:
        return False
    return not (c["optimizer"] == "SGD" and c["learning_rate"] < 1e-4)


def objective(c: dict[str, Any]) -> tuple[float, float]:
    """A smooth stand-in for a validation error rate (about 0.1 at best)."""
    if c["learning_rate"] > 0.05:
        raise bo_hpo.TrialFailed("diverged", f"loss exploded at lr={c['learning_rate']:.3g}")
    value = (0.1 + 0.03 * (math.log10(c["learning_rate"]) + 3) ** 2
             + 0.005 * (math.log10(c["weight_decay"]) + 3) ** 2
             + {"SGD": 0.05, "Adam": 0.0, "AdamW": 0.01}[c["optimizer"]]
             + 0.02 * abs(math.log2(c["hidden_dim"]) - 9) + 0.05 * (c["dropout"] - 0.1) ** 2)
    return min(value, 0.9), 0.01


def pin_cores(n: int) -> int:
    """Run on ``n`` cores at most; returns how many this process may use."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) > n:
            os.sched_setaffinity(0, cpus[:n])
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux: report what there is
        return os.cpu_count() or 0


def make_experiment(store: str, trials: int) -> float:
    t = time.perf_counter()
    bo_hpo.tune(objective, SPACE, budget=trials, baseline=BASELINE, is_valid=is_valid,
                method="random", seed=0, store=store, name="report_bench",
                max_failures=trials)
    return time.perf_counter() - t


def build_once(store: str, out: Path) -> dict[str, float]:
    from bo_hpo.report import _plotly_js
    from bo_hpo.report.build import collect
    from bo_hpo.report.html import render

    steps: dict[str, float] = {}
    t0 = time.perf_counter()
    result = bo_hpo.load("report_bench", store=store)
    steps["load from the store"] = time.perf_counter() - t0
    t = time.perf_counter()
    data = collect(result)
    steps["rebuild the model (replay)"] = data.timings["fit"]
    steps["model views (GP fit + predictions)"] = data.timings["model views"]
    steps["other sections (plain data)"] = time.perf_counter() - t - data.timings["fit"] \
        - data.timings["model views"]
    t = time.perf_counter()
    page = render(data, _plotly_js())
    steps["HTML and plotly figures"] = time.perf_counter() - t
    t = time.perf_counter()
    out.write_text(page, encoding="utf-8")
    steps["write the file"] = time.perf_counter() - t
    steps["total"] = time.perf_counter() - t0
    steps["file MB"] = out.stat().st_size / 1e6
    return steps


def run_command(store: str, out: Path) -> float:
    """Seconds of ``bo-hpo report report_bench`` in a new Python process."""
    t = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "bo_hpo.cli", "report", "report_bench",
                           "--store", store, "-o", str(out)], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1])
    seconds = time.perf_counter() - t
    if done.returncode != 0:
        raise SystemExit(f"bo-hpo report failed:\n{done.stdout}{done.stderr}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    cores = pin_cores(2)
    with tempfile.TemporaryDirectory() as tmp:
        store = f"sqlite:///{Path(tmp) / 'bench.db'}"
        made = make_experiment(store, args.trials)
        result = bo_hpo.load("report_bench", store=store)
        counts: dict[str, int] = {}
        for r in result.records:
            counts[r.status] = counts.get(r.status, 0) + 1
        runs = [build_once(store, Path(tmp) / "report.html") for _ in range(args.repeats)]
        commands = [run_command(store, Path(tmp) / "cli.html") for _ in range(args.repeats)]
    median = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    command = statistics.median(commands)
    tally = ", ".join(f"{n} {s}" for s, n in counts.items())
    print(f"report of a {args.trials}-trial experiment ({tally}); {cores} cores; "
          f"median of {args.repeats}\n")
    print("| step | seconds |\n|---|---:|")
    for k, v in median.items():
        if k != "file MB":
            print(f"| {k} | {v:.2f} |")
    print(f"| `bo-hpo report` in a fresh process (imports included) | {command:.2f} |")
    verdict = "under" if command < TARGET_S else "OVER"
    print(f"\nfile: {median['file MB']:.1f} MB; making the experiment took {made:.0f} s; "
          f"the command is {verdict} the {TARGET_S:.0f} s target")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "benchmark": "report_build", "date": _dt.datetime.now().isoformat(timespec="seconds"),
        "python": platform.python_version(), "machine": platform.machine(),
        "processor": platform.processor(), "cores": cores, "trials": args.trials,
        "statuses": counts, "repeats": args.repeats, "make_experiment_s": made,
        "runs": runs, "median": median, "command_s": commands, "command_median_s": command,
        "target_s": TARGET_S, "under_target": command < TARGET_S,
    }, indent=2) + "\n")
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
