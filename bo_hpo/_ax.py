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
import math
import threading
import time
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


def strategy(client: Any) -> Any:
    """The client's generation strategy."""
    return client._generation_strategy


def resume_sobol_at(client: Any, position: int) -> None:
    """Start the strategy's Sobol generator ``position`` points into its sequence (it is
    built on the first proposal, so this must come before it)."""
    for node in strategy(client)._nodes:
        for spec in node.generator_specs:
            if spec.generator_enum.value == "Sobol":
                spec.generator_kwargs = {**spec.generator_kwargs, "init_position": position}


def advance_strategy(client: Any) -> None:
    """Move the generation strategy past every node whose transition criteria the
    experiment's trials already meet."""
    current = strategy(client)
    current.experiment = client._experiment
    current._maybe_transition_to_next_node(raise_data_required_error=False)


def generator_node(client: Any, ax_index: int) -> str | None:
    """The name of the generation node that made trial ``ax_index`` (``None``: attached)."""
    trial = client._experiment.trials[ax_index]
    run = getattr(trial, "generator_run", None)
    return getattr(run, "_generation_node_name", None) if run is not None else None



#: ``model_kwargs``'s ``noise_model`` values.
NOISE_MODELS = ("homoscedastic", "loglinear", "logquadratic")


def model_kwargs(*, input_warping: bool = False, categorical_kernel: bool = False,
                 noise_model: str = "homoscedastic") -> dict:
    """Keyword arguments for Ax's modular BoTorch generator beyond its defaults.

    ``input_warping``: a learned Kumaraswamy warp of every input (BoTorch's ``Warp``, which
    normalises with the search space's bounds first). ``categorical_kernel``: unordered
    choices stay categories (Ax's ``Mixed_transforms``, no one-hot), so Ax models them
    with ``MixedSingleTaskGP``'s categorical kernel. ``noise_model``: where no SEM was
    observed, ``"homoscedastic"`` (Ax's one inferred noise level) or noise that varies
    with the inputs, ``"loglinear"`` or ``"logquadratic"`` (``_hetero.HeteroNoiseGP``);
    not with the categorical kernel, whose model it would replace.
    """
    kwargs: dict[str, Any] = {}
    config: dict[str, Any] = {}
    if input_warping:
        from botorch.models.transforms.input import Warp

        config.update(input_transform_classes=[Warp], name="warped")
    if noise_model not in NOISE_MODELS:
        raise ValueError(f"noise_model must be one of {NOISE_MODELS}, got {noise_model!r}")
    if noise_model != "homoscedastic" and not categorical_kernel:
        from bo_hpo._hetero import HeteroNoiseGP, HeteroNoiseQuadraticGP

        model_class = (HeteroNoiseQuadraticGP if noise_model == "logquadratic"
                       else HeteroNoiseGP)
        config.update(botorch_model_class=model_class,
                      name="-".join(filter(None, (config.get("name"), "hetero"))))
    if config:
        from ax.generators.torch.botorch_modular.surrogate import ModelConfig, SurrogateSpec

        kwargs["surrogate_spec"] = SurrogateSpec(model_configs=[ModelConfig(**config)])
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
    them only inside the block (installed once; a pass-through elsewhere). Inside the
    block a polytope that is a fair share of its box skips the chain altogether
    (``_polytope_by_rejection``). If BoTorch moves that function, proposals keep
    BoTorch's defaults: slower, still correct.
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

    def wrap(original: Any) -> Any:
        def sample_q_batches_from_polytope(*args: Any, **kwargs: Any) -> Any:
            chain = _POLYTOPE_CHAIN.get()
            if chain is not None:
                bound = signature.bind(*args, **kwargs)
                bound.apply_defaults()
                drawn = _polytope_by_rejection(**{
                    key: bound.arguments.get(key) for key in (
                        "n", "q", "bounds", "seed", "inequality_constraints",
                        "equality_constraints")})
                if drawn is not None:
                    return drawn
                bound.arguments["n_burnin"] = min(bound.arguments["n_burnin"], chain[0])
                bound.arguments["n_thinning"] = min(bound.arguments["n_thinning"], chain[1])
                args, kwargs = bound.args, bound.kwargs
            return original(*args, **kwargs)
        return sample_q_batches_from_polytope

    _install_once(initializers, "sample_q_batches_from_polytope", wrap)
    return True


