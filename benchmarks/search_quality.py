"""Search-quality and proposal-overhead benchmark: bo_hpo vs plain Ax, Optuna GP/TPE, random.

For every (method, problem, seed) the script runs one sequential optimisation on a synthetic
HPO-shaped problem from ``benchmarks/problems.py`` (noisy, heteroscedastic observations) and
records the configuration each method RECOMMENDS after 20 and 50 trials (``--trials``). The
regret of a recommendation is its true, noiseless loss minus the true optimum. It also
records the wall-clock seconds of every proposal, and reports their median / max around
trial 25, 50 and 100 (``--timing-at``) from separate, longer timing runs (``--timing-trials``).

Methods (``--methods``):

* ``bo_hpo``      ``bo_hpo.tune(method="bo")``; recommendation: ``progress.recommend()`` at
  each checkpoint (callback) and ``result.best_config`` at the end (the model's pick).
* ``ax``          plain Ax 1.x ``Client`` with its default generation strategy; recommendation
  ``get_best_parameterization(use_model_predictions=True)``.
* ``optuna_gp``   ``optuna.samplers.GPSampler(seed=seed)``, ask-and-tell; recommendation
  ``study.best_trial`` (best observed value: what an Optuna user gets).
* ``optuna_tpe``  ``optuna.samplers.TPESampler(seed=seed)``, otherwise as ``optuna_gp``.
* ``random``      uniform random search (rejection-sampled to satisfy the constraints);
  recommendation: best observed.
* ``bo_hpo_random`` (opt-in) ``bo_hpo.tune(method="random")``.

How tools without the feature see conditional parameters and constraints (``--infeasible``):

* Ax gets the flat space: a conditional parameter (SGD momentum) is always proposed and
  only passed to the objective when its condition holds. Linear constraints go to Ax's
  ``parameter_constraints``. Non-linear ones (``hidden_dim % num_heads == 0``) cannot be
  expressed, so an infeasible proposal is what it is in real training code: a crash. With
  ``--infeasible fail`` (default) the trial is marked FAILED (``mark_trial_failed``) and it
  uses up one trial of the budget; with ``--infeasible worst`` it is completed with the
  worst loss (``problems.WORST``, sem 0).
* Optuna is define-by-run, so conditional parameters are suggested only when active (the
  natural Optuna code). It has no parameter constraints: infeasible configurations (the
  divisibility AND the linear constraint) are told as ``TrialState.FAIL`` (or the worst
  value with ``--infeasible worst``), again using up a trial. Ordered choices (batch size,
  num_heads) use ``suggest_categorical``.
* Random search samples the constrained space directly (rejection), conditional
  parameters only when active.

Each run executes in its own subprocess with a wall-clock cap (``--max-run-seconds``); a run
over the cap is killed and recorded as ``timeout``, keeping whatever checkpoints it reached.

Examples::

    python benchmarks/search_quality.py --quick
    python benchmarks/search_quality.py --quick --methods ax,optuna_gp,optuna_tpe,random
    python benchmarks/search_quality.py --seeds 5 --trials 20,50 --timing-trials 100
    python benchmarks/search_quality.py --problems transformer_shape --methods bo_hpo,ax
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import multiprocessing as mp
import os
import platform
import queue as _queue
import sys
import time
import traceback
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

try:  # python benchmarks/search_quality.py  (benchmarks/ is on sys.path)
    from problems import (
        PROBLEM_FACTORIES,
        WORST,
        Problem,
        active_config,
        check_problem,
        get_problem,
        sample_config,
        spec_condition,
        spec_kind,
    )
except ImportError:  # python -m benchmarks.search_quality
    from benchmarks.problems import (
        PROBLEM_FACTORIES,
        WORST,
        Problem,
        active_config,
        check_problem,
        get_problem,
        sample_config,
        spec_condition,
        spec_kind,
    )

ALL_METHODS = ["bo_hpo", "ax", "optuna_gp", "optuna_tpe", "random", "bo_hpo_random"]
DEFAULT_METHODS = ["bo_hpo", "ax", "optuna_gp", "optuna_tpe", "random"]
DEFAULT_TIMING_PROBLEMS = ["optimizer_lr_wd", "high_dim_irrelevant"]
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "search_quality.json"

Report = Callable[[str, dict[str, Any]], None]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ======================================================================================
# the methods (each runs inside a child process)
#
# A runner gets the problem, seed, number of trials, checkpoints, a noise rng and a
# ``report`` callback. It reports ("trial", {...}) for every trial it uses up (config,
# proposal_seconds, feasible) and ("checkpoint", {"n": n, "config": recommended}) when n
# trials are done. The parent computes regrets from the configs.


def _quiet_libraries(method: str) -> None:
    """Silence warnings and library logs; import only what ``method`` needs."""
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    for name in ("ax", "botorch", "gpytorch", "optuna", "bo_hpo", "linear_operator"):
        logging.getLogger(name).setLevel(logging.ERROR)
    if method.startswith("optuna"):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.ERROR)
    if method.partition("@")[0] in ("ax", "bo_hpo", "bo_hpo_random"):
        import torch
        from ax.utils.common.logger import set_ax_logger_levels, set_stderr_log_level

        set_stderr_log_level(logging.ERROR)
        set_ax_logger_levels(logging.ERROR)
        torch.set_num_threads(_THREADS[0])
    if method == "optuna_gp":
        import torch

        torch.set_num_threads(_THREADS[0])


_THREADS = [1]


def _choice_type(values: Sequence[Any]) -> str:
    if all(isinstance(v, bool) for v in values):
        return "bool"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "int"
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return "float"
    return "str"


AX_MIN_WIDTH = 1.5e-5  # Ax rejects a float range narrower than 100 * 1.5e-7, even log-scaled


def ax_parameters(space: dict[str, Any]) -> tuple[list[Any], Callable[[dict], dict]]:
    """The flat Ax parameter list for a bo_hpo space (conditions dropped, fixed omitted).

    Returns the parameters and a decoder from an Ax parameterisation to the space's names.
    A log-uniform range too narrow for Ax (``eps`` in [1e-10, 1e-6]: "range is very small
    and likely to cause numerical errors") is reparametrised as ``log10_<name>``, which is
    what Ax's error message asks a user to do.
    """
    from ax import ChoiceParameterConfig, RangeParameterConfig

    params: list[Any] = []
    log10_names: list[str] = []
    for name, spec in space.items():
        kind = spec_kind(spec)
        if kind == "fixed":
            continue
        if kind == "log_uniform" and spec[2] - spec[1] < AX_MIN_WIDTH:
            log10_names.append(name)
            params.append(
                RangeParameterConfig(
                    name=f"log10_{name}",
                    bounds=(math.log10(spec[1]), math.log10(spec[2])),
                    parameter_type="float",
                )
            )
        elif kind in ("uniform", "log_uniform"):
            params.append(
                RangeParameterConfig(
                    name=name,
                    bounds=(float(spec[1]), float(spec[2])),
                    parameter_type="float",
                    scaling="log" if kind == "log_uniform" else "linear",
                )
            )
        elif kind in ("int", "log_int"):
            params.append(
                RangeParameterConfig(
                    name=name,
                    bounds=(int(spec[1]), int(spec[2])),
                    parameter_type="int",
                    scaling="log" if kind == "log_int" else "linear",
                )
            )
        elif kind in ("choice", "ordered"):
            values = list(spec[1])
            params.append(
                ChoiceParameterConfig(
                    name=name,
                    values=values,
                    parameter_type=_choice_type(values),
                    is_ordered=kind == "ordered",
                )
            )
        else:
            raise ValueError(f"unknown spec kind {kind!r}")

    def decode(ax_params: dict) -> dict:
        out = dict(ax_params)
        for name in log10_names:
            if f"log10_{name}" in out:
                out[name] = 10.0 ** out.pop(f"log10_{name}")
        return out

    return params, decode


def optuna_suggest(trial: Any, space: dict[str, Any]) -> dict[str, Any]:
    """Define-by-run suggestions: conditional parameters only when their condition holds."""
    cfg: dict[str, Any] = {}
    for name, spec in space.items():
        kind = spec_kind(spec)
        cond = spec_condition(spec)
        if cond and not all(cfg.get(p) in vals for p, vals in cond.items()):
            continue
        if kind == "fixed":
            cfg[name] = spec[1]
        elif kind in ("uniform", "log_uniform"):
            cfg[name] = trial.suggest_float(name, spec[1], spec[2], log=kind == "log_uniform")
        elif kind in ("int", "log_int"):
            cfg[name] = trial.suggest_int(name, spec[1], spec[2], log=kind == "log_int")
        elif kind in ("choice", "ordered"):
            cfg[name] = trial.suggest_categorical(name, list(spec[1]))
        else:
            raise ValueError(f"unknown spec kind {kind!r}")
    return cfg


def run_ax(
    problem: Problem,
    seed: int,
    n_trials: int,
    checkpoints: Sequence[int],
    rng: np.random.Generator,
    report: Report,
    opts: dict[str, Any],
) -> None:
    from ax import Client

    client = Client(random_seed=seed)
    parameters, decode = ax_parameters(problem.space)
    client.configure_experiment(
        parameters=parameters,
        parameter_constraints=problem.linear_constraints or None,
    )
    client.configure_optimization(objective="-loss")  # "-loss": minimise loss
    for i in range(n_trials):
        t0 = time.perf_counter()
        proposed = client.get_next_trials(max_trials=1)
        dt = time.perf_counter() - t0
        ((idx, params),) = proposed.items()
        cfg = active_config(problem.space, decode(params))
        feasible = problem.feasible(cfg)
        if feasible:
            mean, sem = problem.observe(cfg, rng)
            value = mean if opts.get("observe") == "bare" else (mean, sem)
            client.complete_trial(trial_index=idx, raw_data={"loss": value})
        elif opts["infeasible"] == "worst":
            client.complete_trial(trial_index=idx, raw_data={"loss": (WORST, 0.0)})
        else:
            client.mark_trial_failed(trial_index=idx, failed_reason="infeasible")
        report("trial", {"i": i, "config": cfg, "proposal_seconds": dt, "feasible": feasible})
        if i + 1 in checkpoints:
            try:
                best, _, _, _ = client.get_best_parameterization(use_model_predictions=True)
                rec: dict[str, Any] | None = active_config(problem.space, decode(best))
            except Exception as exc:  # e.g. no completed trial yet
                rec = None
                report("note", {"n": i + 1, "note": f"no recommendation: {exc!r}"[:300]})
            report("checkpoint", {"n": i + 1, "config": rec})


def _run_optuna(
    sampler: Any,
    problem: Problem,
    n_trials: int,
    checkpoints: Sequence[int],
    rng: np.random.Generator,
    report: Report,
    opts: dict[str, Any],
) -> None:
    import optuna
    from optuna.trial import TrialState

    study = optuna.create_study(direction="minimize", sampler=sampler)
    for i in range(n_trials):
        t0 = time.perf_counter()
        trial = study.ask()
        cfg = optuna_suggest(trial, problem.space)
        dt = time.perf_counter() - t0
        feasible = problem.feasible(cfg)
        if feasible:
            mean, _sem = problem.observe(cfg, rng)  # Optuna takes a value, no sem
            study.tell(trial, mean)
        elif opts["infeasible"] == "worst":
            study.tell(trial, WORST)
        else:
            study.tell(trial, state=TrialState.FAIL)
        report("trial", {"i": i, "config": cfg, "proposal_seconds": dt, "feasible": feasible})
        if i + 1 in checkpoints:
            done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            rec = active_config(problem.space, study.best_trial.params) if done else None
            report("checkpoint", {"n": i + 1, "config": rec})


def run_optuna_gp(
    problem: Problem,
    seed: int,
    n_trials: int,
    checkpoints: Sequence[int],
    rng: np.random.Generator,
    report: Report,
    opts: dict[str, Any],
) -> None:
    import optuna

    sampler = optuna.samplers.GPSampler(seed=seed)
    _run_optuna(sampler, problem, n_trials, checkpoints, rng, report, opts)


def run_optuna_tpe(
    problem: Problem,
    seed: int,
    n_trials: int,
    checkpoints: Sequence[int],
    rng: np.random.Generator,
    report: Report,
    opts: dict[str, Any],
) -> None:
    import optuna

    sampler = optuna.samplers.TPESampler(seed=seed)
    _run_optuna(sampler, problem, n_trials, checkpoints, rng, report, opts)


def run_random(
    problem: Problem,
    seed: int,
    n_trials: int,
    checkpoints: Sequence[int],
    rng: np.random.Generator,
    report: Report,
    opts: dict[str, Any],
) -> None:
    sampler_rng = np.random.default_rng([seed, 7919])
    best: tuple[float, dict[str, Any]] | None = None
    for i in range(n_trials):
        t0 = time.perf_counter()
        for _ in range(10_000):  # rejection sampling of the constrained space
            cfg = sample_config(problem.space, sampler_rng)
            if problem.feasible(cfg):
                break
        dt = time.perf_counter() - t0
        mean, _sem = problem.observe(cfg, rng)
        if best is None or mean < best[0]:
            best = (mean, cfg)
        report("trial", {"i": i, "config": cfg, "proposal_seconds": dt, "feasible": True})
        if i + 1 in checkpoints:
            report("checkpoint", {"n": i + 1, "config": best[1]})


def _run_bo_hpo(
    method: str,
    problem: Problem,
    seed: int,
    n_trials: int,
    checkpoints: Sequence[int],
    rng: np.random.Generator,
    report: Report,
    opts: dict[str, Any],
) -> None:
    import bo_hpo
    from bo_hpo import propose
    from bo_hpo.errors import TrialFailed

    variant = dict(VARIANTS[opts.get("variant") or "default"])
    propose.RETIRE_AS = variant.pop("retire_as", propose.RETIRE_AS)
    propose.SETTINGS = propose.ModelSettings(**variant)
    n_done = 0
    warm: Any = None  # the search's WarmStart: how many of its fits stopped at the cap

    def objective(config: dict[str, Any]) -> float | tuple[float, float]:
        nonlocal n_done
        cfg = active_config(problem.space, dict(config))
        feasible = problem.feasible(cfg)
        n_done += 1
        report(
            "trial",
            {"i": n_done - 1, "config": cfg, "proposal_seconds": None, "feasible": feasible},
        )
        if not feasible:
            raise TrialFailed("infeasible", f"{cfg}")
        mean, sem = problem.observe(cfg, rng)
        return mean if opts.get("observe") == "bare" else (mean, sem)

    def callback(progress: Any) -> None:
        nonlocal warm
        warm = getattr(progress._loop.proposer, "_warm", None)
        if n_done in checkpoints and n_done < n_trials:
            rec, _mean, _sem = progress.recommend()
            report("checkpoint", {"n": n_done, "config": None if rec is None else dict(rec)})
        if n_done in checkpoints:
            report("alternatives", {"n": n_done, "configs": _alternatives(progress._loop)})

    res = bo_hpo.tune(
        objective,
        problem.space,
        budget=bo_hpo.Budget(max_trials=n_trials),
        constraints=list(problem.constraints),
        is_valid=problem.is_valid,
        seed=seed,
        minimize=True,
        method=method,
        callback=callback,
    )
    if n_trials in checkpoints:
        rec = res.best_config
        report("checkpoint", {"n": n_trials, "config": None if rec is None else dict(rec)})
    trials = res.trials
    # rows of proposals that reached the objective, in order (invalid ones never do)
    evaluated = trials[trials["status"] != "invalid"] if "status" in trials.columns else trials
    if "proposal_seconds" in evaluated.columns:
        secs = [None if pd.isna(v) else float(v) for v in evaluated["proposal_seconds"]]
        report("proposal_seconds", {"seconds": secs})
    info: dict[str, Any] = {
        "recommendation_source": getattr(res, "recommendation_source", None),
        "stop_reason": getattr(res, "stop_reason", None),
    }
    if "status" in trials.columns:
        info["statuses"] = trials["status"].value_counts().to_dict()
    if "fallback" in trials.columns:
        info["fallbacks"] = trials["fallback"].dropna().astype(str).value_counts().to_dict()
    if "generator" in trials.columns:
        info["generators"] = trials["generator"].astype(str).value_counts().to_dict()
    if warm is not None:
        # a fit stopped at the cap stops earlier on a busier machine: such a run's trials
        # depend on the load, while one without any repeats exactly
        info["fits"] = warm.n_fits
        info["capped_fits"] = warm.n_capped
        info["capped_asides"] = warm.n_capped_asides  # the checkpoints' recommendations
    report("note", {"n": n_trials, "note": info})


def _alternatives(loop: Any) -> dict[str, dict[str, Any]]:
    """Other rules for picking the recommendation from the same run (scored alongside, at
    no extra cost): the best observed value; the lowest ``mean + k * sem`` of the model's
    predictions (pessimistic, k = 0.5, 1); among the configurations predicted within one
    SEM of the best, the one the model is surest of."""
    completed = loop._completed()
    if not completed:
        return {}
    best, predictions = loop._predicted_best()
    out = {"observed": dict(min(completed, key=lambda r: r.mean).config)}
    if predictions:
        def pick(key: Callable[[Any], float]) -> dict[str, Any]:
            return dict(min(completed, key=lambda r: key(predictions[r.trial])).config)

        out["pess0.5"] = pick(lambda p: p.mean + 0.5 * p.sem)
        out["pess1"] = pick(lambda p: p.mean + p.sem)
        top = predictions[best.trial]
        near = [r for r in completed if predictions[r.trial].mean <= top.mean + top.sem]
        out["surest_near_best"] = dict(min(near, key=lambda r: predictions[r.trial].sem).config)
    return out


def run_bo_hpo(
    problem: Problem,
    seed: int,
    n_trials: int,
    checkpoints: Sequence[int],
    rng: np.random.Generator,
    report: Report,
    opts: dict[str, Any],
) -> None:
    _run_bo_hpo("bo", problem, seed, n_trials, checkpoints, rng, report, opts)


def run_bo_hpo_random(
    problem: Problem,
    seed: int,
    n_trials: int,
    checkpoints: Sequence[int],
    rng: np.random.Generator,
    report: Report,
    opts: dict[str, Any],
) -> None:
    _run_bo_hpo("random", problem, seed, n_trials, checkpoints, rng, report, opts)


#: ``bo_hpo@NAME`` runs ``tune()`` with ``bo_hpo.propose.ModelSettings(**VARIANTS[NAME])``
#: (the ablation: each entry changes one setting of today's defaults).
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    # the lean optimiser effort tune() used before (its defaults are now Ax's own), and
    # each of its three settings alone
    "lean": {"num_restarts": 4, "raw_samples": 256, "maxiter_alternating": 8},
    "restarts4": {"num_restarts": 4},
    "raw256": {"raw_samples": 256},
    "alt_cap8": {"maxiter_alternating": 8},
    # the mixed optimiser's continuous-relaxation start capped at 30 L-BFGS-B iterations
    # (default 50; BoTorch's 100 before 2026-11-28), most of a mixed proposal's time
    "init30": {"maxiter_init": 30},
    "init50": {"maxiter_init": 50},
    "init100": {"maxiter_init": None},
    # the alternating optimiser stops a restart once a discrete-then-continuous round
    # gains less than 1e-3 in log acquisition value (BoTorch: 1e-8) ...
    "alt_tol3": {"alternating_tol": 1e-3},
    # ... and with its continuous-relaxation start capped at 50 L-BFGS-B iterations
    # (measured before that became the default)
    "alt_fast": {"alternating_tol": 1e-3, "maxiter_init": 50},
    "warp": {"input_warping": True},
    # noise variance log-linear / log-quadratic in the inputs, fitted with the GP
    # (``_hetero.HeteroNoiseGP``)
    "hetero": {"noise_model": "loglinear"},
    "hetero2": {"noise_model": "logquadratic"},
    # ... once 30 trials have data (homoscedastic before)
    "hetero2_30": {"noise_model": "logquadratic", "noise_model_from": 30},
    "catkernel": {"categorical_kernel": True},
    # every 4th / 3rd model proposal inside a conditional branch the incumbent is not in
    "branches": {"branch_every": 4},
    "branches3": {"branch_every": 3},
    # Ax's own fitting: every GP fit from BoTorch's default initial hyperparameters
    "cold": {"warm_start": False},
    # warm fits run to SciPy's default tolerance, as before the looser WARM_FIT_FTOL, in
    # every space; and the looser tolerance in every space (the default before `loose_fit_from`)
    "tightfit": {"warm_fit_ftol": None},
    "loosefit": {"loose_fit_from": None},
    # warm fits at SciPy's tolerance but at most 200 L-BFGS-B iterations
    "tight200": {"warm_fit_ftol": None, "warm_fit_maxiter": 200},
    # cold fits more often (the training set grown by a tenth since the last, not a quarter)
    "growth11": {"cold_refit_growth": 1.1},
    # every warm fit followed by a cold one, the lower loss kept: always, or below 60 points
    "both": {"fit_both_below": 10**9},
    "both60": {"fit_both_below": 60},
    # GP hyperparameters fitted by leave-one-out predictive likelihood, not the marginal
    # likelihood: always, or while fewer than 30 trials have data
    "loo": {"loo_fit_below": 10**9},
    "loo30": {"loo_fit_below": 30},
    # a model proposal that repeats a tried configuration (every number within 2% / 5% of
    # its range, every choice equal) replaced by the best non-repeating candidate by EI
    # ("norepeat" is today's default; "repeats" the behaviour before it)
    "norepeat": {"repeat_radius": 0.02},
    "norepeat5": {"repeat_radius": 0.05},
    "repeats": {"repeat_radius": None},
    # a repeating proposal replaced by a visit inside a conditional branch the incumbent
    # is not in: every repeat / every second one
    "branchrep": {"branch_on_repeat": 1},
    "branchrep2": {"branch_on_repeat": 2},
    # the same visits, chosen by a GP on the branch's own trials (rank scores)
    "branchgp": {"branch_on_repeat": 1, "branch_model": True},
    # every 4th model proposal, a configuration the model cannot tell from its best
    # measured again (the one with the lowest mean less one sd); alone and with branchgp
    "replicate4": {"replicate_every": 4},
    "replicate4gp": {"replicate_every": 4, "branch_on_repeat": 1, "branch_model": True},
    # input warping once 40 trials have data
    "warp40": {"warp_from": 40},
    # a linear float range up to near 1 whose 1 - x spans 3 / 2 decades (Adam's beta2 in
    # [0.9, 0.9999] / also SGD's momentum in [0, 0.99]) modelled and sampled on log(1 - x);
    # today's 2.5 gives tail3's runs on every problem here; "notail": before it
    "tail3": {"tail_decades": 3},
    "tail2": {"tail_decades": 2},
    "notail": {"tail_decades": None},
    # before the fix: replaced proposals stayed in Ax as abandoned (so pending) trials
    "pending_bug": {"retire_as": "abandoned"},
}


def runner_for(method: str) -> tuple[Callable[..., None], str | None]:
    """The runner of ``method`` and its variant (``bo_hpo@warp`` -> run_bo_hpo, "warp")."""
    base, _, variant = method.partition("@")
    return RUNNERS[base], (variant or None)


RUNNERS: dict[str, Callable[..., None]] = {
    "bo_hpo": run_bo_hpo,
    "ax": run_ax,
    "optuna_gp": run_optuna_gp,
    "optuna_tpe": run_optuna_tpe,
    "random": run_random,
    "bo_hpo_random": run_bo_hpo_random,
}


def _child_main(task: dict[str, Any], q: Any) -> None:
    """Entry point of one run's subprocess."""
    if not task["verbose"]:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)  # library chatter (Ax prints INFO on import) off the console
    os.environ.setdefault("OMP_NUM_THREADS", str(task["threads"]))
    os.environ.setdefault("MKL_NUM_THREADS", str(task["threads"]))

    def report(kind: str, payload: dict[str, Any]) -> None:
        q.put((kind, payload))

    try:
        _THREADS[0] = task["threads"]
        _quiet_libraries(task["method"])
        problem = get_problem(task["problem"])
        # the same noise for every method; keyed on the name, so adding problems changes nothing
        pkey = zlib.crc32(task["problem"].encode())
        noise_rng = np.random.default_rng([task["seed"], pkey, 20240])
        run, variant = runner_for(task["method"])
        run(
            problem,
            task["seed"],
            task["n_trials"],
            task["checkpoints"],
            noise_rng,
            report,
            {**task["opts"], "variant": variant},
        )
        report("done", {})
    except BaseException as exc:  # report everything, including SystemExit from a library
        report(
            "error",
            {
                "error": f"{type(exc).__name__}: {exc}"[:2000],
                "traceback": traceback.format_exc()[-4000:],
            },
        )


