"""Asynchronous parallel tuning on a sleep-bound HPO-shaped problem: wall time at
parallelism 1, 2, 4 and 8, how much proposal time the workers hid, and what parallelism
costs in search quality at equal trial counts.

Each trial sleeps a fixed time (a stand-in for training) and returns a bare noisy float
from a synthetic problem of ``problems.py``, so the speed-up is bounded by the sleep, not
by these 2 cores. Regret is the noiseless loss of the recommended config minus the optimum.

    python benchmarks/parallel_speedup.py                       # 3 seeds, 30 trials, 1.5 s
    python benchmarks/parallel_speedup.py --seeds 5 --trials 40 --executor process
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import problems  # noqa: E402

import bo_hpo  # noqa: E402

PROBLEM = problems.optimizer_lr_wd()
SLEEP = float(os.environ.get("BO_HPO_BENCH_SLEEP", "1.5"))


def objective(config: dict) -> float:
    """Sleep like a training run, then one noisy measurement (seeded by the config, so a
    config gives the same draw whichever worker runs it)."""
    time.sleep(SLEEP)
    key = zlib.crc32(json.dumps(config, sort_keys=True).encode())
    mean, _sem = PROBLEM.observe(config, np.random.default_rng(key))
    return mean


def one(parallelism: int, seed: int, trials: int, executor: str | None) -> dict:
    t0 = time.perf_counter()
    result = bo_hpo.tune(objective, PROBLEM.space, budget=trials, seed=seed,
                         constraints=PROBLEM.constraints, parallelism=parallelism,
                         executor=executor if parallelism > 1 else None)
    wall = time.perf_counter() - t0
    proposal = sum(r.proposal_seconds for r in result.records)
    blocking = result.info.get("proposal_blocking_seconds", proposal)
    return {
        "parallelism": parallelism, "seed": seed, "wall_s": wall,
        "regret": PROBLEM.regret(result.best_config),
        "proposal_s": proposal, "blocking_proposal_s": blocking,
        "trials": sum(r.status in ("completed", "failed") for r in result.records),
        "fallbacks": sum(r.fallback is not None for r in result.records),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--levels", default="1,2,4,8")
    parser.add_argument("--executor", choices=["threads", "process"], default="threads")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" /
                                             "parallel_speedup.json"))
    args = parser.parse_args()
    executor = None if args.executor == "threads" else "process"
    levels = [int(x) for x in args.levels.split(",")]
    rows = []
    for seed in range(args.seeds):
        for k in levels:
            row = one(k, seed, args.trials, executor)
            rows.append(row)
            print(f"seed {seed} parallelism {k}: {row['wall_s']:.1f} s, regret "
                  f"{row['regret']:.4f}, proposals {row['proposal_s']:.1f} s of which the loop "
                  f"waited {row['blocking_proposal_s']:.1f} s", flush=True)
    by = {k: [r for r in rows if r["parallelism"] == k] for k in levels}
    base_wall = statistics.median(r["wall_s"] for r in by[levels[0]])
    base_regret = statistics.median(r["regret"] for r in by[levels[0]])
    print()
    print(f"{PROBLEM.name}, {args.trials} trials of {SLEEP:g} s each, {args.seeds} seeds, "
          f"executor {args.executor}")
    print("| parallelism | median wall s | speed-up | proposal s (median) | waited for "
          "proposals s | hidden | median regret | p90 regret | regret / p=1 |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    summary = []
    for k in levels:
        group = by[k]
        wall = statistics.median(r["wall_s"] for r in group)
        prop = statistics.median(r["proposal_s"] for r in group)
        waited = statistics.median(r["blocking_proposal_s"] for r in group)
        regrets = sorted(r["regret"] for r in group)
        median_regret = statistics.median(regrets)
        p90 = regrets[min(len(regrets) - 1, int(round(0.9 * (len(regrets) - 1))))]
        hidden = 1 - waited / prop if prop > 0 else 0.0
        ratio = median_regret / base_regret if base_regret > 0 else float("nan")
        summary.append({"parallelism": k, "median_wall_s": wall,
                        "speedup": base_wall / wall, "median_proposal_s": prop,
                        "median_waited_s": waited, "hidden_fraction": hidden,
                        "median_regret": median_regret, "p90_regret": p90,
                        "regret_ratio": ratio})
        print(f"| {k} | {wall:.1f} | {base_wall / wall:.2f}x | {prop:.1f} | {waited:.1f} | "
              f"{hidden:.0%} | {median_regret:.4f} | {p90:.4f} | {ratio:.2f} |")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "cpus": os.cpu_count(), "load": os.getloadavg()},
        "problem": PROBLEM.name, "sleep_s": SLEEP, "args": vars(args),
        "rows": rows, "summary": summary,
    }, indent=2) + "\n")
    print(f"written: {out}")


if __name__ == "__main__":
    main()