#: Quasi-random points drawn per point needed, at most, before ``_polytope_by_rejection``
#: gives up (a polytope under 1/64 of its box goes to hit-and-run).
REJECTION_MAX_FACTOR = 64


def _polytope_by_rejection(n: int, q: int, bounds: Any, seed: int | None,
                           inequality_constraints: Any, equality_constraints: Any) -> Any:
    """``n x q x d`` points of the polytope the box ``bounds`` and the linear
    ``inequality_constraints`` (BoTorch's ``(indices, coefficients, rhs)`` form, meaning
    ``sum(x[indices] * coefficients) >= rhs``) cut out: scrambled Sobol points of the box
    that satisfy the constraints, in Sobol order; ``None`` where that does not apply
    (equality or inter-point constraints) or the polytope is too small a share of its box.

    BoTorch draws these starting points by hit-and-run, a Python loop of one step at a
    time. Where the polytope is a fair share of the box (a budget constraint such as
    ``warmup_frac + decay_frac <= 0.9`` keeps 50-70% of it), filtering quasi-random
    points of the box gives independent, evenly spread points instead of a chain's
    correlated ones, for a vectorised test. On the README's constraints example Ax runs
    one such draw per value of the divisor, five a proposal: the chain took 0.84 s each,
    44% of a 9.5 s proposal (a profile of proposals 16-18 on a loaded machine).
    """
    import torch
    from botorch.utils.sampling import draw_sobol_samples

    if equality_constraints or not inequality_constraints:
        return None
    if any(len(indices.shape) > 1 for indices, _, _ in inequality_constraints):
        return None  # constraints across the points of a batch
    need = n * q
    draw = 4 * need
    while draw <= REJECTION_MAX_FACTOR * need:
        x = draw_sobol_samples(bounds=bounds.cpu(), n=draw, q=1, seed=seed).squeeze(-2)
        keep = torch.ones(len(x), dtype=torch.bool)
        for indices, coefficients, rhs in inequality_constraints:
            keep &= (x[:, indices.cpu()] * coefficients.cpu()).sum(-1) >= rhs
        if int(keep.sum()) >= need:
            return x[keep][:need].view(n, q, -1).to(bounds)
        draw *= 4
    return None


def _install_once(module: Any, name: str, wrap: Any) -> None:
    """Replace ``module.name`` by ``wrap(original)``, once per process (a marked wrapper
    is left alone), under a lock so two threads cannot wrap it twice."""
    with _HOOK_LOCK:
        original = getattr(module, name)
        if getattr(original, "_bo_hpo_hook", False):
            return
        wrapper = functools.wraps(original)(wrap(original))
        wrapper._bo_hpo_hook = True
        setattr(module, name, wrapper)


# ---------------------------------------------------------------- warm-started GP fits
#: Refit from BoTorch's default initial hyperparameters (a cold fit) once the training set
#: has grown by this factor since the last cold fit; in between, each fit starts from the
#: previous fit's hyperparameters. See ``WarmStart``.
COLD_REFIT_GROWTH = 1.25

#: Past this many training points every fit stops after ``BOUNDED_FIT_MAXITER`` L-BFGS-B
#: iterations and the next one goes on from there. Unbounded, a cold fit took 45 to 85 s at
#: 700 to 1,000 trials, and the first warm fit after a bounded cold one over 70 s: longer
#: than the proposal's time cap, so the proposal fell back to random and kept no fitted
#: state, and the next fit started over: a large resumed run would have turned into random
#: search. Bounded, each proposal's fit makes progress that the next one keeps.
BOUNDED_FIT_AFTER = 300
BOUNDED_FIT_MAXITER = 150

#: L-BFGS-B's relative-reduction tolerance for a warm-started fit (SciPy's default, which
#: a cold fit keeps, is ~2.2e-9). From the last fit's optimum, the default let the fit
#: creep along the flat directions of the likelihood (the lengthscales of irrelevant
#: inputs growing without end) for ~1,000 evaluations: on a 16-parameter space at 100
#: trials the warm fit took as long as a cold one, 1.8 s. ``None``: SciPy's default.
#: ``tune()`` applies it only in spaces of ``ModelSettings.loose_fit_from`` parameters or
#: more: in small spaces it cost search quality and saved no time.
WARM_FIT_FTOL: float | None = 1e-6

