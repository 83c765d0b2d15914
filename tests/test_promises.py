"""Promises of ``tune`` that the rest of the suite does not guard, checked by behaviour.

Each test fails when its promise is taken out of the code (verified by making the removal
in a scratch copy):

* the recommendation is the evaluated config with the best model-predicted mean, not the
  luckiest raw draw (removal: pick by observed mean in ``_Loop._predicted_best``);
* invalid proposals are shown to the model at the worst value seen so far (removal:
  ``AxProposer.reject`` always retires the Ax trial);
* the objective's SEM reaches Ax (removal: ``AxProposer.complete`` passes ``None``);
* failures that say something about the config (``PENALISED_REASONS``) reach the model at
  the worst value seen so far, other failures do not (removal: ``penalise=False`` always in
  ``_Loop._finish``).

The last five tests kill mutants that survived mutation testing (mutmut) of the space,
translate, loop and propose modules: imputation when maximising, an invalid first proposal
and a numpy boolean from ``is_valid``, rule evaluation, table specs and the stored space,
and the encoding of a listed dividend.

The runs are small (random search where the proposals do not matter, 4 to 12 trials) and
seeded; where noise matters the assertion is over several seeds with a margin measured on
other seed windows too (seeds 0-31 for the recommendation; 0-9 for the others).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from bo_hpo import SearchSpace, TrialFailed, tune
from bo_hpo.space import Rule
from bo_hpo.translate import translate

LINE = {"x": ("uniform", 0.0, 1.0)}
PLANE = {"x": ("uniform", 0.0, 1.0), "y": ("uniform", 0.0, 1.0)}


def _run(objective, space, **kwargs):
    """``tune`` with a callback; returns (result, the loop behind it)."""
    progress = []
    result = tune(objective, space, callback=progress.append, **kwargs)
    return result, progress[-1]._loop


def _ax_rows(loop):
    """Ax's data by Ax trial index: {index: (mean, sem)} (sem ``nan`` when unknown)."""
    df = loop.proposer.client._experiment.lookup_data().df
    return {int(row.trial_index): (float(row.mean), float(row.sem)) for row in df.itertuples()}


def _ax_status(loop, record):
    return loop.proposer.client._experiment.trials[loop._ax_index[record.trial]].status


def _worst_before(records, trial, minimize=True):
    """The worst mean among the completed trials numbered below ``trial`` (None if none)."""
    means = [r.mean for r in records if r.status == "completed" and r.trial < trial]
    if not means:
        return None
    return max(means) if minimize else min(means)


# ------------------------------------------------------------------ 1. the recommendation


def _heteroscedastic_run(seed):
    """A bowl with its minimum at x=0.25, measured precisely for x <= 0.5 (SEM 0.02) and
    very noisily above (SEM 2.0): the luckiest draw is almost always a noisy one far from
    the minimum. Returns (true value of best_config, true value of the best observed)."""
    rng = np.random.default_rng(100 + seed)

    def true(config):
        return 4.0 * (config["x"] - 0.25) ** 2

    def objective(config):
        sem = 2.0 if config["x"] > 0.5 else 0.02
        return true(config) + sem * float(rng.standard_normal()), sem

    result = tune(objective, LINE, budget=12, method="random", seed=seed)
    assert result.recommendation_source == "model"
    differs = result.best_trial != result.best_observed["trial"]
    return true(result.best_config), true(result.best_observed["config"]), differs


def test_recommendation_is_the_best_predicted_not_the_luckiest_draw():
    # measured on seeds 0-7 (and 8-15, 16-23): the recommendation is better in 4 (7, 6)
    # seeds, worse in 1 (0, 0); mean true value 0.23 against 0.82 (0.01/0.23, 0.01/0.33)
    runs = [_heteroscedastic_run(seed) for seed in range(8)]
    recommended = np.array([r[0] for r in runs])
    observed = np.array([r[1] for r in runs])
    assert sum(r[2] for r in runs) >= 3, runs
    assert (recommended < observed - 1e-9).sum() >= 3, runs
    assert (recommended > observed + 0.01).sum() <= 2, runs
    assert observed.mean() - recommended.mean() > 0.1, runs


# ------------------------------------------------------------------ 2. invalid proposals


