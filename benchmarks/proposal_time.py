"""Seconds per GP proposal: with and without constraints, and as trials accumulate.

Four measurements, each printed as a table and written to ``--out`` (JSON, rewritten after
every part so an interrupted run keeps what it has):

* ``constraints``: the 9-parameter mixed space below (two log floats, an int, two ordered
  choices, a choice with a conditional float under it, two floats), without constraints
  and with ``warmup_frac + decay_frac <= 0.6`` and ``hidden_dim % num_heads == 0``. The
  same seeds, one proposal of each variant in turn (so machine load hits both alike); the
  median and max of the GP proposals (Sobol ones left out) and the best value each run
  found on a synthetic objective, as a sanity check on search quality.
  ``--constraint-space readme`` times the README's constraints example instead (its space
  has one discrete parameter left after the divisibility reparametrisation, so Ax
  enumerates the divisor's values, one constrained optimisation each).
* ``growth``: an ``AxProposer`` given N completed trials (random valid configs of the
  mixed space, synthetic values, attached through ``replay`` as a resumed run would be),
  then timed over ``--growth-proposals`` proposals, for each N in ``--growth-at``, with
  warm-started GP fits and cold ones (``--fit-start``), interleaved.
* ``optuna``: Optuna's ``GPSampler`` and bo_hpo on a 16-parameter mixed space
  (``high_dim_irrelevant`` from problems.py plus four more), given N completed trials,
  timed over a few ``ask``/proposals each, for each N in ``--optuna-at``.
* ``fitloss`` (only when named in ``--parts``): the final negative MLL per point of a
  warm-started chain of GP fits against cold fits on the same growing data.

Proposals run with bo_hpo's settings (one torch thread). The machine's load shows in the
numbers: compare only figures from one run.

    python benchmarks/proposal_time.py                    # constraints, growth, optuna
    python benchmarks/proposal_time.py --parts constraints --trials 30 --seeds 0,1,2
    python benchmarks/proposal_time.py --parts constraints --constraint-space readme
    python benchmarks/proposal_time.py --parts growth --growth-at 25,100,400
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from problems import high_dim_irrelevant  # noqa: E402

MIXED_SPACE: dict[str, Any] = {
    "lr": ("log_uniform", 1e-5, 1e-1),
    "weight_decay": ("log_uniform", 1e-6, 1e-1),
    "hidden_dim": ("int", 32, 512),
    "num_heads": ("ordered", [1, 2, 4, 8]),
    "batch_size": ("ordered", [16, 32, 64, 128, 256, 512]),
    "optimizer": ("choice", ["SGD", "Adam"]),
    "momentum": ("uniform", 0.0, 0.99, {"when": {"optimizer": ["SGD"]}}),
    "warmup_frac": ("uniform", 0.0, 0.5),
    "decay_frac": ("uniform", 0.0, 0.5),
}
MIXED_CONSTRAINTS = ["warmup_frac + decay_frac <= 0.6", "hidden_dim % num_heads == 0"]

#: The README's constraints example on a space a new user would write for it: after the
#: divisibility reparametrisation one discrete parameter (the divisor) is left, so Ax
#: enumerates its values, one constrained optimisation each.
README_SPACE: dict[str, Any] = {
    "lr": ("log_uniform", 1e-5, 1e-1),
    "warmup_frac": ("uniform", 0.0, 0.5),
    "decay_frac": ("uniform", 0.0, 0.9),
    "hidden_dim": ("int", 64, 1024),
    "num_heads": ("ordered", [1, 2, 4, 8, 16]),
    "epochs": ("fixed", 5),
}
README_CONSTRAINTS = ["warmup_frac + decay_frac <= 0.9", "hidden_dim % num_heads == 0"]

SPACE_16D: dict[str, Any] = {
    **high_dim_irrelevant().space,
    "label_smoothing": ("uniform", 0.0, 0.3),
    "hidden_dim": ("int", 32, 1024),
    "batch_size": ("ordered", [16, 32, 64, 128, 256]),
    "scheduler": ("choice", ["cosine", "linear", "step"]),
}


def mixed_objective(c: dict[str, Any]) -> float:
    """A smooth synthetic loss on the mixed space (minimum 0 near lr 1e-3, SGD m 0.9)."""
    q = 0.3 * (math.log10(c["lr"]) + 3) ** 2 + 0.05 * (math.log10(c["weight_decay"]) + 4) ** 2
    q += 0.2 * (math.log2(c["hidden_dim"]) - 8) ** 2 + 0.05 * (math.log2(c["batch_size"]) - 6) ** 2
    q += (c["warmup_frac"] - 0.1) ** 2 + (c["decay_frac"] - 0.4) ** 2
    q += 2 * (c["momentum"] - 0.9) ** 2 if c["optimizer"] == "SGD" else 0.05
    return q


def readme_objective(c: dict[str, Any]) -> float:
    """A smooth synthetic loss on the README's space (minimum 0 at lr 10^-3.5, warmup 0.3,
    decay 0.6 on the constraint's boundary, 384 wide, 8 heads)."""
    return ((math.log10(c["lr"]) + 3.5) ** 2 + (c["warmup_frac"] - 0.3) ** 2
            + (c["decay_frac"] - 0.6) ** 2 + (math.log10(c["hidden_dim"] / 384)) ** 2
            + 0.1 * (math.log2(c["num_heads"]) - 3) ** 2)


