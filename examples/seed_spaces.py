"""The search-space document's examples, run through bo_hpo as written.

    python examples/seed_spaces.py mlp           # 40 GP trials, the seed's is_valid, baseline
    python examples/seed_spaces.py transformer   # 200 proposals under hidden_dim % num_heads == 0

The objective is synthetic (a noisy bowl shaped like an MLP's validation error), so the
run takes about a minute on a laptop CPU and shows the loop, not a network.
"""

from __future__ import annotations

import math
import sys

import numpy as np

import bo_hpo

MLP_SPACE = {
    "learning_rate": ("log_uniform", 1e-5, 1e-1),
    "batch_size":    ("ordered", [32, 64, 128, 256]),
    "hidden_dim":    ("ordered", [128, 256, 512, 1024]),
    "num_layers":    ("ordered", [2, 3, 4, 6]),
    "dropout":       ("uniform", 0.0, 0.5),
    "optimizer":     ("choice", ["SGD", "Adam", "AdamW"]),
    "momentum":      ("uniform", 0.0, 0.99, {"when": {"optimizer": ["SGD"]}}),
    "weight_decay":  ("log_uniform", 1e-6, 1e-1),
}

BASELINE = {  # the document's baseline_config
    "learning_rate": 3e-4, "batch_size": 128, "hidden_dim": 512, "num_layers": 4,
    "dropout": 0.1, "optimizer": "AdamW", "weight_decay": 1e-2,
}


def is_valid(config):  # the document's is_valid, as written
    if config["hidden_dim"] >= 1024 and config["batch_size"] >= 256:
        return False
    if config["optimizer"] == "SGD" and config["learning_rate"] < 1e-4:
        return False
    return True


def mlp() -> None:
    rng = np.random.default_rng(0)
    evaluated = []

    def validation_error(config):
        evaluated.append(config)
        best_lr = {"SGD": 3e-2, "Adam": 1e-3, "AdamW": 2e-3}[config["optimizer"]]
        err = 0.10 + 0.05 * (math.log10(config["learning_rate"] / best_lr)) ** 2
        err += 0.1 * (config["dropout"] - 0.15) ** 2
        err += 0.01 * abs(math.log2(config["hidden_dim"] / 512))
        err += 0.005 * (math.log10(config["weight_decay"]) + 3) ** 2
        if config["optimizer"] == "SGD":
            err += 0.05 * (config["momentum"] - 0.9) ** 2 - 0.01
        sem = 0.005
        return err + rng.normal(0, sem), sem

    result = bo_hpo.tune(validation_error, MLP_SPACE, baseline=BASELINE, is_valid=is_valid,
                         budget=bo_hpo.Budget(max_trials=40, max_seconds=3600), seed=0)
    print(result.summary())
    statuses = result.trials["status"].value_counts().to_dict()
    print(f"statuses: {statuses}")
    print(f"invalid configurations evaluated: {sum(not is_valid(c) for c in evaluated)}")
    print(f"momentum passed without SGD: "
          f"{sum('momentum' in c and c['optimizer'] != 'SGD' for c in evaluated)}")
    seconds = result.trials["proposal_seconds"]
    print(f"proposal seconds: median {seconds.median():.2f}, max {seconds.max():.2f}")


def transformer() -> None:
    heads = [1, 2, 3, 4, 6, 8, 12, 16]
    space = bo_hpo.SearchSpace(
        {"hidden_dim": ("int", 64, 1024), "num_heads": ("choice", heads)},
        constraints=["hidden_dim % num_heads == 0"],
    )
    seen = []
    bo_hpo.tune(lambda c: seen.append(c) or 0.0, space, budget=200, method="random", seed=0)
    pairs = {(c["hidden_dim"], c["num_heads"]) for c in seen}
    dims = [c["hidden_dim"] for c in seen]
    print(f"proposals: {len(seen)}, infeasible: "
          f"{sum(c['hidden_dim'] % c['num_heads'] != 0 for c in seen)}, "
          f"out of bounds: {sum(not 64 <= d <= 1024 for d in dims)}")
    print(f"distinct pairs: {len(pairs)} of {space.size()} feasible; hidden_dim from "
          f"{min(dims)} to {max(dims)}; heads used: "
          f"{sorted({c['num_heads'] for c in seen})}")


if __name__ == "__main__":
    {"mlp": mlp, "transformer": transformer}[sys.argv[1] if len(sys.argv) > 1 else "mlp"]()
