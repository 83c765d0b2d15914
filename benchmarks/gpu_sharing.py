"""Trials per hour when several MLP trials share one GPU, against one trial at a time.

Tunes the ``mlp_fashion`` experiment (``experiments/mlp_fashion.toml``: the seed's MLP
space, its rules, 8 epochs) with the process executor at each parallelism: ``k`` spawned
workers, all pinned to the same GPU when the machine has one. The seeded random method makes
every parallelism train the same configs, so the throughput ratio compares like with like
(the GP's proposals would differ with the order trials finish in). Wall time counts worker
start-up and each worker's data load, as a user's run would; so does each worker's first
trial time, which lifts "med trial s" when there are few trials per worker.

    python benchmarks/gpu_sharing.py --data-dir ../shared/data/fashion-mnist     # on a GPU
    python benchmarks/gpu_sharing.py --trials 4 --parallel 1,2 --epochs 1        # CPU smoke
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import bo_hpo  # noqa: E402
from bo_hpo.executors.process import EvaluatorObjective, ProcessExecutor  # noqa: E402
from bo_hpo.experiment import load_experiment  # noqa: E402
from bo_hpo.space import Fixed  # noqa: E402


def one(spec, parallelism: int, trials: int, data_dir: str | None, seed: int) -> dict:
    objective = EvaluatorObjective(spec.evaluator, data_dir=data_dir, seed=seed, device=None,
                                   time_limit=None)
    executor = ProcessExecutor(workers=parallelism)
    t0 = time.perf_counter()
    result = bo_hpo.tune(objective, spec.space, budget=trials, is_valid=spec.is_valid,
                         method="random", seed=seed, executor=executor,
                         parallelism=parallelism, trial_timeout=600)
    wall = time.perf_counter() - t0
    done = [r for r in result.records if r.status == "completed"]
    return {
        "parallelism": parallelism,
        "workers": sorted({r.worker for r in result.records if r.worker}),
        "wall_s": wall,
        "completed": len(done),
        "failed": sum(r.status == "failed" for r in result.records),
        "failures": [{"trial": r.trial, "reason": r.reason, "detail": (r.detail or "")[:300]}
                     for r in result.records if r.status == "failed"],
        "trials_per_hour": len(done) / wall * 3600,
        "median_trial_s": statistics.median(r.eval_seconds for r in done) if done else None,
        "sum_trial_s": sum(r.eval_seconds for r in done),
        "best_val_error": min(r.mean for r in done) if done else None,
        "configs": sorted(json.dumps(r.config, sort_keys=True) for r in done),
        "peak_memory_bytes": [r.metadata.get("peak_memory_bytes") for r in done],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None,
                        help="Fashion-MNIST idx files (default: the subset in the package)")
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--parallel", default="1,2,4", help="comma-separated parallelisms")
    parser.add_argument("--epochs", type=int, default=None,
                        help="override the experiment's fixed epochs (smoke runs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).parent / "results" / "gpu_sharing.json")
    args = parser.parse_args(argv)

    spec = load_experiment(ROOT / "experiments" / "mlp_fashion.toml")
    if args.epochs is not None:
        params = dict(spec.space.params, epochs=Fixed("epochs", args.epochs))
        spec = dataclasses.replace(spec, space=bo_hpo.SearchSpace(params, spec.space.constraints))
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    rows = [one(spec, int(k), args.trials, args.data_dir, args.seed)
            for k in args.parallel.split(",")]
    base = rows[0]["trials_per_hour"]
    same = all(r["configs"] == rows[0]["configs"] for r in rows)
    print(f"device={gpu or 'cpu'} cores={os.cpu_count()} trials={args.trials} "
          f"data={'full' if args.data_dir else 'subset'} same configs at every parallelism: {same}")
    print(f"{'parallel':>8} {'done':>5} {'wall s':>8} {'trials/h':>9} {'x serial':>8} "
          f"{'med trial s':>11} {'best err':>9}")
    for r in rows:
        print(f"{r['parallelism']:8d} {r['completed']:5d} {r['wall_s']:8.1f} "
              f"{r['trials_per_hour']:9.0f} {r['trials_per_hour'] / base:8.2f} "
              f"{r['median_trial_s'] or float('nan'):11.2f} "
              f"{r['best_val_error'] if r['best_val_error'] is not None else float('nan'):9.4f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    env = {"gpu": gpu, "torch": torch.__version__, "cores": os.cpu_count(),
           "python": platform.python_version(), "data_dir": args.data_dir}
    args.out.write_text(json.dumps({"env": env, "same_configs": same, "rows": rows}, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