# ======================================================================================
# scheduling runs in subprocesses with a wall-clock cap


def _new_record(task: dict[str, Any]) -> dict[str, Any]:
    return {
        "phase": task["phase"],
        "method": task["method"],
        "problem": task["problem"],
        "seed": task["seed"],
        "n_trials": task["n_trials"],
        "checkpoint_list": list(task["checkpoints"]),
        "opts": task["opts"],
        "status": "running",
        "error": None,
        "wall_seconds": None,
        "trials": [],
        "checkpoints": {},
        "notes": [],
    }


def _apply_message(rec: dict[str, Any], kind: str, payload: dict[str, Any]) -> None:
    if kind == "trial":
        rec["trials"].append(payload)
    elif kind == "checkpoint":
        rec["checkpoints"][int(payload["n"])] = {"config": payload["config"]}
    elif kind == "alternatives":
        rec.setdefault("alternatives", {})[int(payload["n"])] = payload["configs"]
    elif kind == "proposal_seconds":
        for t, s in zip(rec["trials"], payload["seconds"], strict=False):
            t["proposal_seconds"] = s
    elif kind == "note":
        rec["notes"].append(payload)
    elif kind == "done":
        rec["status"] = "ok"
    elif kind == "error":
        rec["status"] = "error"
        rec["error"] = payload["error"]
        rec["traceback"] = payload.get("traceback")


