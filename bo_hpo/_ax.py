"""Every touch of Ax's internals, in one place.

Ax's ``Client`` covers asking and telling; bo_hpo also needs a few things it does not
expose: the experiment (to read trials and data), the generation strategy's nodes (to tune
the acquisition optimiser, resume the Sobol sequence and advance past initialisation after
a replay), and which node generated a trial. When Ax changes, this is the file to mend.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import logging
import threading
from collections.abc import Iterator
from typing import Any

logger = logging.getLogger(__name__)


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


# ---------------------------------------------------------------- polytope chain length
#: (n_burnin, n_thinning) for BoTorch's hit-and-run sampler in the current proposal, or
#: None outside ``short_polytope_chains`` (then BoTorch's own values apply). A context
#: variable, so a proposal computed ahead in another thread sets it only for itself.
_POLYTOPE_CHAIN: contextvars.ContextVar[tuple[int, int] | None] = contextvars.ContextVar(
    "bo_hpo_polytope_chain", default=None)
_HOOK_LOCK = threading.Lock()


@contextlib.contextmanager
def short_polytope_chains(n_burnin: int, n_thinning: int) -> Iterator[None]:
    """Cap the hit-and-run chain BoTorch runs for starting points under linear
    constraints to ``n_burnin`` burn-in steps and thinning ``n_thinning``, for the block.

    BoTorch takes these from the acquisition optimiser's options (defaults 10,000 and
    32), but its mixed-space optimiser rejects those keys and, for its continuous
    relaxation start, rebuilds the options without them, so in a mixed space nothing
    passed through Ax reaches the sampler. This wraps the one function that forwards
    them, ``botorch.optim.initializers.sample_q_batches_from_polytope``, and lowers
    them only inside the block (installed once; a pass-through elsewhere). If BoTorch
    moves that function, proposals keep BoTorch's defaults: slower, still correct.
    """
    if not _install_polytope_hook():
        yield
        return
    token = _POLYTOPE_CHAIN.set((n_burnin, n_thinning))
    try:
        yield
    finally:
        _POLYTOPE_CHAIN.reset(token)


def _install_polytope_hook() -> bool:
    try:
        from botorch.optim import initializers
        original = initializers.sample_q_batches_from_polytope
        signature = inspect.signature(original)
    except (ImportError, AttributeError, TypeError, ValueError) as err:
        logger.debug("cannot shorten BoTorch's hit-and-run chains: %s", err)
        return False
    if getattr(original, "_bo_hpo_hook", False):
        return True
    if not {"n_burnin", "n_thinning"} <= set(signature.parameters):
        logger.debug("cannot shorten BoTorch's hit-and-run chains: %s%s",
                     original.__name__, signature)
        return False
    with _HOOK_LOCK:
        if getattr(initializers.sample_q_batches_from_polytope, "_bo_hpo_hook", False):
            return True

        @functools.wraps(original)
        def sample_q_batches_from_polytope(*args: Any, **kwargs: Any) -> Any:
            chain = _POLYTOPE_CHAIN.get()
            if chain is not None:
                bound = signature.bind(*args, **kwargs)
                bound.apply_defaults()
                bound.arguments["n_burnin"] = min(bound.arguments["n_burnin"], chain[0])
                bound.arguments["n_thinning"] = min(bound.arguments["n_thinning"], chain[1])
                args, kwargs = bound.args, bound.kwargs
            return original(*args, **kwargs)

        sample_q_batches_from_polytope._bo_hpo_hook = True  # type: ignore[attr-defined]
        initializers.sample_q_batches_from_polytope = sample_q_batches_from_polytope
    return True