#: Wall-clock cap on one GP fit, in seconds (BoTorch's ``timeout_sec``): past it the fit
#: keeps the hyperparameters it has reached, they are stored as usual, and the next fit
#: goes on from them. Without it a fit that crept along the likelihood's flat directions
#: ran past the proposal's own cap (30 s), and the proposal fell back to a random
#: configuration and kept nothing of the fit. It happened with the categorical kernel:
#: on a 5-parameter space with three choices (seed 0), the cold fit at 15 trials ran past
#: the 30 s cap (~10 ms a likelihood evaluation) and the one at 19 trials took 1,125
#: L-BFGS-B iterations (13-19 s), while one kernel component's outputscale went to zero
#: and its lengthscales to +-1e4. Capped, the 15-trial fit stopped after 1,194 iterations
#: and the model proposed (11.7 s). Bounding those raw parameters instead cut little
#: (857 iterations at 19 trials) and cost likelihood.
#: ``None``: no cap. Fits that end under it are unchanged, so runs repeat exactly
#: unless a fit is this slow.
FIT_TIMEOUT: float | None = 10.0

#: Errors of a warm-started fit after which the same fit is run again cold (numerical
#: trouble; anything else, such as a proposal's time cap, propagates).
_REFIT_COLD_ON: tuple[type[BaseException], ...] = (RuntimeError, ValueError, ArithmeticError)
try:
    from botorch.exceptions.errors import ModelFittingError as _ModelFittingError

    _REFIT_COLD_ON += (_ModelFittingError,)
except ImportError:  # pragma: no cover - BoTorch moved it; RuntimeError etc. still apply
    pass