def run_tasks(
    tasks: list[dict[str, Any]],
    workers: int,
    max_run_seconds: float,
    on_finish: Callable[[dict[str, Any]], None],
    heartbeat_seconds: float = 120.0,
) -> list[dict[str, Any]]:
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    pending = list(tasks)
    running: list[tuple[Any, Any, dict[str, Any], dict[str, Any], float]] = []
    records: list[dict[str, Any]] = []
    total = len(tasks)

    def drain(q: Any, rec: dict[str, Any]) -> None:
        while True:
            try:
                kind, payload = q.get_nowait()
            except _queue.Empty:
                return
            _apply_message(rec, kind, payload)

    last_heartbeat = time.monotonic()
    while pending or running:
        if time.monotonic() - last_heartbeat > heartbeat_seconds and running:
            last_heartbeat = time.monotonic()
            for _proc, _q, _task, rec, start in running:
                log(
                    f"    ... {rec['method']} {rec['problem']} seed={rec['seed']}: "
                    f"{len(rec['trials'])}/{rec['n_trials']} trials, "
                    f"{time.monotonic() - start:.0f}s"
                )
        while pending and len(running) < workers:
            task = pending.pop(0)
            q = ctx.Queue()
            proc = ctx.Process(target=_child_main, args=(task, q), daemon=True)
            proc.start()
            running.append((proc, q, task, _new_record(task), time.monotonic()))
        time.sleep(0.05)
        still = []
        for proc, q, task, rec, start in running:
            drain(q, rec)
            elapsed = time.monotonic() - start
            if not proc.is_alive():
                proc.join()
                time.sleep(0.05)
                drain(q, rec)
                if rec["status"] == "running":
                    rec["status"] = "error"
                    rec["error"] = f"subprocess died (exit code {proc.exitcode})"
            elif elapsed > max_run_seconds:
                proc.terminate()
                proc.join(5)
                if proc.is_alive():
                    proc.kill()
                    proc.join()
                drain(q, rec)
                rec["status"] = "timeout"
                rec["error"] = f"over --max-run-seconds={max_run_seconds:g}"
            else:
                still.append((proc, q, task, rec, start))
                continue
            rec["wall_seconds"] = round(elapsed, 3)
            records.append(rec)
            q.close()
            on_finish(rec)
            log(
                f"[{len(records)}/{total}] {rec['phase']:7s} {rec['method']:13s} "
                f"{rec['problem']:27s} seed={rec['seed']} {rec['status']:7s} "
                f"{len(rec['trials'])} trials, {elapsed:7.1f}s"
                + (f"  ({rec['error'][:160]})" if rec["error"] else "")
            )
        running = still
    return records