def test_invalid_proposals_are_told_the_worst_value_so_far():
    # the best region (small x) is invalid: the model must learn it is bad, not extrapolate
    # the trend into it
    for seed in (0, 1):
        result, loop = _run(lambda c: c["x"], PLANE, budget=8, method="random", seed=seed,
                            is_valid=lambda c: c["x"] > 0.4)
        rows = _ax_rows(loop)
        invalid = [r for r in result.records if r.status == "invalid"
                   and _worst_before(result.records, r.trial) is not None]
        assert len(invalid) >= 2, result.trials
        for r in invalid:
            assert _ax_status(loop, r).is_completed, r
            mean, _ = rows[loop._ax_index[r.trial]]
            assert mean == pytest.approx(_worst_before(result.records, r.trial)), r
        completed = [r for r in result.records if r.status == "completed"]
        predicted = loop.proposer.predict([loop._ax_index[r.trial] for r in completed + invalid])
        best_valid = min(predicted[loop._ax_index[r.trial]].mean for r in completed)
        for r in invalid:
            assert predicted[loop._ax_index[r.trial]].mean > best_valid, r


# ------------------------------------------------------------------ 3. the SEM


def test_the_objectives_sem_reaches_ax():
    def objective(config):
        return config["x"], 0.01 + 0.1 * config["y"]  # a different SEM for every trial

    result, loop = _run(objective, PLANE, budget=6, method="random", seed=0)
    rows = _ax_rows(loop)
    completed = [r for r in result.records if r.status == "completed"]
    assert len(completed) == 6
    for r in completed:
        assert r.sem == pytest.approx(0.01 + 0.1 * r.config["y"])
        assert rows[loop._ax_index[r.trial]] == pytest.approx((r.mean, r.sem)), r


# ------------------------------------------------------------------ 4. failures


LR_SPACE = {"lr": ("log_uniform", 1e-5, 1e-1), "dropout": ("uniform", 0.0, 1.0)}


def _diverging():
    """Loss falls as the learning rate grows, until training diverges above 1e-2; the 4th
    and 8th calls crash with a plain exception (nothing to learn about their configs)."""
    calls = []

    def objective(config):
        calls.append(config)
        if len(calls) in (4, 8):
            raise RuntimeError("data loader crashed")
        if config["lr"] > 1e-2:
            raise TrialFailed("diverged", "loss exploded")
        return -math.log10(config["lr"])

    return objective


def test_diverging_trials_are_shown_to_the_model_other_failures_are_not():
    for seed in (0, 1):
        result, loop = _run(_diverging(), LR_SPACE, budget=12, method="random", seed=seed)
        rows = _ax_rows(loop)
        diverged = [r for r in result.records if r.reason == "diverged"
                    and _worst_before(result.records, r.trial) is not None]
        crashed = [r for r in result.records if r.reason == "exception"]
        assert len(diverged) >= 2 and len(crashed) == 2, result.trials
        for r in diverged:
            assert _ax_status(loop, r).is_completed, r
            mean, _ = rows[loop._ax_index[r.trial]]
            assert mean == pytest.approx(_worst_before(result.records, r.trial)), r
        for r in crashed:
            assert _ax_status(loop, r).is_failed, r
            assert loop._ax_index[r.trial] not in rows, r
        completed = [r for r in result.records if r.status == "completed"]
        predicted = loop.proposer.predict([loop._ax_index[r.trial]
                                           for r in completed + diverged])
        best = min(predicted[loop._ax_index[r.trial]].mean for r in completed)
        for r in diverged:
            assert predicted[loop._ax_index[r.trial]].mean > best, r


# ------------------------------------------------------------------ mutation-testing survivors
# Each test below kills mutants that survived mutmut over the space, translate, loop and
# propose modules and the rest of the suite.


def test_a_maximising_run_imputes_the_lowest_value_not_the_highest():
    # survivor: ``worst = max(self._means)`` whatever the direction, which tells the model a
    # diverging config is the best one seen when maximising
    def accuracy(config):
        if config["lr"] > 1e-2:
            raise TrialFailed("diverged", "loss exploded")
        return math.log10(config["lr"]) + 6.0  # higher is better, up to the divergence

    result, loop = _run(accuracy, LR_SPACE, budget=10, method="random", seed=0,
                        minimize=False)
    rows = _ax_rows(loop)
    diverged = [r for r in result.records if r.reason == "diverged"
                and _worst_before(result.records, r.trial, minimize=False) is not None]
    assert len(diverged) >= 2, result.trials
    spread = 0  # diverged trials told a value the highest one seen so far would differ from
    for r in diverged:
        worst = _worst_before(result.records, r.trial, minimize=False)
        assert rows[loop._ax_index[r.trial]][0] == pytest.approx(worst), r
        spread += worst < max(x.mean for x in result.records
                              if x.status == "completed" and x.trial < r.trial)
    assert spread >= 1, result.trials