#: ``--constraint-space``: name -> (space, constraints, objective)
CONSTRAINT_SPACES: dict[str, tuple[dict[str, Any], list[str], Any]] = {
    "mixed": (MIXED_SPACE, MIXED_CONSTRAINTS, mixed_objective),
    "readme": (README_SPACE, README_CONSTRAINTS, readme_objective),
}


def objective_16d(c: dict[str, Any]) -> float:
    return high_dim_irrelevant().true(c) + 0.01 * (math.log2(c["hidden_dim"]) - 8) ** 2


def summary(seconds: list[float]) -> dict[str, Any]:
    if not seconds:
        return {"n": 0, "median": None, "max": None}
    return {"n": len(seconds), "median": statistics.median(seconds), "max": max(seconds)}


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    def fmt(v: Any) -> str:
        return f"{v:.2f}" if isinstance(v, float) else str(v)

    cells = [[fmt(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------- parts
def part_constraints(args: argparse.Namespace) -> dict[str, Any]:
    import bo_hpo
    from bo_hpo.propose import AxProposer

    space, constraints, objective = CONSTRAINT_SPACES[args.constraint_space]
    variants = {"unconstrained": [], "constrained": constraints}
    seconds: dict[str, list[float]] = {v: [] for v in variants}
    best: dict[str, list[float]] = {v: [] for v in variants}
    for seed in args.seeds:
        proposers = {v: AxProposer(bo_hpo.SearchSpace(space, c), seed=seed,
                                   proposal_timeout=None) for v, c in variants.items()}
        values: dict[str, list[float]] = {v: [] for v in variants}
        for i in range(args.trials):
            for v, proposer in proposers.items():  # interleaved: load hits both alike
                p = proposer.propose()
                value = objective(p.config)
                proposer.complete(p.ax_index, value, None)
                values[v].append(value)
                if p.generator == "gp":
                    seconds[v].append(p.seconds)
            log(f"constraints seed {seed} trial {i + 1}/{args.trials}")
        for v in variants:
            best[v].append(min(values[v]))
    rows = [{"variant": v, **summary(seconds[v]), "best_median": statistics.median(best[v])}
            for v in variants]
    u, c = rows[0]["median"], rows[1]["median"]
    print(f"\n== GP proposal seconds, {args.constraint_space} space, {args.trials} trials, "
          f"seeds {args.seeds}")
    print(table(rows, ["variant", "n", "median", "max", "best_median"]))
    if u and c:
        print(f"constrained / unconstrained median: {c / u:.2f}")
    return {"rows": rows, "seconds": seconds, "best": best,
            "ratio": (c / u) if u and c else None}


def _replayed_proposer(space_dict: dict[str, Any], constraints: list[str], objective: Any,
                       n: int, seed: int) -> Any:
    import bo_hpo
    from bo_hpo.propose import AxProposer
    from bo_hpo.trial import TrialRecord

    space = bo_hpo.SearchSpace(space_dict, constraints)
    rng = np.random.default_rng(seed)
    records = []
    for i in range(n):
        config = space.sample(rng)
        records.append(TrialRecord(trial=i, config=config, status="completed",
                                   generator="gp", mean=objective(config), sem=None))
    proposer = AxProposer(space, seed=seed, proposal_timeout=None)
    proposer.replay(records)
    return proposer


def _time_bo_hpo(proposer: Any, objective: Any, k: int) -> list[float]:
    seconds = []
    for _ in range(k):
        p = proposer.propose()
        proposer.complete(p.ax_index, objective(p.config), None)
        if p.generator == "gp":
            seconds.append(p.seconds)
    return seconds


def part_growth(args: argparse.Namespace) -> dict[str, Any]:
    """For each N and each fit start in ``--fit-start`` (interleaved, so that load hits
    all alike): replay N-1 trials, make one untimed proposal (completing trial N; a warm
    proposer's first fit is cold and leaves it the state a running search has), then time
    ``--growth-proposals`` proposals. ``amortised_s``: the mean a long run pays per
    proposal at N with warm starts, counting the cold refit every (growth-1)*N fits."""
    from bo_hpo import _ax, propose

    constraints = MIXED_CONSTRAINTS if args.growth_constrained else []
    starts = args.fit_start
    rows = []
    for n in args.growth_at:
        proposers, attach = {}, {}
        for start in starts:
            propose.SETTINGS = propose.ModelSettings(warm_start=start == "warm")
            t0 = time.perf_counter()
            proposers[start] = _replayed_proposer(MIXED_SPACE, constraints, mixed_objective,
                                                  n - 1, args.seeds[0])
            attach[start] = time.perf_counter() - t0
        propose.SETTINGS = propose.ModelSettings()
        seconds: dict[str, list[float]] = {start: [] for start in starts}
        for k in range(1 + args.growth_proposals):
            for start in starts:
                timed = _time_bo_hpo(proposers[start], mixed_objective, 1)
                if k:
                    seconds[start] += timed
        for start in starts:
            row = {"trials": n, "fit_start": start, **summary(seconds[start]),
                   "attach_s": attach[start], "seconds": seconds[start]}
            if start == "warm":
                fits = proposers[start]._warm.fits
                row["warm_fits"] = sum(f["warm"] for f in fits[-args.growth_proposals:])
            rows.append(row)
            log(f"growth N={n} {start}: {summary(seconds[start])} (attach {attach[start]:.1f} s)")
        by = {r["fit_start"]: r for r in rows[-len(starts):]}
        if "warm" in by and "cold" in by and by["warm"]["median"] and by["cold"]["median"]:
            period = max(1.0, (_ax.COLD_REFIT_GROWTH - 1) * n)
            by["warm"]["amortised_s"] = (by["cold"]["median"]
                                         + (period - 1) * by["warm"]["median"]) / period
            by["warm"]["speedup"] = by["cold"]["median"] / by["warm"]["median"]
        _write_partial(args, "growth", {"rows": rows})
    print(f"\n== GP proposal seconds against completed trials (mixed space, "
          f"{'constrained' if constraints else 'unconstrained'}, "
          f"{args.growth_proposals} proposals each, fit starts {','.join(starts)})")
    print(table(rows, ["trials", "fit_start", "n", "median", "max", "warm_fits",
                       "amortised_s", "speedup", "attach_s"]))
    return {"rows": rows, "constrained": bool(constraints)}


@contextlib.contextmanager
def _settings(variant: str) -> Iterator[None]:
    """bo_hpo's proposers inside use search_quality.py's ``VARIANTS[variant]``."""
    from search_quality import VARIANTS

    from bo_hpo import propose

    previous = propose.SETTINGS
    propose.SETTINGS = propose.ModelSettings(**VARIANTS[variant])
    try:
        yield
    finally:
        propose.SETTINGS = previous


def part_optuna(args: argparse.Namespace) -> dict[str, Any]:
    import optuna
    import torch
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    torch.set_num_threads(1)  # as bo_hpo's proposals run: the comparison is per thread
    dists = {}
    for name, spec in SPACE_16D.items():
        kind = spec[0]
        if kind in ("uniform", "log_uniform"):
            dists[name] = FloatDistribution(spec[1], spec[2], log=kind == "log_uniform")
        elif kind in ("int", "log_int"):
            dists[name] = IntDistribution(spec[1], spec[2], log=kind == "log_int")
        else:
            dists[name] = CategoricalDistribution(list(spec[1]))
    rows = []
    for n in args.optuna_at:
        import bo_hpo

        rng = np.random.default_rng(args.seeds[0])
        space = bo_hpo.SearchSpace(SPACE_16D)
        configs = [space.sample(rng) for _ in range(n)]
        study = optuna.create_study(sampler=optuna.samplers.GPSampler(seed=args.seeds[0]))
        study.add_trials([optuna.trial.create_trial(params=c, distributions=dists,
                                                    value=objective_16d(c)) for c in configs])
        seconds = []
        for _ in range(args.optuna_proposals):
            t0 = time.perf_counter()
            trial = study.ask(dists)
            seconds.append(time.perf_counter() - t0)
            study.tell(trial, objective_16d(trial.params))
        rows.append({"tool": "optuna_gp", "trials": n, **summary(seconds), "seconds": seconds})
        log(f"optuna N={n}: {summary(seconds)}")
        for variant in args.variants:
            tool = "bo_hpo" if variant == "default" else f"bo_hpo@{variant}"
            with _settings(variant):
                proposer = _replayed_proposer(SPACE_16D, [], objective_16d, n, args.seeds[0])
                seconds = _time_bo_hpo(proposer, objective_16d, args.optuna_proposals)
            rows.append({"tool": tool, "trials": n, **summary(seconds), "seconds": seconds})
            log(f"{tool} 16-D N={n}: {summary(seconds)}")
        _write_partial(args, "optuna", {"rows": rows})
    print(f"\n== Seconds per proposal, 16-parameter mixed space ({args.optuna_proposals} each)")
    print(table(rows, ["tool", "trials", "n", "median", "max"]))
    return {"rows": rows}


def part_fitloss(args: argparse.Namespace) -> dict[str, Any]:
    """The fit's quality, warm against cold: two proposers are given the same growing
    dataset (random valid configs, synthetic values plus noise sd 0.01); at each size in
    ``--fitloss-at`` both fit the GP (the fit behind predictions, the same as a proposal's)
    and the final negative marginal log likelihood per point (priors included, what
    L-BFGS-B minimises; lower is better) is read back. The warm proposer never refits cold
    (``growth=inf``), so its chain of warm starts runs from the first size to the last:
    the worst case for getting stuck. Both the mixed space and the 16-parameter one."""
    import bo_hpo
    from bo_hpo import _ax
    from bo_hpo.propose import AxProposer

    rows = []
    for space_name, space_dict, objective in (("mixed9", MIXED_SPACE, mixed_objective),
                                              ("mixed16", SPACE_16D, objective_16d)):
        space = bo_hpo.SearchSpace(space_dict)
        rng = np.random.default_rng(args.seeds[0])
        chains = {"warm": _ax.WarmStart(growth=math.inf, record_loss=True),
                  "cold": _ax.WarmStart(growth=0.0, record_loss=True)}
        proposers = {}
        for start, warm in chains.items():
            proposers[start] = AxProposer(space, seed=args.seeds[0], proposal_timeout=None)
            proposers[start]._warm = warm
        done = 0
        for n in args.fitloss_at:
            while done < n:
                config = space.sample(rng)
                value = objective(config) + 0.01 * float(rng.standard_normal())
                for proposer in proposers.values():
                    index = proposer.attach(config, generator="sobol").ax_index
                    proposer.complete(index, value, None)
                done += 1
            row: dict[str, Any] = {"space": space_name, "trials": n}
            for start, proposer in proposers.items():
                t0 = time.perf_counter()
                proposer._fitted_adapter(observer=False)  # a search fit: recorded
                row[f"{start}_s"] = time.perf_counter() - t0
                fit = chains[start].fits[-1]
                row[f"{start}_loss"] = fit["loss"]
                row[f"{start}_was_warm"] = fit["warm"]
            row["warm_minus_cold"] = row["warm_loss"] - row["cold_loss"]
            rows.append(row)
            log(f"fitloss {space_name} N={n}: {row}")
            _write_partial(args, "fitloss", {"rows": rows})
    print("\n== Final negative MLL per point, warm-started chain vs cold fit on the same data "
          "(lower is better)")
    shown = [{**r, **{k: f"{r[k]:.4f}" for k in ("warm_loss", "cold_loss",
                                                   "warm_minus_cold")}} for r in rows]
    print(table(shown, ["space", "trials", "warm_loss", "cold_loss", "warm_minus_cold",
                        "warm_was_warm", "warm_s", "cold_s"]))
    return {"rows": rows}


# ------------------------------------------------------------------------- main
_RESULTS: dict[str, Any] = {}


def _write_partial(args: argparse.Namespace, part: str, data: dict[str, Any]) -> None:
    _RESULTS[part] = data
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(_RESULTS, indent=1, default=str))


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", default="constraints,growth,optuna",
                        help="comma list of constraints, growth, optuna, fitloss")
    parser.add_argument("--seeds", type=_ints, default=[0, 1])
    parser.add_argument("--trials", type=int, default=30,
                        help="trials per run in the constraints part")
    parser.add_argument("--constraint-space", choices=sorted(CONSTRAINT_SPACES), default="mixed",
                        help="constraints part: the mixed space (its own constraints) or the "
                             "README's constraints example")
    parser.add_argument("--growth-at", type=_ints, default=[25, 50, 100, 200, 400, 700, 1000])
    parser.add_argument("--growth-proposals", type=int, default=3)
    parser.add_argument("--fit-start", type=lambda t: [x for x in t.split(",") if x],
                        default=["warm", "cold"],
                        help="growth part: GP fits warm-started (bo_hpo's default), cold "
                             "(Ax's), or both interleaved (default)")
    parser.add_argument("--growth-constrained", action="store_true",
                        help="the growth part on the constrained mixed space")
    parser.add_argument("--fitloss-at", type=_ints,
                        default=[10, 15, 20, 30, 40, 60, 80, 100, 150, 200, 300])
    parser.add_argument("--optuna-at", type=_ints, default=[25, 50, 100])
    parser.add_argument("--optuna-proposals", type=int, default=3)
    parser.add_argument("--variants", type=lambda t: [x for x in t.split(",") if x],
                        default=["default"],
                        help="bo_hpo settings timed in the optuna part, by name in "
                             "search_quality.py's VARIANTS (e.g. default,init30)")
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parent / "results" / "proposal_time.json")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    if not args.verbose:
        logging.disable(logging.WARNING)
    import torch

    _RESULTS["meta"] = {
        "argv": sys.argv[1:], "python": platform.python_version(), "torch": torch.__version__,
        "cpus": os.cpu_count(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "finished": False,
    }
    parts = {"constraints": part_constraints, "growth": part_growth, "optuna": part_optuna,
             "fitloss": part_fitloss}
    for name in args.parts.split(","):
        _write_partial(args, name, parts[name](args))
    _RESULTS["meta"]["finished"] = True
    _write_partial(args, "meta", _RESULTS["meta"])
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