# ======================================================================================
# scoring and tables


def score_record(rec: dict[str, Any], problem: Problem) -> None:
    """Fill in regrets (recommendation and oracle best-evaluated) at each checkpoint."""
    trials = rec["trials"]
    for t in trials:
        t["true"] = problem.true(t["config"]) if t["feasible"] else None
    for n, cp in rec["checkpoints"].items():
        cfg = cp["config"]
        cp["feasible"] = cfg is not None and problem.feasible(active_config(problem.space, cfg))
        cp["true"] = problem.true(cfg) if cfg is not None else WORST
        cp["regret"] = problem.regret(cfg)
        seen = [t["true"] for t in trials[: int(n)] if t["true"] is not None]
        cp["oracle_regret"] = (min(seen) - problem.optimum) if seen else WORST - problem.optimum
        cp["n_feasible_trials"] = sum(1 for t in trials[: int(n)] if t["feasible"])
    for n, alts in rec.get("alternatives", {}).items():
        cp = rec["checkpoints"].setdefault(int(n), {})
        cp["alt_regret"] = {rule: problem.regret(c) for rule, c in alts.items()}


def _q90(values: Sequence[float]) -> float:
    return float(np.percentile(values, 90)) if len(values) else math.nan


def regret_table(
    records: list[dict[str, Any]],
    checkpoints: Sequence[int],
    methods: Sequence[str],
    problems: Sequence[str],
) -> pd.DataFrame:
    rows = []
    for pname in problems:
        for m in methods:
            recs = [r for r in records if r["problem"] == pname and r["method"] == m]
            if not recs:
                continue
            row: dict[str, Any] = {"problem": pname, "method": m}
            for n in checkpoints:
                vals = [r["checkpoints"][n]["regret"] for r in recs if n in r["checkpoints"]]
                row[f"regret@{n} med"] = float(np.median(vals)) if vals else math.nan
                row[f"regret@{n} p90"] = _q90(vals)
                row[f"n@{n}"] = len(vals)
            n_last = max(checkpoints)
            orc = [
                r["checkpoints"][n_last]["oracle_regret"]
                for r in recs
                if n_last in r["checkpoints"]
            ]
            row[f"oracle@{n_last} med"] = float(np.median(orc)) if orc else math.nan
            n_trials = sum(len(r["trials"]) for r in recs)
            n_infeas = sum(1 for r in recs for t in r["trials"] if not t["feasible"])
            row["infeasible %"] = 100.0 * n_infeas / n_trials if n_trials else math.nan
            row["runs ok/timeout/err"] = "/".join(
                str(sum(r["status"] == s for r in recs)) for s in ("ok", "timeout", "error")
            )
            rows.append(row)
    return pd.DataFrame(rows)


