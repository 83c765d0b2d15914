"""Warm-started GP fits: the next fit starts where the last one ended, only inside the
proposer's own fits, and anything unusual gives a cold fit rather than an error."""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time

import pytest
import torch

from bo_hpo import SearchSpace, _ax, propose

SPACE = {
    "opt": ("choice", ["a", "b"]),
    "lr": ("log_uniform", 1e-5, 1.0),
    "x": ("uniform", 0.0, 1.0),
}


def _loss(c):
    return (math.log10(c["lr"]) + 3) ** 2 + (c["x"] - 0.3) ** 2 + (c["opt"] == "b")


def _run(proposer, n):
    last = None
    for _ in range(n):
        last = proposer.propose()
        proposer.complete(last.ax_index, _loss(last.config), None)
    return last


def _params(model):
    return {k: v.detach().clone() for k, v in model.named_parameters()}


def _gp(n=8, d=2, seed=0):
    from botorch.models import SingleTaskGP
    from gpytorch.mlls import ExactMarginalLogLikelihood

    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, d, generator=g, dtype=torch.float64)
    y = (x - 0.3).pow(2).sum(-1, keepdim=True) + 0.01 * torch.randn(n, 1, generator=g,
                                                                   dtype=torch.float64)
    model = SingleTaskGP(x, y)
    return ExactMarginalLogLikelihood(model.likelihood, model)


def _fit():
    """The function Ax's modular generator fits with (the hook, once installed)."""
    from ax.generators.torch.botorch_modular import utils

    return utils.fit_gpytorch_mll


@pytest.fixture
def spy(monkeypatch):
    """Records the hyperparameters each fit starts from (after the warm start had its
    say, i.e. what L-BFGS-B starts from) and ends with."""
    starts, ends = [], []
    before, after = _ax.WarmStart.before_fit, _ax.WarmStart.after_fit

    def spy_before(self, model, n, record=True):
        reason = before(self, model, n, record)
        starts.append((reason, _params(model)))
        return reason

    def spy_after(self, model, n, reason, loss, **timing):
        ends.append(_params(model))
        return after(self, model, n, reason, loss, **timing)

    monkeypatch.setattr(_ax.WarmStart, "before_fit", spy_before)
    monkeypatch.setattr(_ax.WarmStart, "after_fit", spy_after)
    return starts, ends


def test_second_fit_starts_from_the_first_fits_hyperparameters(monkeypatch, spy):
    monkeypatch.setattr(_ax, "COLD_REFIT_GROWTH", math.inf)  # warm after the first fit
    starts, ends = spy
    proposer = propose.AxProposer(SearchSpace(SPACE), seed=0, n_initial=5)
    assert _run(proposer, 7).generator == "gp"  # 5 Sobol points, then two GP proposals
    assert len(starts) == 2
    (reason0, start0), (reason1, start1) = starts
    assert reason0 == "no earlier fit"
    assert reason1 is None
    for name, value in ends[0].items():
        assert torch.equal(start1[name], value), name
    # the first fit moved away from the defaults, so the second did not start there
    assert any(not torch.allclose(start0[k], ends[0][k]) for k in start0)
    assert [f["warm"] for f in proposer._warm.fits] == [False, True]
    # quick fits, none of them counted as stopped at the cap
    assert [f["capped"] for f in proposer._warm.fits] == [False, False]
    assert proposer._warm.n_capped == 0 and proposer._warm.n_fits == 2

    # the search's own predictions fit the same model, from the same state
    proposer._fitted_adapter(observer=False)
    assert starts[-1][0] is None
    for name, value in ends[1].items():
        assert torch.equal(starts[-1][1][name], value), name
    assert len(ends) == len(proposer._warm.fits) == 3

    # an observer's fit (the recommendation) starts from the state the next fit would,
    # and stores nothing: the search's next fit starts where it would have
    proposer._adapter_cache = None  # so that the observer cannot reuse the search's fit
    proposer._fitted_adapter(observer=True)
    assert proposer._observer_cache is not None
    assert starts[-1][0] is None
    for name, value in ends[2].items():
        assert torch.equal(starts[-1][1][name], value), name
    assert len(ends) == len(proposer._warm.fits) == 3
    proposer._fitted_adapter(observer=False)
    for name, value in ends[2].items():
        assert torch.equal(starts[-1][1][name], value), name


