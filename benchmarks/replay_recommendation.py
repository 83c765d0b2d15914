"""Replay stored bo_hpo runs with another model for the recommendation only.

A search-quality run records every trial's configuration in order, and the benchmark's noise
is a seeded stream (``search_quality._child_main``), so each trial's observed value can be
drawn again exactly. This script rebuilds each run's data at each checkpoint, refits the
recommendation's GP under a ``ModelSettings`` variant (``search_quality.VARIANTS``) and
recommends, as ``tune()`` does, the evaluated configuration with the best predicted mean. The
search is the recorded one, so a variant that changes only the recommendation is measured at
the cost of a few fits per run, on every problem, with no new search.

Every variant is compared with ``default`` replayed the same way (a cold fit on the same data;
the live run's warm-started fit can pick another trial now and then, so the script also
counts how often the replayed default repeats the recorded recommendation), pairing seeds,
by the benchmark's rule (``search_quality.verdict_table``: a 90% bootstrap interval of the
difference of medians). Infeasible trials are left out of the replayed data.

    python benchmarks/replay_recommendation.py --problem hetero_noise_trap \\
        --files results/hetero_noise_trap_100_newdefault_209ae97.json --variants default,hetero
    python benchmarks/replay_recommendation.py --manifest benchmarks/current_table.json \\
        --problems branin_log,sgd_momentum --variants default,hetero --checkpoints 50,100
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from problems import active_config, get_problem, is_active, spec_kind  # noqa: E402
from search_quality import VARIANTS, _fmt, verdict_table  # noqa: E402
from summarize import finished_runs, manifest_runs  # noqa: E402


def observations(problem: Any, run: dict[str, Any]) -> list[tuple[dict, float | None, Any]]:
    """``(config, observed value or None if infeasible, recorded true value)`` per trial,
    the noise drawn from the run's stream again, in the run's order."""
    pkey = zlib.crc32(problem.name.encode())
    rng = np.random.default_rng([run["seed"], pkey, 20240])
    out = []
    for t in sorted(run["trials"], key=lambda t: t["i"]):
        if not t["feasible"]:  # the benchmark's objective raised before drawing noise
            out.append((t["config"], None, None))
            continue
        mean, _sem = problem.observe(t["config"], rng)
        out.append((t["config"], mean, t.get("true")))
    return out


#: the current run's fits, kept for the variants that differ from another only in the pick
_FITS: dict[tuple, tuple[list, Any]] = {}


def split_variant(variant: str) -> tuple[str, float, str | None]:
    """``"NAME"`` or ``"NAME/RULE"``: a ``VARIANTS`` entry, the pick's pessimism ``K`` and
    the SEM the fit is given. Rules:

    - ``kK``: the evaluated configuration with the lowest predicted mean plus ``K``
      posterior standard deviations (``K = 0``, the best predicted mean, is what ``tune()``
      does);
    - ``sem``: the fit is given each trial's true noise sd as its SEM, which the bare-float
      runs never see: a ceiling for any inferred noise model;
    - ``mlh``: the SEM a "most likely heteroscedastic" step infers (``_mlh_sems``).
    """
    name, _, rule = variant.partition("/")
    if rule in ("sem", "mlh"):
        return name, 0.0, rule
    if not rule:
        return name, 0.0, None
    try:
        if rule.startswith("k"):
            return name, float(rule[1:]), None
    except ValueError:
        pass
    raise ValueError(f"a variant's rule is /kK (K: a number), /sem or /mlh, got {variant!r}")


def _encode(space: dict[str, Any], config: dict[str, Any]) -> list[float]:
    """A configuration as numbers in [0, 1] (log scale where the range is; a choice one-hot;
    an inactive parameter at 0.5), for ``_mlh_sems``'s regression."""
    out: list[float] = []
    for name, spec in space.items():
        kind = spec_kind(spec)
        if kind == "fixed":
            continue
        active = name in config and is_active(spec, config)
        if kind == "choice":
            out += [float(active and config[name] == v) for v in spec[1]]
        elif not active:
            out.append(0.5)
        elif kind == "ordered":
            out.append(spec[1].index(config[name]) / max(1, len(spec[1]) - 1))
        else:
            lo, hi, v = spec[1], spec[2], config[name]
            if kind.startswith("log"):
                lo, hi, v = math.log(lo), math.log(hi), math.log(v)
            out.append((v - lo) / (hi - lo) if hi > lo else 0.5)
    return out


