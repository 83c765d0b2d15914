"""The benchmark's test problems (benchmarks/problems.py, benchmarks/real_problems.py).

Synthetic problems: the stated optimum is attained at ``argmin`` and no random or locally
perturbed configuration beats it. Real (scikit-learn) problems: ``observe`` returns finite
losses in range, ``true`` is deterministic, the hard-coded reference optimum is reproduced.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import problems as P  # noqa: E402

SYNTHETIC = [n for n in P.PROBLEM_FACTORIES if n not in P.REAL_PROBLEMS]


@pytest.mark.parametrize("name", SYNTHETIC)
def test_synthetic_optimum_verified(name: str) -> None:
    p = P.get_problem(name)
    r = P.check_problem(p, n_random=3000, n_local=2000)
    assert r["ok"], r
    assert r["argmin_feasible"]


@pytest.mark.parametrize("name", SYNTHETIC)
def test_synthetic_noise_realistic(name: str) -> None:
    p = P.get_problem(name)
    rng = np.random.default_rng(0)
    for _ in range(200):
        cfg = P.sample_config(p.space, rng)
        if not p.feasible(cfg):
            continue
        mean, sem = p.observe(cfg, rng)
        assert math.isfinite(mean) and 0.0 < sem < 0.2


def test_new_problems_registered() -> None:
    for name in (
        "multimodal_lr_wd",
        "cat_heavy",
        "conditional_narrow",
        "high_dim_16",
        "branin_log",
        "transformer_schedule",
        "svc_digits",
        "gbm_cv",
    ):
        assert name in P.PROBLEM_FACTORIES


def test_high_dim_16_has_every_kind() -> None:
    p = P.get_problem("high_dim_16")
    assert len(p.space) == 16
    kinds = {P.spec_kind(s) for s in p.space.values()}
    assert kinds == {"uniform", "log_uniform", "int", "log_int", "ordered", "choice"}


def test_branin_three_global_minima() -> None:
    p = P.get_problem("branin_log")
    for ab in P.BRANIN_MINIMA:
        cfg = {**P._br_from_ab(*ab), "label_smoothing": 0.25}
        assert abs(p.true(cfg) - p.optimum) < 1e-9


def test_conditional_narrow_is_narrow() -> None:
    p = P.get_problem("conditional_narrow")
    best = dict(p.argmin)
    assert p.true(best) == pytest.approx(0.18)
    # 0.1 away in momentum (lr keeping the effective lr): worse than Adam's plateau (0.20)
    off = {**best, "momentum": 0.85, "lr": 0.05 * 0.15 / 0.05}
    assert p.true(off) > 0.20
    adam = {"optimizer": "Adam", "lr": 1e-3, "beta2": 0.999}
    assert p.true(adam) == pytest.approx(0.20)


@pytest.mark.parametrize("name", ["svc_digits", "gbm_cv"])
def test_real_problem(name: str) -> None:
    import sklearn  # noqa: F401  (a dev dependency: a missing one fails, not skips)
    p = P.get_problem(name)
    rng = np.random.default_rng(0)
    cfgs = [dict(p.argmin)] + [P.sample_config(p.space, rng) for _ in range(2)]
    for cfg in cfgs:
        mean, sem = p.observe(cfg, rng)
        assert math.isfinite(mean) and 0.0 <= mean <= 1.0
        assert math.isfinite(sem) and 0.0 < sem < 0.5
        t = p.true(cfg)
        assert 0.0 <= t <= 1.0
        assert 0.0 < p.noise_sd(cfg) < 0.5
    # repeated observations differ (fresh CV shuffle), true is deterministic (also uncached)
    obs = {p.observe(p.argmin, rng)[0] for _ in range(5)}
    assert len(obs) > 1
    t1 = p.true(p.argmin)
    p.objective._cache.clear()
    assert p.true(p.argmin) == t1
    # the hard-coded reference optimum (found with scikit-learn 1.9.1) is reproduced
    assert abs(t1 - p.optimum) < 0.01


def test_tables_take_a_run_stopped_before_the_last_checkpoint() -> None:
    """A run cut off by ``--max-run-seconds`` has no checkpoint at 100; the tables count
    it where it has one and print the rest (once, seed 4 of the 100-trial run crashed the
    rules table after all its runs had finished)."""
    import search_quality as S

    def run(method, seed, regrets, alternatives=True):
        cps = {n: {"regret": v, "oracle_regret": v, "alt_regret": {"observed": v}}
               for n, v in regrets.items()}
        return {"problem": "p", "method": method, "seed": seed, "status": "ok",
                "trials": [{"feasible": True}], "checkpoints": cps,
                "alternatives": {"20": {}} if alternatives else {}}

    records = [run("bo_hpo", 0, {20: 0.3, 50: 0.2, 100: 0.1}),
               run("bo_hpo", 1, {20: 0.5, 50: 0.4}),  # stopped before 100
               run("ax", 0, {20: 0.4, 50: 0.3, 100: 0.2}, alternatives=False),
               run("ax", 1, {20: 0.6, 50: 0.5, 100: 0.3}, alternatives=False)]
    reg = S.regret_table(records, [20, 50, 100], ["bo_hpo", "ax"], ["p"])
    ours = reg[reg["method"] == "bo_hpo"].iloc[0]
    assert (ours["n@50"], ours["n@100"], ours["regret@100 med"]) == (2, 1, 0.1)
    rules = S.rules_table(records, [20, 50, 100])
    model = rules[(rules["method"] == "bo_hpo") & (rules["rule"] == "model")].iloc[0]
    assert model["regret@100 med"] == 0.1 and model["regret@20 med"] == 0.4
    verdict = S.verdict_table(records, [100])
    assert list(verdict["seeds"]) == [1]


def test_a_run_scored_at_more_checkpoints_is_reused_at_the_tasks_checkpoints(tmp_path) -> None:
    """Seed batches run with different checkpoint lists (15,20,50,100 against 20,50,100)
    combine into one table through ``--reuse``; a task asking for a checkpoint the stored
    run lacks runs again."""
    import json

    import search_quality as S

    opts = {"observe": "bare"}
    stored = {"phase": "quality", "method": "bo_hpo", "problem": "p", "seed": 1,
              "n_trials": 100, "opts": opts, "status": "ok",
              "checkpoint_list": [15, 20, 50, 100],
              "checkpoints": {str(n): {"config": {"x": n}} for n in (15, 20, 50, 100)},
              "alternatives": {"15": {"observed": {"x": 0}}, "50": {"observed": {"x": 1}}}}
    path = tmp_path / "batch.json"
    path.write_text(json.dumps({"runs": [stored]}))

    def task(checkpoints, seed=1):
        return {"phase": "quality", "method": "bo_hpo", "problem": "p", "seed": seed,
                "n_trials": 100, "opts": opts, "checkpoints": checkpoints}

    taken: list[dict] = []
    left = S._take_reused([task([20, 50, 100]), task([10, 20]), task([20, 50, 100], seed=2)],
                          [path], taken.append)
    assert [(t["checkpoints"], t["seed"]) for t in left] == [([10, 20], 1), ([20, 50, 100], 2)]
    (run,) = taken
    assert run["checkpoint_list"] == [20, 50, 100]
    assert run["checkpoints"] == {20: {"config": {"x": 20}}, 50: {"config": {"x": 50}},
                                  100: {"config": {"x": 100}}}
    assert run["alternatives"] == {50: {"observed": {"x": 1}}}
    assert run["reused_from"] == str(path)


def test_a_manifest_joins_exactly_the_runs_it_names(tmp_path) -> None:
    """``summarize.py --manifest`` takes the named seeds from the named files, shows a
    variant that became the default under the default's name, keeps the table's checkpoints,
    and refuses a manifest that promises a run a file lacks or names a run twice."""
    import json

    import summarize

    def run(method, seed, regret, checkpoints=(15, 20, 50)):
        return {"phase": "quality", "method": method, "problem": "p", "seed": seed,
                "status": "ok", "checkpoints": {str(n): {"regret": regret + n / 1000}
                                                for n in checkpoints}}

    (tmp_path / "res").mkdir()
    (tmp_path / "res" / "a.json").write_text(json.dumps({"runs": [
        run("bo_hpo@init50", 0, 0.1), run("bo_hpo@init50", 1, 0.2),
        run("bo_hpo", 0, 9.0), run("ax", 0, 0.3), run("ax", 1, 0.4)]}))
    (tmp_path / "res" / "b.json").write_text(json.dumps({"runs": [run("ax", 2, 0.5)]}))

    def manifest(ax_entries, checkpoints=(20, 50)):
        path = tmp_path / "m.json"
        path.write_text(json.dumps({"results_dir": "res", "checkpoints": list(checkpoints),
                                    "problems": {"p": {
                                        "bo_hpo": [{"file": "a.json", "method": "bo_hpo@init50",
                                                    "seeds": [0, 1]}],
                                        "ax": ax_entries}}}))
        return path

    runs = summarize.manifest_runs(manifest([
        {"file": "a.json", "method": "ax", "seeds": [0, 1]},
        {"file": "b.json", "method": "ax", "seeds": [2]}]))
    got = sorted((r["method"], r["seed"], r["source"], round(r["checkpoints"][20]["regret"], 6))
                 for r in runs)
    assert got == [("ax", 0, "a.json", 0.32), ("ax", 1, "a.json", 0.42),
                   ("ax", 2, "b.json", 0.52), ("bo_hpo", 0, "a.json", 0.12),
                   ("bo_hpo", 1, "a.json", 0.22)]  # never the plain bo_hpo run (9.0)
    assert all(sorted(r["checkpoints"]) == [20, 50] for r in runs)  # 15 left out
    with pytest.raises(SystemExit, match="b.json has no finished ax run of p, seed 3"):
        summarize.manifest_runs(manifest([{"file": "b.json", "method": "ax", "seeds": [3]}]))
    with pytest.raises(SystemExit, match="p ax seed 0 is named twice"):
        summarize.manifest_runs(manifest([{"file": "a.json", "method": "ax", "seeds": [0]},
                                          {"file": "a.json", "method": "ax", "seeds": [0]}]))
    with pytest.raises(SystemExit, match=r"has no checkpoint \[100\]"):
        summarize.manifest_runs(manifest([{"file": "a.json", "method": "ax", "seeds": [0]}],
                                         checkpoints=(20, 100)))


def test_a_repeat_check_finds_where_a_new_run_leaves_the_joined_one(tmp_path) -> None:
    """``summarize.py --manifest M --repeats NEW``: a run made again with the same trials
    repeats; one that takes another configuration says at which trial, and which
    checkpoints still agree; a run the manifest does not join is an error."""
    import json

    import summarize

    def run(method, seed, lrs, regrets):
        return {"phase": "quality", "method": method, "problem": "p", "seed": seed,
                "status": "ok", "trials": [{"i": i, "config": {"lr": lr}}
                                           for i, lr in enumerate(lrs)],
                "checkpoints": {str(n): {"regret": g} for n, g in zip((2, 3), regrets,
                                                                       strict=True)},
                "notes": [{"n": 3, "note": {"capped_fits": seed}}]}

    (tmp_path / "old.json").write_text(json.dumps({"runs": [
        run("bo_hpo@init50", 0, [0.1, 0.2, 0.3], [0.5, 0.4]),
        run("bo_hpo@init50", 1, [0.1, 0.2, 0.3], [0.5, 0.4])]}))
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps({"checkpoints": [2, 3], "problems": {"p": {"bo_hpo": [
        {"file": "old.json", "method": "bo_hpo@init50", "seeds": [0, 1]}]}}}))
    joined = summarize.manifest_runs(manifest)
    rows = summarize.repeat_rows(joined, [
        run("bo_hpo", 1, [0.1, 0.2, 0.9], [0.5, 0.3]),  # today's name for the variant
        run("bo_hpo", 0, [0.1, 0.2, 0.3], [0.5, 0.4])])
    assert [(r["seed"], r["first_differing_trial"], r["same_checkpoints"], r["checkpoints"],
             r["capped_fits"]) for r in rows] == [(1, 2, 1, 2, 1), (0, "none", 2, 2, 0)]
    with pytest.raises(KeyError, match="no bo_hpo run of p, seed 7"):
        summarize.repeat_rows(joined, [run("bo_hpo", 7, [0.1], [0.5, 0.4])])
    new = tmp_path / "new.json"
    new.write_text(json.dumps({"runs": [run("bo_hpo", 0, [0.1, 0.2, 0.3], [0.5, 0.4])]}))
    assert summarize.main(["--manifest", str(manifest), "--repeats", str(new)]) == 0


def test_a_bo_hpo_run_records_how_many_fits_stopped_at_the_cap(monkeypatch) -> None:
    """A fit stopped at ``FIT_TIMEOUT`` makes a run depend on the machine's load; the run's
    note says how many did, and the capped table sums them per method and problem."""
    import search_quality as S

    from bo_hpo import propose

    # the run replaces these module-wide settings; put them back afterwards
    monkeypatch.setattr(propose, "SETTINGS", propose.SETTINGS)
    monkeypatch.setattr(propose, "RETIRE_AS", propose.RETIRE_AS)
    monkeypatch.setitem(S.VARIANTS, "test_cap", {**S.VARIANTS["default"], "fit_timeout": 1e-9})

    def run(variant):
        messages: list[tuple[str, dict]] = []
        S._run_bo_hpo("bo", P.PROBLEM_FACTORIES["optimizer_lr_wd"](), 0, 9, [7, 9],
                      np.random.default_rng(0), lambda kind, p: messages.append((kind, p)),
                      {"observe": "bare", "variant": variant})
        (note,) = [p["note"] for kind, p in messages if kind == "note"]
        return {"problem": "optimizer_lr_wd", "method": "bo_hpo",
                "notes": [{"n": 9, "note": note}]}

    quick, stopped = run("default"), run("test_cap")  # no fit here takes 10 s; all 1 ns
    fits = quick["notes"][0]["note"]["fits"]
    assert fits >= 1 and quick["notes"][0]["note"]["capped_fits"] == 0
    assert quick["notes"][0]["note"]["capped_asides"] == 0
    assert stopped["notes"][0]["note"]["capped_fits"] == stopped["notes"][0]["note"]["fits"] >= 1
    # the recommendation asked for at trial 7 fitted aside, and stopped at the cap too
    assert stopped["notes"][0]["note"]["capped_asides"] >= 1
    table = S.capped_table([quick, stopped, {"problem": "p", "method": "ax", "notes": []}])
    assert table.to_dict(orient="records") == [
        {"method": "bo_hpo", "problem": "optimizer_lr_wd",
         "fits": fits + stopped["notes"][0]["note"]["fits"],
         "capped_fits": stopped["notes"][0]["note"]["capped_fits"],
         "capped_asides": stopped["notes"][0]["note"]["capped_asides"],
         "runs_capped": 1, "runs": 2}]


def test_a_replay_draws_the_runs_noise_again(monkeypatch) -> None:
    """``replay_recommendation.py`` rebuilds a run's observed values from its recorded
    configurations and the run's noise stream: the same values the objective returned, in
    order; and it recommends one of the evaluated configs."""
    import zlib

    import replay_recommendation as R
    import search_quality as S

    from bo_hpo import propose
    from bo_hpo.space import SearchSpace

    monkeypatch.setattr(propose, "SETTINGS", propose.SETTINGS)
    monkeypatch.setattr(propose, "RETIRE_AS", propose.RETIRE_AS)
    problem = P.get_problem("hetero_noise_trap")
    seen: list[float] = []
    observe = problem.observe

    def recording(config, rng):
        mean, sem = observe(config, rng)
        seen.append(mean)
        return mean, sem

    monkeypatch.setattr(problem, "observe", recording)
    messages: list[tuple[str, dict]] = []
    rng = np.random.default_rng([3, zlib.crc32(problem.name.encode()), 20240])
    S._run_bo_hpo("bo", problem, 3, 10, [10], rng,
                  lambda kind, p: messages.append((kind, p)),
                  {"observe": "bare", "variant": "default", "infeasible": "fail"})
    trials = [p for kind, p in messages if kind == "trial"]
    monkeypatch.setattr(problem, "observe", observe)
    data = R.observations(problem, {"seed": 3, "trials": trials})
    assert [mean for _, mean, _ in data if mean is not None] == seen
    regret = R.recommend(problem, SearchSpace(problem.space,
                                              constraints=list(problem.constraints)),
                         3, data, "default")
    feasible = [problem.regret(P.active_config(problem.space, c)) for c, m, _ in data
                if m is not None]
    assert regret in feasible


def test_a_replay_variant_names_its_pick_and_whether_it_knows_the_noise(monkeypatch) -> None:
    """``NAME/kK`` picks by predicted mean plus K posterior sds; ``NAME/sem`` gives the fit
    each trial's true noise sd as its SEM, ``NAME/mlh`` one inferred from the residuals, higher
    where the noise is; anything else after the slash is refused."""
    import replay_recommendation as R

    from bo_hpo import propose
    from bo_hpo.space import SearchSpace
    from bo_hpo.trial import Prediction

    assert R.split_variant("default") == ("default", 0.0, None)
    assert R.split_variant("hetero/k1.5") == ("hetero", 1.5, None)
    assert R.split_variant("default/sem") == ("default", 0.0, "sem")
    assert R.split_variant("default/mlh") == ("default", 0.0, "mlh")
    for bad in ("default/x", "default/k", "default/kone"):
        with pytest.raises(ValueError, match="/kK"):
            R.split_variant(bad)

    monkeypatch.setattr(propose, "SETTINGS", propose.SETTINGS)
    problem = P.get_problem("hetero_noise_trap")
    rng = np.random.default_rng(0)
    configs = [{"lr": 10 ** x, "warmup_frac": w, "weight_decay": 1e-4}
               for x, w in zip(np.linspace(-3.5, -0.5, 8), np.linspace(0.0, 0.5, 8),
                               strict=True)]
    data = [(c, problem.observe(c, rng)[0], problem.true(c)) for c in configs]
    given: list[float | None] = []
    complete = propose.AxProposer.complete

    def recording(self, index, mean, sem, *args, **kwargs):
        given.append(sem)
        return complete(self, index, mean, sem, *args, **kwargs)

    monkeypatch.setattr(propose.AxProposer, "complete", recording)
    space = SearchSpace(problem.space)
    R._FITS.clear()
    R.recommend(problem, space, 0, data, "default/sem")
    assert given == [problem.noise_sd(c) for c in configs]
    given.clear()
    R.recommend(problem, space, 0, data, "default")
    R.recommend(problem, space, 0, data, "default/k2")  # the same fit, another pick
    assert given == [None] * len(configs)
    given.clear()
    R.recommend(problem, space, 0, data, "default/mlh")  # the default fit is reused
    assert len(given) == len(configs) and all(sd > 0 for sd in given)
    # the regression behind /mlh recovers noise that grows with the learning rate, given
    # residuals of a known spread (400 of them: no lucky draw)
    lrs = 10 ** np.linspace(-4.0, 0.0, 400)
    told = [(i, {"lr": lr, "warmup_frac": 0.1, "weight_decay": 1e-4}, None,
             problem.noise_sd({"lr": lr, "warmup_frac": 0.1, "weight_decay": 1e-4})
             * rng.standard_normal()) for i, lr in enumerate(lrs)]
    inferred = R._mlh_sems(problem, told, {i: Prediction(0.0, 0.0) for i in range(400)})
    true_sd = [problem.noise_sd(c) for _, c, _, _ in told]
    assert inferred[-1] > 5 * inferred[0]
    assert np.corrcoef(np.log(inferred), np.log(true_sd))[0, 1] > 0.9


def test_a_replay_takes_the_peers_runs_of_the_replayed_seeds_only(tmp_path) -> None:
    """``--peers FILES``: the other methods' finished quality runs on the replayed problems
    and seeds, the first of each kept, checkpoints keyed by number as the verdict wants."""
    import argparse

    import replay_recommendation as R

    def run(method, seed, regret, status="ok", phase="quality"):
        return {"method": method, "problem": "p", "seed": seed, "status": status,
                "phase": phase, "checkpoints": {"20": {"regret": regret}}}

    first = tmp_path / "a.json"
    first.write_text(json.dumps({"runs": [
        run("bo_hpo", 0, 0.1), run("ax", 0, 0.2), run("ax", 1, 0.3), run("ax", 2, 0.4),
        run("tpe", 0, 0.5, status="error"), run("tpe", 0, 0.6, phase="timing")]}))
    second = tmp_path / "b.json"
    second.write_text(json.dumps({"runs": [run("ax", 0, 0.9), run("tpe", 1, 0.7)]}))
    args = argparse.Namespace(peers=[str(first), str(second)], method="bo_hpo", manifest=None)
    got = R.peer_runs(args, {("p", 0), ("p", 1)})
    assert sorted((r["method"], r["seed"], r["checkpoints"][20]["regret"]) for r in got) == [
        ("ax", 0, 0.2), ("ax", 1, 0.3), ("tpe", 1, 0.7)]

def test_a_replay_refuses_peers_it_cannot_find(capsys) -> None:
    """``--peers`` with no files takes the manifest's runs, so without a manifest it is a
    usage error before any replay, not a failure after one."""
    import replay_recommendation as R

    with pytest.raises(SystemExit) as exit_info:
        R.main(["--problem", "hetero_noise_trap", "--files", "missing.json", "--peers"])
    assert exit_info.value.code == 2
    assert "--peers without files needs --manifest" in capsys.readouterr().err
