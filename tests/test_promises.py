"""Promises of ``tune`` that the rest of the suite does not guard, checked by behaviour.

Each test fails when its promise is taken out of the code (verified by making the removal
in a scratch copy):

* the recommendation is the evaluated config with the best model-predicted mean, not the
  luckiest raw draw (removal: pick by observed mean in ``_Loop._predicted_best``);
* invalid proposals are shown to the model at the worst value seen so far (removal:
  ``AxProposer.reject`` always abandons the Ax trial);
* the objective's SEM reaches Ax (removal: ``AxProposer.complete`` passes ``None``);
* failures that say something about the config (``PENALISED_REASONS``) reach the model at
  the worst value seen so far, other failures do not (removal: ``penalise=False`` always in
  ``_Loop._finish``).

The runs are small (random search where the proposals do not matter, 8 to 12 trials) and
seeded; where noise matters the assertion is over several seeds with a margin measured on
other seed windows too.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from bo_hpo import TrialFailed, tune

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
            assert predicted[loop._ax_index[r.trial]].mean > best + 0.5, r