def test_cold_refit_once_the_data_grew_by_the_growth_factor():
    warm = _ax.WarmStart(growth=1.25)
    for n, cold in ((8, True), (9, False), (9, False), (10, True), (12, False), (13, True)):
        mll = _gp(n)
        reason = warm.before_fit(mll.model, n)
        assert (reason is not None) == cold, (n, reason)
        warm.after_fit(mll.model, n, reason, None)


def test_warm_start_false_fits_cold(monkeypatch, spy):
    monkeypatch.setattr(propose, "SETTINGS", propose.ModelSettings(warm_start=False))
    starts, _ = spy
    proposer = propose.AxProposer(SearchSpace(SPACE), seed=0, n_initial=5)
    assert proposer._warm is None
    assert _run(proposer, 7).generator == "gp"
    assert starts == []


@pytest.mark.parametrize("other", [
    {**SPACE, "y": ("uniform", 0.0, 1.0)},                # one more input
    {**SPACE, "opt": ("choice", ["a", "b", "c"])},         # a new category (one-hot)
], ids=["new_input", "new_category"])
def test_a_shape_change_falls_back_to_a_cold_fit(monkeypatch, spy, other):
    monkeypatch.setattr(_ax, "COLD_REFIT_GROWTH", math.inf)
    starts, _ = spy
    first = propose.AxProposer(SearchSpace(SPACE), seed=0, n_initial=5)
    assert _run(first, 6).generator == "gp"
    second = propose.AxProposer(SearchSpace(other), seed=0, n_initial=5)
    second._warm = first._warm  # the state of a model with other hyperparameter shapes
    p = _run(second, 6)
    assert p.generator == "gp" and p.fallback is None
    assert starts[-1][0] == "the model's hyperparameters changed shape"
    assert second._warm.fits[-1]["warm"] is False
    p = _run(second, 1)  # and the next fit is warm from the new model's state
    assert p.generator == "gp" and starts[-1][0] is None


def test_an_error_in_the_warm_start_gives_a_cold_fit(monkeypatch):
    def broken(self, model, n):
        raise KeyError("boom")

    proposer = propose.AxProposer(SearchSpace(SPACE), seed=0, n_initial=5)
    monkeypatch.setattr(_ax.WarmStart, "before_fit", broken)
    with _debug_records() as records:
        p = _run(proposer, 6)
    assert p.generator == "gp" and p.fallback is None
    assert any("warm start failed" in r.getMessage() and r.levelno == logging.DEBUG
               for r in records)


class _Keep(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)


@contextlib.contextmanager
def _debug_records():
    """bo_hpo._ax's records, from a handler on that logger itself (Ax's logging set-up
    can keep them from pytest's caplog, which listens at the root)."""
    log, keep = logging.getLogger("bo_hpo._ax"), _Keep()
    level = log.level
    log.setLevel(logging.DEBUG)
    log.addHandler(keep)
    try:
        yield keep.records
    finally:
        log.removeHandler(keep)
        log.setLevel(level)


def test_a_failed_warm_fit_is_run_again_cold():
    from botorch.exceptions.errors import ModelFittingError

    warm = _ax.WarmStart(growth=math.inf)
    mll = _gp(8)
    with _ax.warm_started_fits(warm):
        _fit()(mll)
    fitted = _params(mll.model)
    mll2 = _gp(9)
    initial = _params(mll2.model)
    calls = []

    def flaky(m, *args, **kwargs):
        calls.append(_params(m.model))
        if len(calls) == 1:
            raise ModelFittingError("All attempts to fit the model have failed.")
        return m

    with _debug_records() as records:
        _ax._fit_warm(flaky, warm, mll2, (), {})
    assert len(calls) == 2
    assert all(torch.equal(calls[0][k], fitted[k]) for k in fitted)    # warm, failed
    assert all(torch.equal(calls[1][k], initial[k]) for k in initial)  # then cold
    assert warm.fits[-1]["warm"] is False
    assert any("fitting again cold" in r.getMessage() for r in records)


