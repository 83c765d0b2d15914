"""Starting points under linear constraints: inside a proposal, quasi-random points of the
box filtered by the constraints where the polytope is a fair share of its box, and shorter
hit-and-run chains where it is not; BoTorch's own sampler everywhere else."""

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


def _sum_at_most(rhs, indices=(0, 1)):
    """BoTorch's form of ``x[indices].sum() <= rhs``."""
    return [(torch.tensor(indices), torch.tensor([-1.0] * len(indices), dtype=torch.double),
             -rhs)]


def _sample(rhs=0.01, n=8, **chain):
    # x + y <= 0.01 is 1/20,000 of the box: too small to filter, so hit-and-run
    bounds = torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=torch.double)
    return initializers.sample_q_batches_from_polytope(
        n=n, q=1, bounds=bounds, seed=0, inequality_constraints=_sum_at_most(rhs), **chain)


def test_the_cap_applies_inside_the_block_only(chains):
    with _ax.short_polytope_chains(n_burnin=50, n_thinning=2):
        inside = _sample(n_burnin=10_000, n_thinning=32)
        _sample(n_burnin=20, n_thinning=1)  # shorter than the cap: left alone
    _sample(n_burnin=10_000, n_thinning=32)
    assert chains == [(50, 2), (20, 1), (10_000, 32)]
    assert inside.shape == (8, 1, 2) and bool((inside.sum(-1) <= 0.01 + 1e-9).all())


def test_a_fair_share_of_the_box_is_sampled_by_filtering_without_a_chain(chains):
    torch.manual_seed(0)
    with _ax.short_polytope_chains(n_burnin=50, n_thinning=2):
        x = _sample(rhs=1.0, n=2048, n_burnin=10_000, n_thinning=32)
        torch.manual_seed(0)
        again = _sample(rhs=1.0, n=2048, n_burnin=10_000, n_thinning=32)
    assert chains == []  # no hit-and-run at all
    assert x.shape == (2048, 1, 2)
    assert bool((x >= 0).all() and (x <= 1).all() and (x.sum(-1) <= 1).all())
    # evenly spread over the triangle: its centroid is (1/3, 1/3), and the inner triangle
    # x + y <= 1/sqrt(2) holds half its area
    assert torch.allclose(x.mean(dim=(0, 1)), torch.tensor(1 / 3, dtype=torch.double),
                          atol=0.01)
    assert abs(float((x.sum(-1) <= 0.5 ** 0.5).double().mean()) - 0.5) < 0.03
    assert torch.equal(x, again)  # from torch's random state, as BoTorch's own draws


def test_filtering_gives_way_where_it_cannot_apply():
    bounds = torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=torch.double)
    half = _sum_at_most(1.0)
    assert _ax._polytope_by_rejection(4, 1, bounds, 0, half, None) is not None
    assert _ax._polytope_by_rejection(4, 1, bounds, 0, _sum_at_most(0.01), None) is None
    assert _ax._polytope_by_rejection(4, 1, bounds, 0, half, half) is None  # equalities
    across = [(torch.tensor([[0, 0], [1, 1]]), torch.tensor([-1.0, -1.0],
                                                             dtype=torch.double), -1.0)]
    assert _ax._polytope_by_rejection(4, 2, bounds, 0, across, None) is None


def test_the_cap_does_not_leak_into_another_thread(chains):
    with _ax.short_polytope_chains(n_burnin=50, n_thinning=2):
        other = threading.Thread(target=_sample, kwargs={"n_burnin": 300, "n_thinning": 3})
        other.start()
        other.join()
        _sample(n_burnin=300, n_thinning=3)
    assert sorted(chains) == [(50, 2), (300, 3)]


def test_a_constrained_mixed_space_proposes_without_hit_and_run(chains):
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
    # the polytope is 68% of its box: filtered quasi-random points, no chain
    assert chains == []


def test_a_thin_polytope_in_a_mixed_space_gets_short_chains(chains):
    space = bo_hpo.SearchSpace(
        {"warmup_frac": ("uniform", 0.0, 0.5), "decay_frac": ("uniform", 0.0, 0.5),
         "optimizer": ("choice", ["SGD", "Adam", "AdamW"])},
        ["warmup_frac + decay_frac <= 0.05"])  # 1/200 of the box
    proposer = AxProposer(space, seed=0, n_initial=3)
    for _ in range(4):
        p = proposer.propose()
        assert p.config["warmup_frac"] + p.config["decay_frac"] <= 0.05 + 1e-9
        proposer.complete(p.ax_index, p.config["warmup_frac"] - p.config["decay_frac"], None)
    assert p.generator == "gp", p.fallback
    cap = (POLYTOPE_OPTIONS["n_burnin"], POLYTOPE_OPTIONS["n_thinning"])
    assert chains and all(c == cap for c in chains)  # BoTorch's own: (10000, 32)
