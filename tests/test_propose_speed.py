"""Shorter hit-and-run chains for starting points under linear constraints in mixed spaces:
the cap reaches BoTorch's sampler during a proposal, and nowhere else."""

from __future__ import annotations

import threading

import pytest
import torch

import bo_hpo
from bo_hpo import _ax
from bo_hpo.propose import POLYTOPE_OPTIONS, AxProposer

initializers = pytest.importorskip("botorch.optim.initializers")


@pytest.fixture
def chains(monkeypatch):
    """The (n_burnin, n_thinning) of every hit-and-run chain BoTorch starts."""
    seen: list[tuple[int, int]] = []
    original = initializers.get_polytope_samples

    def recording(*args, **kwargs):
        seen.append((kwargs["n_burnin"], kwargs["n_thinning"]))
        return original(*args, **kwargs)

    monkeypatch.setattr(initializers, "get_polytope_samples", recording)
    return seen


def _sample(**chain):
    bounds = torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=torch.double)
    x_plus_y_at_most_1 = [(torch.tensor([0, 1]), torch.tensor([-1.0, -1.0],
                                                               dtype=torch.double), -1.0)]
    return initializers.sample_q_batches_from_polytope(
        n=8, q=1, bounds=bounds, seed=0, inequality_constraints=x_plus_y_at_most_1, **chain)


def test_the_cap_applies_inside_the_block_only(chains):
    with _ax.short_polytope_chains(n_burnin=50, n_thinning=2):
        inside = _sample(n_burnin=10_000, n_thinning=32)
        _sample(n_burnin=20, n_thinning=1)  # shorter than the cap: left alone
    _sample(n_burnin=10_000, n_thinning=32)
    assert chains == [(50, 2), (20, 1), (10_000, 32)]
    assert inside.shape == (8, 1, 2) and bool((inside.sum(-1) <= 1 + 1e-9).all())


def test_the_cap_does_not_leak_into_another_thread(chains):
    with _ax.short_polytope_chains(n_burnin=50, n_thinning=2):
        other = threading.Thread(target=_sample, kwargs={"n_burnin": 300, "n_thinning": 3})
        other.start()
        other.join()
        _sample(n_burnin=300, n_thinning=3)
    assert sorted(chains) == [(50, 2), (300, 3)]


def test_a_constrained_mixed_space_proposes_with_short_chains(chains):
    space = bo_hpo.SearchSpace(
        {"warmup_frac": ("uniform", 0.0, 0.5), "decay_frac": ("uniform", 0.0, 0.5),
         "batch_size": ("ordered", [16, 32, 64, 128]),
         "optimizer": ("choice", ["SGD", "Adam", "AdamW"])},
        ["warmup_frac + decay_frac <= 0.6"])
    proposer = AxProposer(space, seed=0, n_initial=3)
    assert not proposer._fully_discrete()
    generators = []
    for _ in range(5):
        p = proposer.propose()
        generators.append(p.generator)
        assert p.fallback is None
        assert p.config["warmup_frac"] + p.config["decay_frac"] <= 0.6 + 1e-9
        proposer.complete(p.ax_index, (p.config["warmup_frac"] - 0.2) ** 2
                          + (p.config["decay_frac"] - 0.35) ** 2, None)
    assert generators[-1] == "gp"
    cap = (POLYTOPE_OPTIONS["n_burnin"], POLYTOPE_OPTIONS["n_thinning"])
    assert chains and all(c == cap for c in chains)  # BoTorch's own: (10000, 32)
