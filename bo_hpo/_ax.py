"""Every touch of Ax's internals, in one place.

Ax's ``Client`` covers asking and telling; bo_hpo also needs a few things it does not
expose: the experiment (to read trials and data), the generation strategy's nodes (to tune
the acquisition optimiser, resume the Sobol sequence and advance past initialisation after
a replay), and which node generated a trial. When Ax changes, this is the file to mend.
"""

from __future__ import annotations

import logging
from typing import Any


def import_ax() -> Any:
    """Import Ax without the INFO line it logs while importing (a scoped, restored
    ``logging.disable``; nothing else runs meanwhile)."""
    import sys

    if "ax" in sys.modules:
        return sys.modules["ax"]
    previous = logging.root.manager.disable
    logging.disable(logging.INFO)
    try:
        import ax
    finally:
        logging.disable(previous)
    return ax


def experiment(client: Any) -> Any:
    """The client's Ax ``Experiment``."""
    return client._experiment


def set_model_gen_options(strategy: Any, node_name: str, options: dict[str, Any]) -> None:
    """``model_gen_options`` for every generator of the node ``node_name`` (``"MBM"``)."""
    for node in strategy._nodes:
        if node.name == node_name:
            for spec in node.generator_specs:
                spec.generator_gen_kwargs = {**spec.generator_gen_kwargs,
                                             "model_gen_options": options}


def resume_sobol_at(client: Any, position: int) -> None:
    """Start the strategy's Sobol generator ``position`` points into its sequence (it is
    built on the first proposal, so this must come before it)."""
    for node in client._generation_strategy._nodes:
        for spec in node.generator_specs:
            if spec.generator_enum.value == "Sobol":
                spec.generator_kwargs = {**spec.generator_kwargs, "init_position": position}


def advance_strategy(client: Any) -> None:
    """Move the generation strategy past every node whose transition criteria the
    experiment's trials already meet."""
    strategy = client._generation_strategy
    strategy.experiment = client._experiment
    strategy._maybe_transition_to_next_node(raise_data_required_error=False)


def generator_node(client: Any, ax_index: int) -> str | None:
    """The name of the generation node that made trial ``ax_index`` (``None``: attached)."""
    trial = client._experiment.trials[ax_index]
    run = getattr(trial, "generator_run", None)
    return getattr(run, "_generation_node_name", None) if run is not None else None



def model_kwargs(*, input_warping: bool = False, categorical_kernel: bool = False) -> dict:
    """Keyword arguments for Ax's modular BoTorch generator beyond its defaults.

    ``input_warping``: a learned Kumaraswamy warp of every input (BoTorch's ``Warp``, which
    normalises with the search space's bounds first). ``categorical_kernel``: unordered
    choices stay categories (Ax's ``Mixed_transforms``, no one-hot), so Ax models them
    with ``MixedSingleTaskGP``'s categorical kernel.
    """
    kwargs: dict[str, Any] = {}
    if input_warping:
        from ax.generators.torch.botorch_modular.surrogate import ModelConfig, SurrogateSpec
        from botorch.models.transforms.input import Warp

        kwargs["surrogate_spec"] = SurrogateSpec(
            model_configs=[ModelConfig(input_transform_classes=[Warp], name="warped")])
    if categorical_kernel:
        from ax.adapter.registry import MBM_X_trans, Mixed_transforms, Y_trans

        kwargs["transforms"] = [*MBM_X_trans[:1], *Mixed_transforms, *Y_trans]
    return kwargs


def set_generator_kwargs(strategy: Any, node_name: str, kwargs: dict[str, Any]) -> None:
    """Update the generator kwargs of every generator of the node ``node_name``."""
    for node in strategy._nodes:
        if node.name == node_name:
            for spec in node.generator_specs:
                spec.generator_kwargs = {**spec.generator_kwargs, **kwargs}
