"""Nothing stays pending in Ax once every trial has its result.

Ax treats the arms of abandoned trials as pending for ever, and its acquisition function
then steers away from them. Replaced proposals (conditionals, divisibility) and invalid
ones must leave no such phantom behind, or the model cannot refine its own best points.
"""

from __future__ import annotations

import math

from bo_hpo import SearchSpace, _ax
from bo_hpo.propose import AxProposer


def _pending(proposer: AxProposer) -> int:
    from ax.core.utils import get_pending_observation_features

    pending = get_pending_observation_features(_ax.experiment(proposer.client))
    return 0 if pending is None else max(len(v) for v in pending.values())


def test_replaced_proposals_leave_no_pending_points():
    space = SearchSpace({
        "optimizer": ("choice", ["SGD", "Adam"]),
        "lr": ("log_uniform", 1e-4, 1.0),
        "momentum": ("uniform", 0.0, 0.99, {"when": {"optimizer": ["SGD"]}}),
    })
    proposer = AxProposer(space, seed=0, n_initial=4)
    generators = []
    for _ in range(7):
        p = proposer.propose()
        generators.append(p.generator)
        c = p.config
        loss = (math.log10(c["lr"]) + 2) ** 2 + (c.get("momentum", 0.5) - 0.9) ** 2
        proposer.complete(p.ax_index, loss, None)
    assert "gp" in generators
    # every proposal under a conditional is replaced by its canonical twin
    assert len(_ax.experiment(proposer.client).trials) > 7
    assert _pending(proposer) == 0


def test_invalid_proposals_before_any_data_leave_no_pending_points():
    space = SearchSpace({"x": ("uniform", 0.0, 1.0), "y": ("uniform", 0.0, 1.0)})
    proposer = AxProposer(space, seed=0, n_initial=3)
    first = proposer.propose()
    proposer.reject(first.ax_index)  # no value yet: nothing to impute
    second = proposer.propose()
    assert second.config != first.config  # Sobol moved on
    assert _pending(proposer) == 1  # only the proposal still out
    proposer.complete(second.ax_index, 1.0, None)
    assert _pending(proposer) == 0