def rules_table(records: list[dict[str, Any]], checkpoints: Sequence[int]) -> pd.DataFrame:
    """Median regret of each recommendation rule of the bo_hpo runs (``model``: the one
    ``tune()`` returns; the others from ``_alternatives``), per problem and method."""
    rows = []
    keys = sorted({(r["problem"], r["method"]) for r in records if r.get("alternatives")})
    for pname, m in keys:
        recs = [r for r in records if r["problem"] == pname and r["method"] == m]
        rules = ["model", *sorted({k for r in recs for a in r.get("alternatives", {}).values()
                                   for k in a})]
        for rule in rules:
            row: dict[str, Any] = {"problem": pname, "method": m, "rule": rule}
            for n in checkpoints:
                cps = [r["checkpoints"].get(n, {}) for r in recs]  # {}: stopped before n
                vals = [cp.get("regret") if rule == "model"
                        else cp.get("alt_regret", {}).get(rule) for cp in cps]
                vals = [v for v in vals if v is not None]
                row[f"regret@{n} med"] = float(np.median(vals)) if vals else math.nan
            rows.append(row)
    return pd.DataFrame(rows)


def overall_table(reg: pd.DataFrame, checkpoints: Sequence[int]) -> pd.DataFrame:
    """Per method: mean over problems of the per-problem median regret, and mean rank."""
    if reg.empty:
        return reg
    rows = []
    for m, sub in reg.groupby("method", sort=False):
        row: dict[str, Any] = {"method": m}
        for n in checkpoints:
            row[f"mean med regret@{n}"] = sub[f"regret@{n} med"].mean()
        for n in checkpoints:  # problems behind the means (errors/timeouts leave gaps)
            row[f"problems@{n}"] = int(sub[f"regret@{n} med"].notna().sum())
        rows.append(row)
    out = pd.DataFrame(rows)
    for n in checkpoints:
        ranks = reg.pivot(index="problem", columns="method", values=f"regret@{n} med").rank(
            axis=1, method="average"
        )
        out[f"mean rank@{n}"] = out["method"].map(ranks.mean())
    return out