def test_the_proposal_time_cap_is_not_taken_for_a_fit_failure():
    warm = _ax.WarmStart(growth=math.inf)
    with _ax.warm_started_fits(warm):
        _fit()(_gp(8))

    def timed_out(m, *args, **kwargs):
        raise propose.ProposalTimeout("proposal took longer than 1 s")

    with pytest.raises(propose.ProposalTimeout):
        _ax._fit_warm(timed_out, warm, _gp(9), (), {})


def test_the_hook_acts_only_inside_the_block_and_its_thread():
    warm = _ax.WarmStart(growth=math.inf)
    with _ax.warm_started_fits(warm):
        _fit()(_gp(8))
        assert len(warm.fits) == 1
        seen = {}

        def other_thread():
            _fit()(_gp(9, seed=1))
            seen["fitted"] = True

        t = threading.Thread(target=other_thread)
        t.start()
        t.join()
        assert seen == {"fitted": True}
        assert len(warm.fits) == 1  # the other thread's fit neither read nor wrote it
    mll = _gp(9)
    initial = _params(mll.model)
    _fit()(mll)  # outside the block: an ordinary cold fit
    assert len(warm.fits) == 1
    assert any(not torch.allclose(initial[k], v) for k, v in _params(mll.model).items())


def _recording_fit(seen):
    """A stand-in for BoTorch's fit that records the optimiser options it is given."""
    def original(mll, *args, **kwargs):
        seen.append(kwargs.get("optimizer_kwargs"))
        return mll
    return original


def test_fits_on_large_data_are_bounded_and_keep_their_progress(monkeypatch):
    # past BOUNDED_FIT_AFTER points a fit must not outlast the proposal's cap, or no state
    # is kept and every later fit starts over (and is cut short) again
    monkeypatch.setattr(_ax, "BOUNDED_FIT_AFTER", 5)
    monkeypatch.setattr(_ax, "COLD_REFIT_GROWTH", math.inf)
    seen = []
    original = _recording_fit(seen)

    warm = _ax.WarmStart()
    for n in (4, 8, 9):  # cold under the threshold, then a forced cold over it, then warm
        if n == 8:
            warm.clear()
        _ax._fit_warm(original, warm, _gp(n), (), {})
    cap = {"timeout_sec": _ax.FIT_TIMEOUT}
    bounded = {"options": {"maxiter": _ax.BOUNDED_FIT_MAXITER}, **cap}
    warm_bounded = {"options": {"maxiter": _ax.BOUNDED_FIT_MAXITER, "ftol": _ax.WARM_FIT_FTOL},
                    **cap}
    assert seen == [cap, bounded, warm_bounded]
    assert [f["warm"] for f in warm.fits] == [False, False, True]


def test_only_warm_fits_stop_at_the_looser_tolerance(monkeypatch):
    # a cold fit starts far from the optimum and keeps SciPy's tolerance; a warm one starts
    # at the last optimum, where the default let it creep for as long as a cold fit
    monkeypatch.setattr(_ax, "COLD_REFIT_GROWTH", math.inf)
    seen = []
    original = _recording_fit(seen)

    warm = _ax.WarmStart()
    for n in (6, 7):
        _ax._fit_warm(original, warm, _gp(n), (), {})
    _ax._fit_warm(original, warm, _gp(8), (), {"optimizer_kwargs": {"options": {"x": 1}}})
    cap = {"timeout_sec": _ax.FIT_TIMEOUT}
    assert seen == [cap, {"options": {"ftol": _ax.WARM_FIT_FTOL}, **cap}, {"options": {"x": 1}}]
    # ModelSettings(warm_fit_ftol=None, fit_timeout=None): SciPy's default, no cap
    strict = _ax.WarmStart(ftol=None, timeout=None)
    for n in (6, 7):
        _ax._fit_warm(original, strict, _gp(n), (), {})
    assert seen[-2:] == [None, None]
    assert [f["warm"] for f in strict.fits] == [False, True]