def test_an_invalid_first_proposal_is_retired_and_the_run_goes_on():
    # survivors: the retire branch of ``reject`` (no value seen yet) broken, since Ax opens
    # with the centre of the space, which this predicate rejects; and a numpy boolean from
    # ``is_valid`` (what a numpy comparison gives) no longer read as True or False
    result, loop = _run(lambda c: c["x"], LINE, budget=4, method="random", seed=0,
                        is_valid=lambda c: np.abs(c["x"] - 0.5) > 0.05)
    first = result.records[0]
    assert first.status == "invalid" and first.config == {"x": 0.5}
    assert _ax_status(loop, first).is_failed  # not abandoned: that would stay pending
    assert loop._ax_index[first.trial] not in _ax_rows(loop)
    assert result.budget_spent["trials"] == 4
    assert sum(r.status == "completed" for r in result.records) == 4


def test_rules_evaluate_chains_or_not_and_names_on_both_sides():
    # survivors in ``_evaluate`` (experiment files' ``invalid_if`` rules): a chained
    # comparison losing its middle term, ``or`` broken, ``not`` and unary minus losing the
    # config, a false comparison read as true
    rule = Rule.parse("hidden_dim * batch_size > 65536 or 0.01 < lr < 0.1")
    assert rule({"hidden_dim": 512, "batch_size": 256, "lr": 1.0})  # left of the ``or``
    assert rule({"hidden_dim": 64, "batch_size": 32, "lr": 0.05})  # right of the ``or``
    assert not rule({"hidden_dim": 64, "batch_size": 32, "lr": 0.5})  # 0.5 < 0.1 is false
    assert not rule({"hidden_dim": 64, "batch_size": 32, "lr": 0.001})
    negated = Rule.parse("not optimizer == 'SGD' and -lr < -0.05")
    assert negated({"optimizer": "Adam", "lr": 0.1})
    assert not negated({"optimizer": "SGD", "lr": 0.1})
    assert not negated({"optimizer": "Adam", "lr": 0.01})


def test_table_specs_and_stored_spaces_keep_conditions_kinds_and_constraints():
    # survivors in loading: the ``type`` alias of ``kind`` ignored, ``when`` dropped from a
    # choice or fixed given as a table, and from a fixed read back from the store; the
    # ``ordered`` flag and the constraints lost on the way to the store and back
    space = SearchSpace(
        {
            "optimizer": {"type": "choice", "values": ["SGD", "Adam"]},
            "nesterov": {"kind": "choice", "values": [True, False],
                         "when": {"optimizer": ["SGD"]}},
            "beta": {"kind": "fixed", "value": 0.9, "when": {"optimizer": ["Adam"]}},
            "layers": ("choice", [2, 4, 8]),
            "width": ("ordered", [64, 128, 256]),
            "warmup": ("uniform", 0.0, 0.6),
            "decay": ("uniform", 0.0, 0.6),
        },
        constraints=["warmup + decay <= 0.9", "width % layers == 0"],
    )
    assert space.params["nesterov"].when == {"optimizer": ("SGD",)}
    assert space.params["beta"].when == {"optimizer": ("Adam",)}
    assert space.active_names({"optimizer": "Adam"}) == [
        "optimizer", "beta", "layers", "width", "warmup", "decay"]
    stored = SearchSpace.from_dict(space.to_dict())
    assert stored.params == space.params
    assert stored.params["width"].ordered and not stored.params["layers"].ordered
    assert [c.text for c in stored.constraints] == [c.text for c in space.constraints]
    assert stored.violated({"optimizer": "SGD", "nesterov": True, "layers": 8, "width": 64,
                            "warmup": 0.5, "decay": 0.5}) == ["warmup + decay <= 0.9"]


def test_a_choice_dividend_round_trips_through_its_encoding():
    # survivor: the position of a listed dividend (a choice) computed over the wrong span, so
    # the baseline, a fallback or a resumed trial reaches Ax as a neighbouring value
    widths = [64, 96, 128, 192, 256, 384, 512]
    space = SearchSpace({"hidden_dim": ("choice", widths), "num_heads": ("choice", [1, 2, 4, 8])},
                        ["hidden_dim % num_heads == 0"])
    translation = translate(space)
    for width in widths:
        for heads in (1, 2, 4, 8):
            if width % heads == 0:
                config = {"hidden_dim": width, "num_heads": heads}
                assert translation.decode(translation.encode(config)) == config