def verdict_table(
    records: list[dict[str, Any]],
    checkpoints: Sequence[int],
    ours: str = "bo_hpo",
    n_boot: int = 2000,
) -> pd.DataFrame:
    """``ours`` against the best other method of each problem, judged against seed noise.

    For each problem and checkpoint, the peer with the lowest median regret is the one to
    beat. Seeds are resampled with replacement (paired: the same seeds for both methods,
    which share their noise draws) and the difference of median regrets is recomputed; the
    verdict is ``better`` when the 90% interval of ``ours - best`` lies below zero,
    ``worse`` when above, ``tie`` otherwise (the seeds cannot tell them apart).
    """
    rng = np.random.default_rng(0)
    rows = []
    for pname in dict.fromkeys(r["problem"] for r in records):
        by_method: dict[str, dict[int, dict[int, float]]] = {}
        for r in records:
            if r["problem"] == pname:
                for n, cp in r["checkpoints"].items():
                    if "regret" in cp:
                        by_method.setdefault(r["method"], {}).setdefault(int(n), {})[
                            r["seed"]] = cp["regret"]
        if ours not in by_method:
            continue
        for n in checkpoints:
            mine = by_method[ours].get(n, {})
            peers = {m: v[n] for m, v in by_method.items()
                     if m != ours and not m.startswith(ours + "@") and n in v}
            if not mine or not peers:
                continue
            best = min(peers, key=lambda m: float(np.median(list(peers[m].values()))))
            seeds = sorted(set(mine) & set(peers[best]))
            if not seeds:
                continue
            a = np.array([mine[s] for s in seeds])
            b = np.array([peers[best][s] for s in seeds])
            idx = rng.integers(0, len(seeds), size=(n_boot, len(seeds)))
            diff = np.median(a[idx], axis=1) - np.median(b[idx], axis=1)
            lo, hi = np.percentile(diff, [5, 95])
            rows.append({
                "problem": pname, "n": n, "seeds": len(seeds), f"{ours} med": np.median(a),
                "best peer": best, "peer med": np.median(b),
                "ratio": np.median(a) / np.median(b) if np.median(b) > 0 else math.nan,
                "diff 90% lo": lo, "diff 90% hi": hi,
                "verdict": "better" if hi < 0 else "worse" if lo > 0 else "tie",
            })
    return pd.DataFrame(rows)


def timing_table(
    records: list[dict[str, Any]],
    timing_at: Sequence[int],
    half_window: int,
    methods: Sequence[str],
) -> pd.DataFrame:
    rows = []
    problems = sorted({r["problem"] for r in records})
    for pname in problems:
        for m in methods:
            recs = [r for r in records if r["problem"] == pname and r["method"] == m]
            if not recs:
                continue
            row: dict[str, Any] = {"problem": pname, "method": m}
            for at in timing_at:
                lo, hi = at - half_window, at + half_window  # 1-based trial numbers
                secs = [
                    t["proposal_seconds"]
                    for r in recs
                    for t in r["trials"]
                    if lo <= t["i"] + 1 <= hi and t.get("proposal_seconds") is not None
                ]
                row[f"s/prop@{at} med"] = float(np.median(secs)) if secs else math.nan
                row[f"s/prop@{at} max"] = float(np.max(secs)) if secs else math.nan
            total = [
                t["proposal_seconds"]
                for r in recs
                for t in r["trials"]
                if t.get("proposal_seconds") is not None
            ]
            row["total proposal s"] = float(np.sum(total)) / len(recs) if total else math.nan
            row["runs ok/timeout/err"] = "/".join(
                str(sum(r["status"] == s for r in recs)) for s in ("ok", "timeout", "error")
            )
            rows.append(row)
    return pd.DataFrame(rows)


def capped_table(records: list[dict[str, Any]]) -> pd.DataFrame:
    """Per method and problem, bo_hpo's GP fits and how many stopped at the fit cap
    (``_ax.FIT_TIMEOUT``), those of the search and those made aside for the checkpoints'
    recommendations, and in how many runs any did: those runs depend on the load."""
    rows = []
    for r in records:
        info = next((n["note"] for n in r.get("notes", [])
                     if isinstance(n.get("note"), dict) and "fits" in n["note"]), None)
        if info is not None:
            asides = info.get("capped_asides", 0)
            rows.append({"method": r["method"], "problem": r["problem"], "fits": info["fits"],
                         "capped_fits": info["capped_fits"], "capped_asides": asides,
                         "runs_capped": int(info["capped_fits"] + asides > 0), "runs": 1})
    if not rows:
        return pd.DataFrame()
    return (pd.DataFrame(rows).groupby(["method", "problem"], sort=False).sum()
            .reset_index())


def _fmt(df: pd.DataFrame) -> str:
    if df.empty:
        return "(no rows)"
    return df.to_string(index=False, float_format=lambda v: f"{v:.4g}")


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        obj = float(obj)
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return repr(obj)