def _mlh_sems(problem: Any, told: list[tuple[int, dict, Any, float]],
              predictions: dict[int, Any], ridge: float = 1.0) -> list[float]:
    """One step of Kersting et al.'s most likely heteroscedastic GP: the log squared
    residuals of the homoscedastic fit, regressed (ridge) on the encoded inputs, give each
    trial's noise sd (``E[log chi2_1] = -1.27`` corrects the log's bias)."""
    x = np.array([[1.0] + _encode(problem.space, active_config(problem.space, c))
                  for _, c, _, _ in told])
    y = np.array([observed for _, _, _, observed in told])
    residuals = y - np.array([predictions[index].mean for index, _, _, _ in told])
    z = np.log(residuals**2 + 1e-12 * max(float(np.var(y)), 1e-12))
    penalty = ridge * np.diag([0.0] + [1.0] * (x.shape[1] - 1))
    beta = np.linalg.solve(x.T @ x + penalty, x.T @ z)
    return [float(sd) for sd in np.exp(0.5 * (x @ beta + 1.27))]


def _fit(problem: Any, space: Any, seed: int, data: list[tuple[dict, float | None, Any]],
         name: str, sems: str | None) -> tuple[list, Any]:
    """The evaluated trials ``(ax index, config, true value, observed)`` and the model's
    predictions there, fitted once per run, data, variant and SEM rule."""
    from bo_hpo import propose

    key = (problem.name, seed, len(data), name, sems)
    if key in _FITS:
        return _FITS[key]
    given: list[float | None]
    feasible = [(config, mean, true) for config, mean, true in data if mean is not None]
    if sems == "mlh":
        told, predictions = _fit(problem, space, seed, data, name, None)
        if not predictions:
            return told, predictions
        given = list[float | None](_mlh_sems(problem, told, predictions))
    elif sems == "sem":
        given = [problem.noise_sd(config) for config, _, _ in feasible]
    else:
        given = [None] * len(feasible)
    propose.SETTINGS = propose.ModelSettings(**VARIANTS[name])
    proposer = propose.AxProposer(space, minimize=True, seed=seed)
    told = []
    for (config, mean, true), sem in zip(feasible, given, strict=True):
        proposal = proposer.attach(config, generator="replay")
        proposer.complete(proposal.ax_index, mean, sem)
        told.append((proposal.ax_index, config, true, mean))
    for other in [other for other in _FITS if other[:2] != key[:2]]:  # another run's
        del _FITS[other]
    _FITS[key] = told, proposer.predict([index for index, _, _, _ in told])
    return _FITS[key]


def recommend(problem: Any, space: Any, seed: int, data: list[tuple[dict, float | None, Any]],
              variant: str) -> float | None:
    """The regret of the configuration a fresh fit under ``variant`` recommends."""
    name, k, sems = split_variant(variant)
    told, predictions = _fit(problem, space, seed, data, name, sems)
    if not predictions:
        return None
    _, config, true, _ = min(told, key=lambda row: predictions[row[0]].mean
                             + k * predictions[row[0]].sem)
    return (true - problem.optimum if true is not None
            else problem.regret(active_config(problem.space, config)))