class WarmStart:
    """The hyperparameters of one proposer's last GP fit, to start the next fit from.

    Ax builds a new GP for every proposal and fits its marginal log likelihood from
    BoTorch's default initial hyperparameters; L-BFGS-B then takes ~700-1000 iterations,
    each O(n^3), so at a few hundred trials the fit is most of a proposal. One more trial
    moves the optimum little, so starting from the last fit's hyperparameters reaches the
    same loss in far fewer iterations.

    Only the model's learnable parameters (raw lengthscales, outputscale, noise, mean,
    warping, ...) are carried over, never buffers (training data, outcome standardisation,
    normalisation bounds, priors), and only when the new model's parameter names and
    shapes are exactly those stored; otherwise the fit is cold. A warm start could keep the
    fit in a basin that suited less data, so the fit is cold again whenever the training
    set has grown by ``growth`` (default ``COLD_REFIT_GROWTH``) since the last cold fit:
    cold fits are frequent while the data (and the likelihood surface) changes fast and
    each fit is cheap, and rare (every ~n/4 trials) once a cold fit costs tens of
    seconds. ``growth=math.inf``: warm always after the first fit.

    Thread-safe: a proposal computed ahead in another thread may fit at the same time.
    """

    def __init__(self, growth: float | None = None, record_loss: bool = False,
                 ftol: float | None = WARM_FIT_FTOL,
                 timeout: float | None = FIT_TIMEOUT,
                 both_below: int | None = None, maxiter: int | None = None) -> None:
        self.growth = COLD_REFIT_GROWTH if growth is None else growth
        #: below this many training points a warm fit is followed by a cold one and the
        #: lower loss wins (``None``: never); see ``ModelSettings.fit_both_below``
        self.both_below = both_below
        #: L-BFGS-B's ``ftol`` for warm fits (``None``: SciPy's default)
        self.ftol = ftol
        #: L-BFGS-B's iteration cap for warm fits (``None``: none below
        #: ``BOUNDED_FIT_AFTER`` points)
        self.maxiter = maxiter
        #: seconds a fit, warm or cold, may run (``None``: no cap); see ``FIT_TIMEOUT``
        self.timeout = timeout
        #: compute the final negative MLL per point after each fit (benchmarks, tests)
        self.record_loss = record_loss
        self._lock = threading.Lock()
        self._signature: tuple | None = None
        self._state: dict[str, Any] | None = None
        self._cold_n: int | None = None  # training points at the last cold fit attempt
        #: one dict per fit, the last 100: ``warm`` (bool), ``n``, ``loss`` (or None),
        #: ``reason``, ``seconds`` and ``capped`` (whether it stopped at ``timeout``)
        self.fits: list[dict[str, Any]] = []
        #: fits so far, and how many of them stopped at ``timeout``: a run whose fits hit
        #: the cap depends on the machine's load (a busier machine stops them earlier)
        self.n_fits = 0
        self.n_capped = 0
        #: fits made through a ``peek`` (a recommendation, a report) that stopped at the cap
        self.n_capped_asides = 0

    def clear(self) -> None:
        with self._lock:
            self._signature = self._state = self._cold_n = None

    @staticmethod
    def _signature_of(model: Any) -> tuple:
        return (type(model).__name__,
                tuple((name, tuple(p.shape)) for name, p in model.named_parameters()))

    def before_fit(self, model: Any, n: int, record: bool = True) -> str | None:
        """Load the stored hyperparameters into ``model`` (returns ``None``) or leave it at
        its initial values (returns why the fit is cold). ``record=False`` decides as the
        next fit would but notes nothing (see ``peek``)."""
        import torch

        with self._lock:
            if self._state is None:
                reason = "no earlier fit"
            elif self._cold_n is None or n >= self.growth * self._cold_n:
                reason = f"{n} points, {self._cold_n} at the last cold fit"
            elif self._signature_of(model) != self._signature:
                reason = "the model's hyperparameters changed shape"
            else:
                state = self._state
                reason = None
            if reason is not None:
                if record:
                    self._cold_n = n
                return reason
        with torch.no_grad():
            for name, p in model.named_parameters():
                p.copy_(state[name])
        return None

    def after_fit(self, model: Any, n: int, reason: str | None, loss: float | None,
                  seconds: float | None = None, capped: bool = False) -> None:
        state = _snapshot(model)
        with self._lock:
            self._signature = self._signature_of(model)
            self._state = state
            self.fits.append({"warm": reason is None, "n": n, "loss": loss, "reason": reason,
                              "seconds": seconds, "capped": capped})
            del self.fits[:-100]
            self.n_fits += 1
            self.n_capped += capped

    def peek(self) -> WarmStartPeek:
        """A view of this start for fits that must leave the search as it was."""
        return WarmStartPeek(self)


class WarmStartPeek:
    """A ``WarmStart`` seen read-only: a fit starts as the owner's next fit would (the
    same stored hyperparameters, the same warm or cold decision) and leaves nothing
    behind. Fits made to answer a question (the recommendation a callback asks for
    mid-run, a report's plots) go through one, so that asking does not change where the
    search goes next: the same seed gives the same trials whether or not anyone looked.
    """

    def __init__(self, owner: WarmStart) -> None:
        self._owner = owner
        self._cleared = False  # a warm fit failed: cold from now on, the owner untouched
        self.ftol = owner.ftol
        self.maxiter = owner.maxiter
        self.timeout = owner.timeout
        self.both_below = owner.both_below
        self.record_loss = False

    def before_fit(self, model: Any, n: int) -> str | None:
        if self._cleared:
            return "no earlier fit"
        return self._owner.before_fit(model, n, record=False)

    def after_fit(self, model: Any, n: int, reason: str | None, loss: float | None,
                  seconds: float | None = None, capped: bool = False) -> None:
        if capped:  # the only trace a peek leaves: what it answered depends on the load
            with self._owner._lock:
                self._owner.n_capped_asides += 1

    def clear(self) -> None:
        self._cleared = True


#: The proposer's ``WarmStart`` inside ``warm_started_fits``; None elsewhere (Ax fits
#: from scratch). A context variable, so one thread's proposal does not touch another's.
_WARM_START: contextvars.ContextVar[WarmStart | WarmStartPeek | None] = contextvars.ContextVar(
    "bo_hpo_warm_start", default=None)