def _versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {}
    for pkg in ("bo-hpo", "ax-platform", "botorch", "optuna", "torch", "numpy", "pandas"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


# ======================================================================================
# CLI


def _int_list(s: str) -> list[int]:
    return [int(x) for x in s.split(",") if x.strip()]


def _name_list(s: str, known: Sequence[str], what: str) -> list[str]:
    names = [x.strip() for x in s.split(",") if x.strip()]
    bad = [n for n in names if n not in known]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown {what} {bad}; known: {list(known)}")
    return names


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument(
        "--problems",
        default=None,
        help=f"comma list or 'all' (default; --quick: optimizer_lr_wd,"
        f"transformer_shape); known: {','.join(PROBLEM_FACTORIES)}",
    )
    p.add_argument(
        "--methods",
        default=",".join(DEFAULT_METHODS),
        help=f"comma list (default %(default)s); known: {','.join(ALL_METHODS)}",
    )
    p.add_argument(
        "--seeds",
        type=int,
        default=None,
        help="number of seeds, the same for all methods (default 5; --quick: 2)",
    )
    p.add_argument("--seed-offset", type=int, default=0, help="first seed (default 0)")
    p.add_argument(
        "--trials",
        default=None,
        help="checkpoints at which the recommendation is scored; the run length "
        "is the largest (default 20,50; --quick: 5,10)",
    )
    p.add_argument(
        "--timing-trials",
        type=int,
        default=None,
        help="length of the separate proposal-timing runs (default 100; 0 and "
        "--quick: none, the timing table then comes from the quality runs)",
    )
    p.add_argument(
        "--timing-problems",
        default=",".join(DEFAULT_TIMING_PROBLEMS),
        help="problems for the timing runs (default %(default)s)",
    )
    p.add_argument(
        "--timing-seeds", type=int, default=1, help="seeds for the timing runs (default 1)"
    )
    p.add_argument(
        "--timing-at",
        default=None,
        help="trial numbers around which proposal seconds are summarised "
        "(default 25,50,100; --quick: 5,10)",
    )
    p.add_argument(
        "--timing-window",
        type=int,
        default=None,
        help="half-width of each timing window, trials at-w .. at+w (default 5; --quick: 2)",
    )
    p.add_argument(
        "--observe",
        choices=["bare", "sem"],
        default="bare",
        help="what the objective returns to bo_hpo and Ax: a bare float, so the noise "
        "must be inferred (default, as most users' objectives), or (mean, sem) with the "
        "true noise sd; Optuna and random search always get the bare value",
    )
    p.add_argument(
        "--reuse",
        type=Path,
        action="append",
        default=[],
        help="earlier JSON results (repeatable): a finished run with the same method, "
        "problem, seed, length and options, scored at (at least) the checkpoints asked for, "
        "is taken from there instead of being run again (runs are deterministic given the "
        "seed); the JSON records which",
    )
    p.add_argument(
        "--infeasible",
        choices=["fail", "worst"],
        default="fail",
        help="how Ax/Optuna report a configuration that violates a constraint "
        "they cannot express: a FAILED trial (default), or the worst loss",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=max(1, min(2, os.cpu_count() or 1)),
        help="concurrent runs in the quality phase, default %(default)s (timing "
        "runs go one at a time)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch threads per run (0: cores / workers; timing runs: all cores)",
    )
    p.add_argument(
        "--max-run-seconds",
        type=float,
        default=None,
        help="wall-clock cap per (method, problem, seed) run; over it: 'timeout' "
        "(default 1200; --quick: 300)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 2 problems, 2 seeds, 10 trials (checkpoints 5,10), no "
        "separate timing runs; explicit options still win",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="JSON results file (default benchmarks/results/search_quality.json)",
    )
    p.add_argument("--verbose", action="store_true", help="let the runs' library logs through")
    p.add_argument(
        "--check-problems",
        action="store_true",
        help="verify each problem's optimum by dense sampling, then exit",
    )
    args = p.parse_args(argv)

    defaults = {
        "problems": "all",
        "seeds": 5,
        "trials": "15,20,50,100",
        "timing_trials": 100,
        "timing_at": "25,50,100",
        "timing_window": 5,
        "max_run_seconds": 1200.0,
    }
    if args.quick:
        defaults.update(
            problems="optimizer_lr_wd,transformer_shape",
            seeds=2,
            trials="5,10",
            timing_trials=0,
            timing_at="5,10",
            timing_window=2,
            max_run_seconds=300.0,
        )
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.problem_list = (
        list(PROBLEM_FACTORIES)
        if args.problems == "all"
        else _name_list(args.problems, list(PROBLEM_FACTORIES), "problems")
    )
    args.method_list = _name_list(args.methods, ALL_METHODS + [
        f"bo_hpo@{v}" for v in VARIANTS], "methods")
    args.checkpoints = sorted(set(_int_list(args.trials)))
    args.timing_problem_list = _name_list(
        args.timing_problems, list(PROBLEM_FACTORIES), "timing problems"
    )
    args.timing_at_list = _int_list(args.timing_at)
    return args


def _reuse_key(r: dict[str, Any]) -> tuple:
    """What must match for a finished run to stand in for a task; the checkpoints are
    checked apart (a run scored at more checkpoints serves a task asking for fewer)."""
    return (r["phase"], r["method"], r["problem"], r["seed"], r["n_trials"],
            json.dumps(r["opts"], sort_keys=True))


def _take_reused(
    tasks: list[dict[str, Any]], paths: Sequence[Path], on_finish: Callable[[dict], None]
) -> list[dict[str, Any]]:
    """Hand finished runs from earlier JSON files to ``on_finish``; return the rest. A run
    whose checkpoints include the task's is kept at the task's checkpoints only, so seed
    batches run with different checkpoint lists combine into one table."""
    found: dict[tuple, list[dict[str, Any]]] = {}
    for path in paths:
        for r in json.loads(Path(path).read_text()).get("runs", []):
            if r.get("status") == "ok" and "opts" in r:
                r["checkpoints"] = {int(k): v for k, v in r["checkpoints"].items()}
                found.setdefault(_reuse_key(r), []).append({**r, "reused_from": str(path)})
    left = []
    for t in tasks:
        want = [int(c) for c in t["checkpoints"]]
        r = next((r for r in found.get(_reuse_key(t), [])
                  if set(want) <= {int(c) for c in r["checkpoint_list"]}), None)
        if r is None:
            left.append(t)
            continue
        alts = {int(k): v for k, v in r.get("alternatives", {}).items()}
        on_finish({**r, "checkpoint_list": want,
                   "checkpoints": {c: r["checkpoints"][c] for c in want},
                   **({"alternatives": {c: alts[c] for c in want if c in alts}}
                      if "alternatives" in r else {})})
    if len(left) < len(tasks):
        log(f"reused {len(tasks) - len(left)} finished runs from {', '.join(map(str, paths))}")
    return left


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.check_problems:
        ok = True
        for name in args.problem_list:
            r = check_problem(get_problem(name))
            ok &= bool(r["ok"])
            print(
                f"{name:28s} ok={r['ok']} optimum={r['optimum']:.6f} "
                f"best_sampled={r['best_sampled']:.6f} feasible={r['feasible_fraction']:.2f}"
            )
        return 0 if ok else 1

    cores = os.cpu_count() or 1
    q_threads = args.threads or max(1, cores // args.workers)
    t_threads = args.threads or cores
    opts = {"infeasible": args.infeasible, "observe": args.observe}
    seeds = list(range(args.seed_offset, args.seed_offset + args.seeds))
    n_run = max(args.checkpoints)

    def task(
        phase: str, m: str, pname: str, seed: int, n: int, cps: list[int], threads: int
    ) -> dict[str, Any]:
        return {
            "phase": phase,
            "method": m,
            "problem": pname,
            "seed": seed,
            "n_trials": n,
            "checkpoints": cps,
            "threads": threads,
            "opts": opts,
            "verbose": args.verbose,
        }

    # seeds outermost so a partial run already covers every (method, problem)
    quality = [
        task("quality", m, p, s, n_run, args.checkpoints, q_threads)
        for s in seeds
        for p in args.problem_list
        for m in args.method_list
    ]
    timing = (
        [
            task("timing", m, p, s, args.timing_trials, [], t_threads)
            for s in range(args.seed_offset, args.seed_offset + args.timing_seeds)
            for p in args.timing_problem_list
            for m in args.method_list
        ]
        if args.timing_trials > 0
        else []
    )

    problems = {
        name: get_problem(name)
        for name in dict.fromkeys(args.problem_list + (args.timing_problem_list if timing else []))
    }
    log(
        f"{len(quality)} quality runs ({n_run} trials, {args.workers} workers x {q_threads} "
        f"threads), {len(timing)} timing runs ({args.timing_trials} trials, 1 worker x "
        f"{t_threads} threads); cap {args.max_run_seconds:g}s per run"
    )

    args.out.parent.mkdir(parents=True, exist_ok=True)
    t_start = time.time()
    meta = {
        "script": "benchmarks/search_quality.py",
        "argv": list(sys.argv[1:] if argv is None else argv),
        "started": _dt.datetime.now().isoformat(timespec="seconds"),
        "host": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpu_count": cores,
        },
        "versions": _versions(),
        "methods": args.method_list,
        "seeds": seeds,
        "checkpoints": args.checkpoints,
        "timing_trials": args.timing_trials,
        "timing_at": args.timing_at_list,
        "timing_window": args.timing_window,
        "infeasible": args.infeasible,
        "observe": args.observe,
        "reused_from": [str(x) for x in args.reuse],
        "max_run_seconds": args.max_run_seconds,
        "workers": args.workers,
        "threads_quality": q_threads,
        "threads_timing": t_threads,
    }
    all_records: list[dict[str, Any]] = []

    def write_json(final: bool, tables: dict[str, pd.DataFrame] | None = None) -> None:
        doc = {
            "meta": {**meta, "finished": final, "elapsed_seconds": round(time.time() - t_start, 1)},
            "problems": {
                name: {
                    "description": p.description,
                    "optimum": p.optimum,
                    "argmin": p.argmin,
                    "space": {k: repr(v) for k, v in p.space.items()},
                    "constraints": p.constraints,
                }
                for name, p in problems.items()
            },
            "summary": {k: v.to_dict(orient="records") for k, v in (tables or {}).items()},
            "runs": all_records,
        }
        tmp = args.out.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(_jsonable(doc), indent=1))
        tmp.replace(args.out)

    def on_finish(rec: dict[str, Any]) -> None:
        score_record(rec, problems[rec["problem"]])
        all_records.append(rec)
        write_json(final=False)  # partial results survive an interrupted benchmark

    quality = _take_reused(quality, args.reuse, on_finish)
    run_tasks(quality, args.workers, args.max_run_seconds, on_finish)
    if timing:
        run_tasks(timing, 1, args.max_run_seconds, on_finish)

    q_recs = [r for r in all_records if r["phase"] == "quality"]
    t_recs = [r for r in all_records if r["phase"] == "timing"] or q_recs
    reg = regret_table(q_recs, args.checkpoints, args.method_list, args.problem_list)
    ovr = overall_table(reg, args.checkpoints)
    ver = verdict_table(q_recs, args.checkpoints)
    tim = timing_table(t_recs, args.timing_at_list, args.timing_window, args.method_list)
    rules = rules_table(q_recs, args.checkpoints)
    capped = capped_table(q_recs)
    write_json(final=True, tables={"regret": reg, "overall": ovr, "timing": tim,
                                   "rules": rules, "verdict": ver, "capped": capped})

    errors = [r for r in all_records if r["status"] == "error"]
    print(
        f"# Search quality: regret of the recommended configuration (true loss - optimum), "
        f"{len(seeds)} seeds, infeasible={args.infeasible}"
    )
    print(_fmt(reg))
    print("\n# Overall (mean over problems of the median regret; mean rank per problem)")
    print(_fmt(ovr))
    if len(ver):
        print("\n# bo_hpo against the best other method per problem (paired bootstrap over "
              "seeds of the difference of median regrets, 90% interval)")
        print(_fmt(ver))
    if len(rules):
        print("\n# bo_hpo's recommendation rules: median regret (model = what tune() returns)")
        print(_fmt(rules))
        summary = rules.drop(columns=["problem"]).groupby(["method", "rule"]).mean()
        print("\n# ... mean over problems")
        print(_fmt(summary.reset_index()))
    src = "timing runs" if any(r["phase"] == "timing" for r in all_records) else "quality runs"
    print(f"\n# Seconds per proposal around trial N (+-{args.timing_window}), from the {src}")
    print(_fmt(tim))
    if len(capped):
        print("\n# GP fits that stopped at the fit cap (a run with any depends on the load)")
        print(_fmt(capped))
    if errors:
        print(f"\n# {len(errors)} runs failed; first error per method:")
        for m in dict.fromkeys(r["method"] for r in errors):
            r = next(e for e in errors if e["method"] == m)
            print(f"  {m} on {r['problem']} seed {r['seed']}: {r['error'][:300]}")
    print(f"\nJSON: {args.out}  ({time.time() - t_start:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
