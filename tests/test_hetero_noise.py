"""The input-dependent noise model: it finds noise that grows along one input, stays flat
where the noise is flat, and reaches Ax's proposals when ``noise_model`` asks for it."""

from __future__ import annotations

import math

import pytest
import torch
from botorch.fit import fit_gpytorch_mll
from gpytorch.likelihoods import FixedNoiseGaussianLikelihood
from gpytorch.mlls import ExactMarginalLogLikelihood

from bo_hpo import SearchSpace, propose
from bo_hpo._hetero import HeteroNoiseGP, LogLinearNoiseLikelihood


def _fit(noise_sd, n=60, seed=0):
    """A ``HeteroNoiseGP`` fitted to a smooth function of two inputs plus noise of sd
    ``noise_sd(x)``."""
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(n, 2, generator=g, dtype=torch.float64)
    f = torch.sin(3 * X[:, 0]) + 0.5 * X[:, 1]
    Y = (f + noise_sd(X) * torch.randn(n, generator=g, dtype=torch.float64)).unsqueeze(-1)
    model = HeteroNoiseGP(X, Y)
    fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
    return model


def _noise_at(model, x):
    """The fitted noise variance at one raw input ``x``, in the outcome's own units."""
    model.eval()
    X = torch.tensor([x], dtype=torch.float64)
    with torch.no_grad():
        latent = model.posterior(X).variance
        observed = model.posterior(X, observation_noise=True).variance
    return float(observed - latent)


def test_noise_that_grows_along_one_input_is_found_on_that_input():
    model = _fit(lambda X: 0.01 + 0.3 * X[:, 0] ** 2)
    weight = model.likelihood.noise_covar.weight.detach()
    assert weight[0] > 2.0, weight  # the noisy input
    assert abs(weight[1]) < weight[0] / 2, weight
    low, high = _noise_at(model, [0.05, 0.5]), _noise_at(model, [0.95, 0.5])
    assert high > 20 * low, (low, high)  # true ratio of variances: ~700


def test_flat_noise_stays_flat():
    model = _fit(lambda X: torch.full_like(X[:, 0], 0.1))
    weight = model.likelihood.noise_covar.weight.detach()
    assert weight.abs().max() < 1.5, weight
    low, high = _noise_at(model, [0.05, 0.5]), _noise_at(model, [0.95, 0.5])
    assert 0.2 < high / low < 5, (low, high)
    assert 0.1**2 / 3 < low < 0.1**2 * 3  # near the true variance


def test_observed_noise_is_used_as_given():
    X = torch.rand(10, 2, dtype=torch.float64)
    Y = X.sum(-1, keepdim=True)
    assert isinstance(HeteroNoiseGP(X, Y).likelihood, LogLinearNoiseLikelihood)
    fixed = HeteroNoiseGP(X, Y, train_Yvar=torch.full_like(Y, 0.01))
    assert isinstance(fixed.likelihood, FixedNoiseGaussianLikelihood)


SPACE = {
    "lr": ("log_uniform", 1e-5, 1.0),
    "x": ("uniform", 0.0, 1.0),
    "opt": ("choice", ["a", "b"]),
}


@pytest.mark.parametrize("noise_model", ["homoscedastic", "loglinear", "logquadratic"])
def test_noise_model_setting_chooses_the_model_ax_proposes_with(monkeypatch, noise_model):
    hetero = noise_model != "homoscedastic"
    monkeypatch.setattr(propose, "SETTINGS", propose.ModelSettings(noise_model=noise_model))
    proposer = propose.AxProposer(SearchSpace(SPACE), seed=0, n_initial=6)
    for _ in range(8):
        p = proposer.propose()
        c = p.config
        proposer.complete(p.ax_index, (math.log10(c["lr"]) + 3) ** 2 + c["x"], None)
    assert p.generator == "gp"
    model = proposer._fitted_adapter(observer=True).generator.surrogate.model
    assert isinstance(model, HeteroNoiseGP) is hetero
    assert (noise_model == "logquadratic") is bool(getattr(model, "quadratic", False))
    # the warm start carries the noise model's parameters from fit to fit
    if hetero:
        stored = proposer._warm._state
        assert "likelihood.noise_covar.weight" in stored
        # one slope per modelled input: lr, x, and the two-valued choice as one column
        assert stored["likelihood.noise_covar.weight"].shape == (3,)
        assert ("likelihood.noise_covar.curvature" in stored) is (noise_model == "logquadratic")


def test_noise_model_from_keeps_one_noise_level_until_enough_trials_have_data(monkeypatch):
    monkeypatch.setattr(propose, "SETTINGS", propose.ModelSettings(
        noise_model="logquadratic", noise_model_from=9))
    proposer = propose.AxProposer(SearchSpace(SPACE), seed=0, n_initial=6)

    def measure(k):
        for _ in range(k):
            p = proposer.propose()
            c = p.config
            proposer.complete(p.ax_index, (math.log10(c["lr"]) + 3) ** 2 + c["x"], None)
        return proposer._fitted_adapter(observer=True).generator.surrogate.model

    assert not isinstance(measure(8), HeteroNoiseGP)  # 8 trials with data
    assert isinstance(measure(2), HeteroNoiseGP)  # the 10th proposal saw 9
    assert proposer.settings.noise_model_from is None