@contextlib.contextmanager
def warm_started_fits(warm: WarmStart | WarmStartPeek | None) -> Iterator[None]:
    """Start every GP fit Ax runs inside the block from ``warm``'s last hyperparameters
    (see ``WarmStart``), and store the fitted ones there afterwards.

    Wraps the ``fit_gpytorch_mll`` that Ax's modular BoTorch generator calls
    (``ax.generators.torch.botorch_modular.utils``), installed once, a pass-through
    outside the block. ``warm=None``, or Ax moved that function: cold fits, as Ax's own.
    """
    if warm is None or not _install_fit_hook():
        yield
        return
    token = _WARM_START.set(warm)
    try:
        yield
    finally:
        _WARM_START.reset(token)


#: Inside ``loo_fits_below(n)``: n (fits on fewer training points use the leave-one-out
#: likelihood); None elsewhere.
_LOO_BELOW: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "bo_hpo_loo_below", default=None)


@contextlib.contextmanager
def loo_fits_below(n: int | None) -> Iterator[None]:
    """Fit every GP that Ax fits inside the block on fewer than ``n`` points by the
    leave-one-out predictive likelihood (GPyTorch's ``LeaveOneOutPseudoLikelihood``, priors
    included) instead of the exact marginal likelihood Ax builds. ``None``: Ax's own.

    Through the same wrapped ``fit_gpytorch_mll`` as ``warm_started_fits``, so the switch
    follows the data the fit sees, for proposals and predictions alike.
    """
    if n is None or not _install_fit_hook():
        yield
        return
    token = _LOO_BELOW.set(n)
    try:
        yield
    finally:
        _LOO_BELOW.reset(token)


def _criterion(mll: Any) -> Any:
    """``mll``, or the leave-one-out likelihood on the same model inside
    ``loo_fits_below`` when the model has few enough training points."""
    below = _LOO_BELOW.get()
    if below is None:
        return mll
    from gpytorch.mlls import ExactMarginalLogLikelihood, LeaveOneOutPseudoLikelihood

    if type(mll) is not ExactMarginalLogLikelihood or _n_train(mll.model) >= below:
        return mll
    return LeaveOneOutPseudoLikelihood(mll.likelihood, mll.model)


def _n_train(model: Any) -> int:
    return int(model.train_inputs[0].shape[-2])


def _loss_per_point(mll: Any) -> float:
    """The negative marginal log likelihood per training point (priors included), the
    quantity the fit minimised."""
    import torch
    from botorch.optim.closures import get_loss_closure

    was_training = mll.training
    mll.train()
    try:
        with torch.no_grad():
            return float(get_loss_closure(mll)())
    finally:
        if not was_training:
            mll.eval()


def _install_fit_hook() -> bool:
    try:
        from ax.generators.torch.botorch_modular import utils as mbm_utils
        original = mbm_utils.fit_gpytorch_mll
    except (ImportError, AttributeError) as err:
        logger.debug("cannot warm-start GP fits: %s", err)
        return False
    if getattr(original, "_bo_hpo_hook", False):
        return True

    def wrap(original: Any) -> Any:
        def fit_gpytorch_mll(mll: Any, *args: Any, **kwargs: Any) -> Any:
            mll = _criterion(mll)
            warm = _WARM_START.get()
            if warm is None:
                return original(mll, *args, **kwargs)
            return _fit_warm(original, warm, mll, args, kwargs)
        return fit_gpytorch_mll

    _install_once(mbm_utils, "fit_gpytorch_mll", wrap)
    return True


