"""When Ax gives up on its model and draws a quasi-random point, the trial says so."""

from __future__ import annotations

import logging

import bo_hpo
from bo_hpo.propose import AxProposer


def test_an_ax_model_fallback_is_labelled_not_called_gp(caplog):
    proposer = AxProposer(bo_hpo.SearchSpace({"x": ("uniform", 0.0, 1.0),
                                              "y": ("uniform", 0.0, 1.0)}), seed=0,
                          n_initial=2)
    for _ in range(3):
        p = proposer.propose()
        proposer.complete(p.ax_index, p.config["x"], None)
    ask = proposer.client.get_next_trials
    ax_logger = logging.getLogger("ax.generation_strategy.generation_node")

    def failing_model(max_trials=1):  # what Ax does when its model fails MAX_GEN_ATTEMPTS
        ax_logger.warning("gen failed with error GenerationStrategyRepeatedPoints, switching "
                          "to fallback model with generator_enum Generators.SOBOL")
        return ask(max_trials=max_trials)

    proposer.client.get_next_trials = failing_model
    with caplog.at_level(logging.DEBUG):
        proposal = proposer.propose()
    assert proposal.generator == "ax_fallback"
    assert "switching to fallback model" in proposal.fallback
    assert not any("switching to fallback" in r.getMessage() for r in caplog.records
                   if r.levelno >= logging.WARNING)  # recorded on the trial, not shouted
    proposer.client.get_next_trials = ask
    assert proposer.propose().generator == "gp" and proposer.propose().fallback is None