def load_runs(args: argparse.Namespace) -> dict[str, list[dict[str, Any]]]:
    """Problem -> the bo_hpo runs to replay, from files or a ``summarize.py`` manifest."""
    by_problem: dict[str, list[dict[str, Any]]] = {}
    if args.manifest:  # the runs the table joins, checked as it checks them
        wanted = args.problems.split(",")
        for r in manifest_runs(args.manifest):
            if r["method"] == "bo_hpo" and r["problem"] in wanted:
                by_problem.setdefault(r["problem"], []).append(r)
        return by_problem
    seen = set()
    for r in finished_runs(args.files):
        key = (r["problem"], r["seed"])
        if r["problem"] == args.problem and r["method"] == args.method and key not in seen:
            seen.add(key)
            by_problem.setdefault(r["problem"], []).append(r)
    return by_problem


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--problem", help="with --files: the problem whose runs to replay")
    p.add_argument("--files", nargs="*", default=[], help="search_quality.py JSON files")
    p.add_argument("--method", default="bo_hpo", help="the runs' method name in --files")
    p.add_argument("--manifest", type=Path, help="a summarize.py manifest instead of --files")
    p.add_argument("--problems", help="with --manifest: comma list of problems")
    p.add_argument("--variants", default="default,hetero",
                   help="comma list, each NAME, NAME/kK, NAME/sem or NAME/mlh; the first is the "
                   "baseline (default: default,hetero)")
    p.add_argument("--peers", nargs="*", default=None, metavar="FILE",
                   help="compare every variant with the other methods' runs too: those of "
                   "the manifest, or of these search_quality.py files (none given: the "
                   "manifest's)")
    p.add_argument("--checkpoints", default="20,50,100")
    p.add_argument("--seeds", help="comma list (default: every seed found)")
    p.add_argument("--out", type=Path, default=Path("replay_recommendation.jsonl"))
    args = p.parse_args(argv)
    if bool(args.manifest) == bool(args.files):
        p.error("give --files (with --problem) or --manifest (with --problems)")
    if (args.manifest and not args.problems) or (args.files and not args.problem):
        p.error("--manifest needs --problems, --files needs --problem")
    if args.peers == [] and not args.manifest:
        p.error("--peers without files needs --manifest")
    variants = args.variants.split(",")
    try:
        unknown = [v for v in variants if split_variant(v)[0] not in VARIANTS]
    except ValueError as err:
        p.error(str(err))
    if unknown:
        p.error(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")
    checkpoints = [int(c) for c in args.checkpoints.split(",")]
    seeds = None if args.seeds is None else {int(s) for s in args.seeds.split(",")}
    logging.disable(logging.WARNING)
    from bo_hpo.space import SearchSpace

    records: list[dict[str, Any]] = []
    repeated = total = 0
    with args.out.open("a") as out:
        for pname, runs in load_runs(args).items():
            problem = get_problem(pname)
            space = SearchSpace(problem.space, constraints=list(problem.constraints))
            for run in sorted(runs, key=lambda r: r["seed"]):
                if seeds is not None and run["seed"] not in seeds:
                    continue
                data = observations(problem, run)
                for variant in variants:
                    cps = {}
                    for n in checkpoints:
                        if n > len(data):
                            continue
                        t0 = time.perf_counter()
                        regret = recommend(problem, space, run["seed"], data[:n], variant)
                        recorded = run["checkpoints"].get(n, {}).get("regret")
                        row = {"problem": pname, "seed": run["seed"], "variant": variant,
                               "n": n, "regret": regret, "recorded": recorded,
                               "seconds": round(time.perf_counter() - t0, 2)}
                        out.write(json.dumps(row) + "\n")
                        out.flush()
                        print(json.dumps(row), file=sys.stderr)
                        if regret is not None:
                            cps[n] = {"regret": regret}
                        if variant == variants[0] and recorded is not None:
                            total += 1
                            repeated += regret is not None and abs(regret - recorded) < 1e-12
                    name = "replay" if variant == variants[0] else f"replay@{variant}"
                    records.append({"problem": pname, "method": name, "seed": run["seed"],
                                    "checkpoints": cps})
    print(f"# {variants[0]} replayed repeats the recorded recommendation in {repeated} of "
          f"{total}")
    for variant in variants[1:]:
        mine = [r for r in records if r["method"] in ("replay", f"replay@{variant}")]
        table = verdict_table(mine, checkpoints, ours=f"replay@{variant}")
        print(f"\n# {variant} against {variants[0]}, both replayed (paired bootstrap, 90%)")
        print(_fmt(table))
    if args.peers is not None:
        peers = peer_runs(args, {(r["problem"], r["seed"]) for r in records})
        for variant in variants:
            name = "replay" if variant == variants[0] else f"replay@{variant}"
            mine = [r for r in records if r["method"] == name]
            print(f"\n# {variant}, replayed, against the best other method (paired bootstrap, "
                  f"90%)")
            print(_fmt(verdict_table(mine + peers, checkpoints, ours=name)))
    return 0


def peer_runs(args: argparse.Namespace, wanted: set[tuple[str, int]]) -> list[dict[str, Any]]:
    """The other methods' finished runs on the replayed problems and seeds: the manifest's
    (``--peers`` alone) or those of the ``--peers`` files, the first of each seed kept."""
    if not args.peers:
        return [r for r in manifest_runs(args.manifest)
                if r["method"] != "bo_hpo" and (r["problem"], r["seed"]) in wanted]
    runs, seen = [], set()
    for r in finished_runs(args.peers):
        key = (r["method"], r["problem"], r["seed"])
        if r["method"] != args.method and key not in seen and key[1:] in wanted:
            seen.add(key)
            runs.append(r)
    return runs


if __name__ == "__main__":
    sys.exit(main())