def _fit_warm(original: Any, warm: WarmStart | WarmStartPeek, mll: Any, args: tuple,
              kwargs: dict) -> Any:
    model = mll.model
    capped = False
    cap = warm.timeout if "optimizer_kwargs" not in kwargs else None  # ours, or the caller's
    began = time.perf_counter()

    def fit(mll: Any, *args: Any, **kwargs: Any) -> Any:
        """``original``, noting whether it ran to the cap (BoTorch stops a fit there
        silently: its own handler drops the "timed out" warning)."""
        nonlocal capped
        start = time.perf_counter()
        try:
            return original(mll, *args, **kwargs)
        finally:
            capped |= cap is not None and time.perf_counter() - start >= cap

    initial = _snapshot(model)
    try:
        n = _n_train(model)
        reason = warm.before_fit(model, n)
    except Exception as err:  # anything unexpected: a cold fit, as without the hook
        logger.debug("cold GP fit: the warm start failed: %r", err)
        _restore(model, initial)
        warm.clear()
        return original(mll, *args, **kwargs)  # uncapped: nothing to note
    cold_kwargs = kwargs
    if "optimizer_kwargs" not in kwargs:  # the caller's own options win
        bound = {"maxiter": BOUNDED_FIT_MAXITER} if n > BOUNDED_FIT_AFTER else {}
        tol = {} if warm.ftol is None else {"ftol": warm.ftol}
        if warm.maxiter is not None:
            tol["maxiter"] = min(warm.maxiter, bound.get("maxiter", warm.maxiter))
        cold_kwargs = _with_options(kwargs, bound, warm.timeout)
        kwargs = _with_options(kwargs, {**bound, **tol}, warm.timeout)
    if reason is None:
        try:
            result = fit(mll, *args, **kwargs)
        except _REFIT_COLD_ON as err:
            logger.debug("warm-started GP fit failed (%r); fitting again cold", err)
            _restore(model, initial)
            warm.clear()
            reason = warm.before_fit(model, n)  # no state now: records a cold fit at n
            result = fit(mll, *args, **cold_kwargs)
        else:
            if warm.both_below is not None and n < warm.both_below:
                result, reason = _cold_if_better(fit, mll, args, cold_kwargs,
                                                 initial, result)
    else:
        logger.debug("cold GP fit: %s", reason)
        result = fit(mll, *args, **cold_kwargs)
    try:
        loss = _loss_per_point(mll) if warm.record_loss else None
        if capped:
            logger.info("a GP fit on %d points stopped at its %g s cap, where it had got to "
                        "(a busier machine stops it earlier)", n, cap)
        warm.after_fit(model, n, reason, loss, seconds=time.perf_counter() - began,
                       capped=capped)
    except Exception as err:  # the fit stands; the next one is cold
        logger.debug("could not store the fitted GP hyperparameters: %r", err)
        warm.clear()
    return result


def _cold_if_better(original: Any, mll: Any, args: tuple, kwargs: dict,
                    initial: dict[str, Any], warm_result: Any) -> tuple[Any, str | None]:
    """After a warm fit of ``mll``, fit again from ``initial`` (cold) and keep whichever
    reached the lower loss; returns the fit's result and ``None`` (the warm fit kept) or
    why the cold one was."""
    model = mll.model
    try:
        warm_loss = _loss_per_point(mll)
    except Exception as err:  # noqa: BLE001 - no loss to compare: the warm fit stands
        logger.debug("no loss for the warm fit (%r); keeping it", err)
        return warm_result, None
    fitted = _snapshot(model)
    _restore(model, initial)
    try:
        result = original(mll, *args, **kwargs)
        cold_loss = _loss_per_point(mll)
    except _REFIT_COLD_ON as err:
        logger.debug("cold GP fit beside the warm one failed (%r)", err)
        cold_loss = math.inf
    if cold_loss < warm_loss:
        logger.debug("cold GP fit kept: loss %.4g, the warm fit's %.4g", cold_loss, warm_loss)
        return result, f"cold fit's loss {cold_loss:.4g} below the warm fit's {warm_loss:.4g}"
    _restore(model, fitted)
    mll.train()  # drops anything computed from the cold fit's hyperparameters
    mll.eval()
    return warm_result, None


def _with_options(kwargs: dict, options: dict, timeout: float | None = None) -> dict:
    """``kwargs`` with L-BFGS-B ``options`` and a ``timeout`` in seconds for BoTorch's
    fit (unchanged if neither)."""
    optimizer_kwargs: dict[str, Any] = {}
    if options:
        optimizer_kwargs["options"] = options
    if timeout is not None:
        optimizer_kwargs["timeout_sec"] = timeout
    return {**kwargs, "optimizer_kwargs": optimizer_kwargs} if optimizer_kwargs else kwargs


def _snapshot(model: Any) -> dict[str, Any]:
    """A copy of ``model``'s learnable parameters, by name (``_restore`` puts it back)."""
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def _restore(model: Any, values: dict[str, Any]) -> None:
    import torch

    with torch.no_grad():
        for name, p in model.named_parameters():
            if name in values and values[name].shape == p.shape:
                p.copy_(values[name])