@pytest.mark.parametrize("fit_timeout", [0.3, None])
def test_a_slow_fit_stops_at_its_cap_instead_of_costing_the_proposal(monkeypatch, fit_timeout):
    # a fit that creeps along flat directions of the likelihood ran past the proposal's cap
    # and the proposal fell back to a random configuration; capped, the fit stops where it
    # got to, the model proposes, and the hyperparameters reached are kept for the next fit
    from gpytorch.mlls import ExactMarginalLogLikelihood

    forward = ExactMarginalLogLikelihood.forward

    def slow(self, *args, **kwargs):
        time.sleep(0.25)  # an uncapped cold fit here: ~50 evaluations, 13 s, past the 8 s cap
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(propose, "SETTINGS", propose.ModelSettings(fit_timeout=fit_timeout))
    p = propose.AxProposer(SearchSpace(SPACE), seed=0, n_initial=4, proposal_timeout=8.0)
    _run(p, 4)
    monkeypatch.setattr(ExactMarginalLogLikelihood, "forward", slow)
    proposal = p.propose()
    if fit_timeout is None:  # the control: the test can tell the cap from its absence
        assert proposal.generator == "fallback"
        assert "longer than 8 s" in proposal.fallback
        assert p._warm.n_capped == 0
    else:
        assert proposal.generator == "gp", proposal.fallback
        assert p._warm.fits[-1]["n"] == 4  # the stopped fit was stored as any other
        # and counted as stopped at the cap
        assert p._warm.fits[-1]["capped"] is True
        assert p._warm.fits[-1]["seconds"] >= fit_timeout
        assert p._warm.n_capped == 1 and p._warm.n_fits == len(p._warm.fits)


@pytest.mark.parametrize("bad", ["warm", "cold"])
def test_fit_both_keeps_whichever_fit_reached_the_lower_loss(bad):
    # ModelSettings.fit_both_below: a warm fit, then a cold one from the defaults; the
    # model leaves with the hyperparameters of the lower loss, and the next fit starts there
    from botorch.fit import fit_gpytorch_mll

    def spoil(mll):  # a "fit" that lands far from any optimum: a huge noise
        with torch.no_grad():
            mll.model.likelihood.noise_covar.raw_noise.fill_(8.0)
        return mll

    calls = []

    def original(mll, *args, **kwargs):
        calls.append("warm" if len(calls) % 2 == 0 else "cold")
        return spoil(mll) if calls[-1] == bad else fit_gpytorch_mll(mll)

    warm = _ax.WarmStart(growth=math.inf, both_below=100)
    _ax._fit_warm(lambda m, *a, **k: fit_gpytorch_mll(m), warm, _gp(8), (), {})
    mll = _gp(9)
    with _debug_records() as records:
        _ax._fit_warm(original, warm, mll, (), {})
    assert calls == ["warm", "cold"]
    kept = _params(mll.model)
    assert kept["likelihood.noise_covar.raw_noise"].item() != 8.0
    assert warm.fits[-1]["warm"] is (bad == "cold")
    assert any("cold GP fit kept" in r.getMessage() for r in records) is (bad == "warm")
    # what the model kept is what the next fit starts from
    assert all(torch.equal(warm._state[k], v) for k, v in kept.items())
    # at or above both_below only the warm fit runs
    calls.clear()
    warm.both_below = 9
    _ax._fit_warm(original, warm, _gp(9), (), {})
    assert calls == ["warm"]


def test_a_warm_fit_iteration_cap_applies_to_warm_fits_only(monkeypatch):
    # ModelSettings.warm_fit_maxiter: a cap for warm fits (at most the large-data bound),
    # never for a cold fit, which starts far from the optimum
    monkeypatch.setattr(_ax, "COLD_REFIT_GROWTH", math.inf)
    monkeypatch.setattr(_ax, "BOUNDED_FIT_AFTER", 7)
    seen = []
    original = _recording_fit(seen)
    warm = _ax.WarmStart(ftol=None, maxiter=200)
    for n in (6, 7, 8):
        _ax._fit_warm(original, warm, _gp(n), (), {})
    cap = {"timeout_sec": _ax.FIT_TIMEOUT}
    assert seen == [cap, {"options": {"maxiter": 200}, **cap},
                    {"options": {"maxiter": min(200, _ax.BOUNDED_FIT_MAXITER)}, **cap}]
    assert [f["warm"] for f in warm.fits] == [False, True, True]
