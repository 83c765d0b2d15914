"""What to try next: a thin wrapper over Ax's ``Client`` in the user's terms.

Generation (see the README's "Proposal time" and ``ModelSettings``): Ax's Sobol
initialisation, then its modular BoTorch model (``MBM``: a GP with log noisy expected
improvement; unordered choices one-hot, or under a categorical kernel where they are most
of the space) with Ax's acquisition effort, each GP fit warm-started from the proposer's
previous one (and stopped at ``_ax.FIT_TIMEOUT``), and under linear constraints starting
points drawn by filtering quasi-random points (short hit-and-run chains where the feasible
region is a sliver of its box) and fewer restarts.
A model proposal that repeats a tried configuration is replaced by the best one that
does not.
Each proposal also runs under a wall-clock cap; past it, or when the model fails, the
proposal falls back to a random valid configuration, logged as a WARNING and recorded on
the trial.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from bo_hpo import _ax
from bo_hpo._ax import import_ax
from bo_hpo.errors import SearchSpaceError
from bo_hpo.space import SearchSpace
from bo_hpo.translate import Translation, to_unit, translate
from bo_hpo.trial import PENALISED_REASONS, Prediction, TrialRecord

logger = logging.getLogger(__name__)

METRIC = "objective"

@dataclass(frozen=True)
class ModelSettings:
    """How the GP phase models and proposes. The defaults are ``tune()``'s;
    ``benchmarks/search_quality.py --variants`` measures the alternatives.

    Attributes:
        num_restarts, raw_samples: the acquisition optimiser's effort. Ax's own (20 and
            1024): the benchmark's ablation found the leaner 4 and 256 used before cost
            the most on the multi-modal and the high-dimensional problems (one seed at 50
            trials: regret 0.038 against 0.002, and 0.016 against 0.001), at about 1.2
            to 1.7 times the proposal time; more raw samples alone did not help.
        maxiter_alternating: cap on the mixed optimiser's alternating iterations
            (``None``: BoTorch's default).
        maxiter_init: cap on the L-BFGS-B iterations of the alternating mixed
            optimiser's continuous-relaxation start (``None``: BoTorch's 100). It is
            most of a 16-parameter proposal's time, and there its 20 restarts ran to
            100. At 50 the median 16-D proposal took 0.69 / 0.75 / 0.86 s at 25 / 50 /
            100 trials against 1.40 / 1.08 / 1.30 s (GPSampler 0.50 / 0.48 / 0.55 s,
            same run), and search quality tied at 20, 50 and 100 trials on both 16-D
            problems (10 seeds; lower medians at 50 and 100). On ``width_depth_batch``
            no start went past 45 iterations and every run is unchanged; on ``gbm_cv``
            it changed 5 of 10 runs from 50 trials on, a tie with lower medians
            (``benchmarks/RESULTS.md``, "A shorter relaxation start" and "The table at
            today's default, joined"). At 30 proposals
            were slower, not faster: a start that far from converged leaves the
            alternating steps more to do ("Ablation, fifth pass"). Only the alternating
            optimiser gets it (``AxProposer._alternating``).
        alternating_tol: the alternating optimiser's stopping tolerance (``None``:
            BoTorch's 1e-8): a restart stops once a discrete-then-continuous round
            gains less than this in log acquisition value (BoTorch also hands it to
            SciPy as the gradient tolerance of those rounds). 1e-3 cut the 4-5 s
            proposals where two restarts crept on for 64 rounds, but not the median,
            and tied on quality with higher medians at 20 trials on four of five
            problems, so it is off.
        input_warping: a learned Kumaraswamy warp of every input (BoTorch's ``Warp``).
        categorical_kernel: keep unordered choices as categories under a categorical
            kernel (``MixedSingleTaskGP``) instead of one-hot encoding them. ``None``
            (the default): only where unordered choices are more than
            ``CATEGORICAL_KERNEL_SHARE`` of the parameters (see ``resolved``). There it
            won at 50 trials by more than seed noise (median regret: ``cat_heavy``, 3 of
            5 parameters categorical, 0.023 against 0.046 one-hot over 10 seeds;
            ``cat_arch``, 4 of 6, 0.0013 against 0.022), and tied at 20. Where choices
            are a minority it was worse at 20 trials on average (0.028 against 0.022 over
            five problems), so one-hot stays there (``benchmarks/RESULTS.md``).
        warm_start: start each GP fit from the proposer's previous fit's hyperparameters
            (with a cold fit whenever the data has grown by a quarter since the last; see
            ``_ax.WarmStart``) instead of BoTorch's defaults, as Ax does.
        warm_fit_ftol: L-BFGS-B's relative-reduction tolerance for those warm fits
            (``None``: SciPy's ~2.2e-9, which cold fits keep); see ``_ax.WARM_FIT_FTOL``.
            Only in spaces of ``loose_fit_from`` parameters or more.
        fit_timeout: seconds one GP fit may run before it stops where it has got to
            (``None``: no cap); see ``_ax.FIT_TIMEOUT``. Needs ``warm_start``.
        branch_every: in a space with conditional branches (parameters active under one
            value of a choice), every this-many-th model proposal is made inside a branch
            the incumbent is not in, fewest-visited first, so that a branch whose own
            parameters need tuning before it can win (SGD's momentum) gets them tuned.
            ``None``: never.
        loo_fit_below: while fewer than this many trials have data, fit the GP's
            hyperparameters by the leave-one-out predictive likelihood (GPyTorch's
            ``LeaveOneOutPseudoLikelihood``) instead of the marginal likelihood; ``None``:
            never. Where the noise grows with a parameter (a high learning rate), the
            marginal likelihood on few points can explain the noisy region's scatter as
            signal, with a short lengthscale and a tiny noise, and then chases lucky draws.
        repeat_radius: when the model's proposal repeats a configuration already tried
            (every numeric parameter within this share of its range, on the log scale
            where log, and every other parameter equal), propose instead the best by
            expected improvement of ``REPEAT_CANDIDATES`` configurations that repeat none
            (steps of several sizes from the proposal, and random draws). ``None``: never.
            Under a noisy objective the acquisition can settle on one point and sample it
            again and again: at 100 trials, 94% of the model's proposals after the 20th
            repeated an earlier one on ``conditional_narrow`` and 57% on
            ``optimizer_lr_wd``, while the recommendation stood still. With 0.02 (10
            seeds, 14 problems, 100 trials, against the same seeds without): lower median
            regret at 100 trials on four problems by more than seed noise
            (``optimizer_lr_wd`` 0.0007 against 0.016, ``svc_digits`` 0.0044 against
            0.0071, ``sgd_momentum`` and ``conditional_narrow``), a tie on the rest, the
            mean over problems 0.0078 against 0.0096; at 20 trials nearly every run is
            identical (``benchmarks/RESULTS.md``, "Search quality at 100 trials with
            repeated proposals replaced").
        branch_on_repeat: in a space with conditional branches, every this-many-th
            proposal that ``repeat_radius`` replaces goes instead inside the
            least-visited branch the incumbent is not in, as ``branch_every``'s visits do:
            a model that keeps repeating its incumbent has nothing better to say about
            that branch, and the other branch's own parameters may need tuning before it
            can win. ``None``: never. Off because it did not hold up: with every repeat
            sent (1), ``sgd_momentum`` seeds 0-9 found SGD's narrow optimum in 8 of 10 runs
            by 100 trials (median regret 0.016 against 0.030), but seeds 10-19 tied the
            default (0.027 against 0.030), ``conditional_narrow`` tied on both, and a
            recommended SGD point was at times worse than the Adam plateau
            (``benchmarks/RESULTS.md``, "Ablation, sixth pass").
        branch_model: a visit inside a branch (``branch_every``, ``branch_on_repeat``)
            picks its candidate by a GP fitted on that branch's measured trials alone,
            their values replaced by the normal scores of their ranks, instead of by the
            GP fitted on all data. The global GP's lengthscales come mostly from the other
            branch (a broad Adam plateau), too long to resolve a narrow basin inside this
            one, and the diverged trials near a cliff set its scale; the branch's own
            model, on ranks, sees neither. Off because the search's gain did not reach the
            recommendation: with ``branch_on_repeat=1``, 20 seeds, 100 trials, the best
            configuration tried was better (median regret 0.012 against the default's 0.030
            on ``sgd_momentum``, 0.016 against 0.021 on ``conditional_narrow``) but the
            recommended one tied the default (0.022 against 0.030, and 0.022 against
            0.025), worse at 50 trials on ``sgd_momentum`` (0.031 against 0.030, higher in
            14 of 20 seeds), with a worse p90 (``benchmarks/RESULTS.md``, "Ablation,
            seventh pass").
        replicate_every: every this-many-th model proposal, once ``REPLICATE_FROM``
            trials have data, evaluates again a configuration already measured when the
            model cannot tell the best of them apart: of those whose predicted mean is
            within ``REPLICATE_Z`` standard deviations (of the difference) of the best
            predicted one, the most promising (best mean less one sd, a lower confidence
            bound). Under noise the recommendation is the best predicted mean, and a lucky
            draw next to a basin can hold that place against the basin itself; measured
            again, it falls back. ``None``: never. Once a configuration measured twice
            gives the same value twice, the objective is taken to be deterministic and
            nothing is repeated again. Off because it tied the default on the three noisy
            problems (every 4th proposal, 10 seeds, 100 trials: ``conditional_narrow``
            0.0251 against 0.0250, higher in 8 of 10 seeds; ``sgd_momentum`` 0.0302
            against 0.0301; ``hetero_noise_trap`` 0.0044 against 0.0059), and with
            ``branch_model`` it tied ``branch_model`` alone (``benchmarks/RESULTS.md``,
            "Ablation, eighth pass").
        warp_from: ``input_warping`` once this many trials have data (``None``: as
            ``input_warping`` says throughout). A warp has two parameters per input, too
            many for the first 15 to 20 trials (there it was worse), but it can stretch
            the end of a range where a parameter's effect is concentrated (Adam's beta2
            near 0.999 on a linear range up to 0.9999), which a stationary kernel on the
            raw scale treats as one point. Off because, from 40 trials, it was worse on
            ``hetero_noise_trap`` (10 seeds: 0.0307 against 0.0059 at 100 trials, higher
            in 9 of 10 seeds; 0.0223 against 0.0117 at 50) and only tied on the
            conditional problems (``benchmarks/RESULTS.md``, "Ablation, eighth pass").
        tail_decades: a linear float range below 1 whose 1 - x spans at least this many
            decades is modelled, and sampled by the initial design, on the scale of
            log(1 - x), where 0.99, 0.999 and 0.9999 are evenly spaced (``None``: every
            range as written). Adam's beta2 in [0.9, 0.9999] spans 3 decades, and its
            best values lie in the last 1% of the linear range: a stationary kernel on
            the raw scale saw one slope down to the bound and recommended beta2 = 0.9999
            (6 of 7 Adam recommendations at 100 trials on ``conditional_narrow``, seeds
            20-29). On log(1 - x), none of 9: median regret 0.0202 against 0.0250 at 100
            trials, 0.0220 against 0.0251 at 50, lower in 9 and 8 of 10 seeds. With 2
            decades, SGD's momentum in [0, 0.99] as well, ``branin_log`` (momentum a
            linear Branin coordinate) lost at 20 trials (0.0221 against 0.0024, higher in
            8 of 10 seeds), so 2.5: a range written to 0.9999 from 0.9 or 0.95 says which
            scale it means; [0, 0.99] does not (``benchmarks/RESULTS.md``, "Ablation,
            ninth pass"). A parameter in a linear constraint keeps its own scale, and
            random search always does.
        loose_fit_from: ``warm_fit_ftol`` applies in spaces of at least this many
            modelled (not fixed) parameters; in smaller ones warm fits run to SciPy's
            tolerance, as cold fits do (``None``: ``warm_fit_ftol`` everywhere). The
            looser tolerance was chosen for time on a 16-parameter space, where a warm
            fit at SciPy's crept along the flat directions of irrelevant inputs; in small
            spaces it left the fits short of the optimum, and that cost search quality.
            Against ``warm_fit_ftol`` everywhere (10 seeds, paired): better at 50 trials
            on ``width_depth_batch`` (median regret 0.0116 against 0.0153, the one
            problem where bo_hpo was worse than a peer by more than seed noise) and on
            ``transformer_shape`` (0.0063 against 0.0110), a tie on ``multimodal_lr_wd``
            (0.0023 against 0.0046), ``hetero_noise_trap``, ``conditional_narrow``,
            ``branin_log``, and at 100 trials on ``sgd_momentum`` and
            ``optimizer_lr_wd``; proposals on those small spaces no slower overall
            (median over trials 21-50: 10% slower on ``width_depth_batch``, 10-25%
            faster on five other problems). On the 16-parameter space
            the tight fits made proposals slower (median 3.4 to 3.6 s against 1.2 to 1.4
            s at 50 trials), hence the scope (``benchmarks/RESULTS.md``, "Warm fits to
            SciPy's tolerance in spaces under 9 parameters").
        cold_refit_growth: refit cold once the training set has grown by this factor
            since the last cold fit (``None``: ``_ax.COLD_REFIT_GROWTH``). Measured at 1.1
            against 1.25 (10 seeds, 50 trials): better on ``width_depth_batch`` (0.0038
            against 0.0153) but a median three times the default's on
            ``multimodal_lr_wd`` (0.0136 against 0.0046; a tie by the bootstrap rule).
        fit_both_below: while fewer than this many trials have data, follow every warm
            fit by a cold one and keep the lower loss (``None``: never). Measured
            always on: better on ``width_depth_batch`` (0.0071 against 0.0153 at 50
            trials) and worse on ``multimodal_lr_wd`` (0.0262 against 0.0046), as cold
            fits alone were: the higher likelihood is not the better search there.
        warm_fit_maxiter: cap on a warm fit's L-BFGS-B iterations (``None``: none below
            ``_ax.BOUNDED_FIT_AFTER`` points). At 200 with SciPy's tolerance it did not
            bring the 16-parameter proposals back (median 3.7 s at 50 trials).
        noise_model: where the objective gives no SEM, ``"homoscedastic"`` (Ax's one
            inferred noise level) or a noise variance fitted as a function of the inputs,
            ``"loglinear"`` or ``"logquadratic"`` (``_hetero.HeteroNoiseGP``; with the
            categorical kernel the noise stays homoscedastic). On ``hetero_noise_trap``
            (noise sd from 0.005 to 0.155 as the learning rate rises), 30 seeds, median
            regret at 20 / 50 / 100 trials: ``"logquadratic"`` 0.0217 / 0.0076 / 0.0043,
            ``"loglinear"`` 0.0200 / 0.0063 / 0.0051, the default 0.0204 / 0.0101 /
            0.0058, plain Ax 0.0295 / 0.0106 / 0.0062. Against the default both tie at
            every checkpoint; against plain Ax, ``"logquadratic"`` is better at 50 trials
            by the bootstrap rule (barely: the interval's upper end is -0.00001), where
            the default ties. On six more problems (10 seeds, side by side) it was worse
            than the default at 20 trials on two of them (``width_depth_batch``,
            ``branin_log``: three times the median) and at 50 on ``multimodal_lr_wd``;
            from 30 trials on (``noise_model_from=30``) it tied the default everywhere.
            Not the default until it has run on the whole benchmark at 100 trials
            (``benchmarks/RESULTS.md``, "Input-dependent noise").
        noise_model_from: ``noise_model`` once this many trials have data, homoscedastic
            before (``None``: from the first fit). A noise model has one or two
            parameters per input to fit, which few points do not pin down.
    """

    num_restarts: int = 20
    raw_samples: int = 1024
    maxiter_alternating: int | None = None
    maxiter_init: int | None = 50
    alternating_tol: float | None = None
    input_warping: bool = False
    categorical_kernel: bool | None = None
    warm_start: bool = True
    warm_fit_ftol: float | None = _ax.WARM_FIT_FTOL
    fit_timeout: float | None = _ax.FIT_TIMEOUT
    branch_every: int | None = None
    loo_fit_below: int | None = None
    repeat_radius: float | None = 0.02
    branch_on_repeat: int | None = None
    branch_model: bool = False
    replicate_every: int | None = None
    warp_from: int | None = None
    tail_decades: float | None = 2.5
    cold_refit_growth: float | None = None
    fit_both_below: int | None = None
    warm_fit_maxiter: int | None = None
    loose_fit_from: int | None = 9
    noise_model: str = "homoscedastic"
    noise_model_from: int | None = None

    def resolved(self, parameters: Iterable[Any]) -> ModelSettings:
        """These settings for a space of Ax ``parameters``: ``categorical_kernel=None``
        becomes True where unordered choices dominate, else False; ``warm_fit_ftol``
        becomes None (SciPy's tolerance) in a space of fewer than ``loose_fit_from``
        modelled parameters."""
        parameters = list(parameters)
        resolved = self
        if self.categorical_kernel is None:
            unordered = sum(getattr(p, "is_ordered", True) is False for p in parameters)
            dominate = unordered > CATEGORICAL_KERNEL_SHARE * max(len(parameters), 1)
            resolved = dataclasses.replace(resolved, categorical_kernel=dominate)
        modelled = [p for p in parameters if type(p).__name__ != "FixedParameter"]
        if self.loose_fit_from is not None and len(modelled) < self.loose_fit_from:
            resolved = dataclasses.replace(resolved, warm_fit_ftol=None, loose_fit_from=None)
        return resolved

    def model_kwargs(self) -> dict[str, Any]:
        noise_model = "homoscedastic" if self.noise_model_from else self.noise_model
        return _ax.model_kwargs(input_warping=self.input_warping,
                                categorical_kernel=bool(self.categorical_kernel),
                                noise_model=noise_model)

    def optimizer_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"num_restarts": self.num_restarts,
                                  "raw_samples": self.raw_samples}
        # no empty ``options``: Ax's discrete optimiser refuses the key itself
        options = {key: value for key, value in (("maxiter_alternating",
                                                  self.maxiter_alternating),
                                                 ("maxiter_init", self.maxiter_init),
                                                 ("tol", self.alternating_tol))
                   if value is not None}
        if options:
            kwargs["options"] = options
        return kwargs


#: Options of BoTorch's alternating mixed optimiser that no other optimiser may get.
ALTERNATING_ONLY = frozenset({"maxiter_init", "tol"})

#: More combinations of discrete values than this, and BoTorch alternates between
#: discrete and continuous steps instead of enumerating them (its
#: ``ALTERNATING_OPTIMIZER_THRESHOLD``).
ALTERNATING_COMBINATIONS = 10

#: ``ModelSettings(categorical_kernel=None)`` uses the categorical kernel when unordered
#: choices are more than this share of the parameters Ax models.
CATEGORICAL_KERNEL_SHARE = 0.5

#: How a trial that will never get data leaves Ax's modelling (see ``_retire``).
RETIRE_AS = "failed"

#: The settings every new proposer uses (replaced only by benchmarks and tests).
SETTINGS = ModelSettings()

#: Configurations scored by the model for a proposal inside a branch: near the branch's
#: best so far, or drawn at random inside it while it has no measured trial.
BRANCH_CANDIDATES = 500

#: How far those near ones step: a normal step of this sd on each numeric parameter's
#: unit scale (log scale for log parameters), and a choice redrawn with this probability.
BRANCH_STEP = 0.15

#: Measured trials a branch needs before ``ModelSettings.branch_model`` fits its own GP.
BRANCH_MODEL_MIN = 6

#: Configurations scored by the model in place of a proposal that repeats a tried one
#: (``ModelSettings.repeat_radius``), and the step sizes (as ``BRANCH_STEP``) of those
#: drawn around the proposal; a quarter more are random draws.
REPEAT_CANDIDATES = 400
REPEAT_STEPS = (0.03, 0.1, 0.3)

#: The ``generator`` labels of the model's own proposals (``ModelSettings.branch_every`` and
#: ``replicate_every`` count them).
MODEL_GENERATORS = ("gp", "replicate")

#: ``ModelSettings.replicate_every``: trials with data before any replicate, and how
#: close (in standard deviations of the difference) a configuration's predicted mean must
#: be to the best one's to be a contender.
REPLICATE_FROM = 15
REPLICATE_Z = 1.0

#: Acquisition restarts under linear constraints (see ``_optimizer_kwargs``).
CONSTRAINED_MAX_RESTARTS = 4

#: Hit-and-run settings for starting points inside linear constraints (BoTorch: 10000, 32).
POLYTOPE_OPTIONS: dict[str, Any] = {"n_burnin": 500, "n_thinning": 4}

#: torch threads while fitting and optimising (see ``_torch_threads``).
PROPOSAL_THREADS = 1


@dataclass
class Proposal:
    """A configuration to evaluate, with the Ax trial behind it."""

    ax_index: int
    config: dict[str, Any]
    seconds: float
    generator: str
    fallback: str | None = None


class ProposalTimeout(Exception):
    pass


@contextlib.contextmanager
def _time_cap(seconds: float | None) -> Iterator[None]:
    """Raise ProposalTimeout after ``seconds`` (main thread on Unix only; else no cap)."""
    usable = (
        seconds is not None and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )
    if not usable:
        yield
        return

    def on_alarm(signum: int, frame: Any) -> None:
        raise ProposalTimeout(f"proposal took longer than {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class AxProposer:
    """Proposes configurations with Ax and takes results back.

    Args:
        space: the search space.
        minimize: whether lower objective values are better.
        method: ``"bo"`` (Sobol, then a GP) or ``"random"`` (quasi-random Sobol throughout,
            over the same translated space, for fair comparisons).
        seed: seeds Ax's Sobol sequence and model fitting; ``None``: not reproducible.
        n_initial: quasi-random trials before the model takes over (a baseline counts);
            ``None`` lets Ax decide (5).
        proposal_timeout: wall-clock cap on one proposal, in seconds.
        is_valid: used only when a fallback must draw a random configuration.
    """

    def __init__(
        self,
        space: SearchSpace,
        *,
        minimize: bool = True,
        method: str = "bo",
        seed: int | None = None,
        n_initial: int | None = None,
        proposal_timeout: float | None = 30.0,
        is_valid: Callable[[dict[str, Any]], bool] | None = None,
        parallel: bool = False,
    ) -> None:
        Client = import_ax().Client

        self.space = space
        # random search samples the space as the user wrote it
        self.translation: Translation = translate(
            space, tail_decades=SETTINGS.tail_decades if method != "random" else None)
        self.minimize = minimize
        self.method = method
        self.proposal_timeout = proposal_timeout
        self._is_valid = is_valid
        self._rng = np.random.default_rng(seed)
        self._seed = seed
        self.settings = SETTINGS.resolved(self.translation.parameters)
        self.client = Client(random_seed=seed)
        with _quiet():
            self.client.configure_experiment(
                parameters=self.translation.parameters,
                parameter_constraints=self.translation.constraints or None,
                name="bo_hpo",
            )
            self.client.configure_optimization(objective=("-" if minimize else "") + METRIC)
            self.client.set_generation_strategy(self._generation_strategy(
                method, n_initial, seed, self._optimizer_kwargs(), parallel, self.settings))
        self._has_conditionals = any(p.when for p in space.params.values())
        #: the last GP fit's hyperparameters, shared by proposals and predictions
        self._warm = (_ax.WarmStart(growth=self.settings.cold_refit_growth,
                                    ftol=self.settings.warm_fit_ftol,
                                    timeout=self.settings.fit_timeout,
                                    both_below=self.settings.fit_both_below,
                                    maxiter=self.settings.warm_fit_maxiter)
                      if self.settings.warm_start else None)
        self._sems: list[float] = []
        self._means: list[float] = []
        #: whether results come with a SEM, fixed by the first one told: the GP takes the
        #: noise as known only when every trial has one (a mix is NaN to it)
        self._sem_known: bool | None = None
        self._warned: set[str] = set()
        #: (choice parameter, label) of each value that activates parameters of its own
        self._branches = [(p.name, label) for p in self.translation.parameters
                          for label, children in (getattr(p, "dependent_parameters", None)
                                                  or {}).items() if children]
        self._observed: dict[int, float] = {}  # Ax index -> mean, measured trials only
        self._model_proposals = 0
        self._branch_visits: dict[tuple[str, Any], int] = {}
        self._repeats = 0  # model proposals that repeated a tried configuration
        #: how many configurations a fully discrete space has (at most), else None
        self._size = _discrete_size(space)
        self._tried: set[str] = set()  # configurations of Ax's trials 0.._tried_upto - 1
        self._tried_upto = 0

    # ----------------------------------------------------------------- strategy
    def _fully_discrete(self) -> bool:
        """Ax then enumerates or locally searches the discrete choices; its discrete
        optimisers reject the continuous optimiser's options."""
        return all(
            not hasattr(p, "bounds") or p.parameter_type == "int"
            for p in self.translation.parameters
        )

    def _optimizer_kwargs(self) -> dict[str, Any] | None:
        """Acquisition optimiser settings for this space (``None``: Ax's defaults)."""
        if self._fully_discrete():
            return None
        kwargs = self.settings.optimizer_kwargs()
        continuous = all(
            hasattr(p, "bounds") and p.parameter_type == "float"
            for p in self.translation.parameters
        )
        if not self._alternating() and ALTERNATING_ONLY & set(kwargs.get("options", {})):
            # the alternating optimiser's own steps; elsewhere BoTorch would hand them to
            # SciPy ("tol" would loosen every L-BFGS-B run) or refuse them
            options = {k: v for k, v in kwargs.pop("options").items()
                       if k not in ALTERNATING_ONLY}
            if options:
                kwargs["options"] = options
        if continuous and self.translation.constraints:
            # Linear constraints make BoTorch draw starting points by hit-and-run over the
            # polytope: 10,000 burn-in steps and thinning 32 by default, a Python loop that
            # took 1.7 s of a 3.1 s proposal here. A shorter chain is plenty for the raw
            # samples. (The mixed optimiser rejects these keys, hence continuous only;
            # mixed spaces get the same chain through ``_short_chains``.)
            kwargs.setdefault("options", {}).update(POLYTOPE_OPTIONS)
        if self.translation.constraints:
            # Under linear constraints BoTorch optimises each restart with SLSQP, one at a
            # time, instead of batched L-BFGS-B: 20 restarts made a constrained proposal
            # 3.8 times an unconstrained one (benchmarks/proposal_time.py). The lean 4 did
            # as well on the constrained problem (median regret 0.0034 against 0.0050 at
            # 20 trials, 5 seeds: a tie).
            kwargs["num_restarts"] = min(kwargs["num_restarts"], CONSTRAINED_MAX_RESTARTS)
        return kwargs

    def _alternating(self) -> bool:
        """Whether Ax will optimise the acquisition with BoTorch's alternating mixed
        optimiser: a space not all discrete whose discrete dimensions (integers, ordered
        choices, two-valued choices, which Ax encodes as one 0/1 column, and the other
        unordered ones only under the categorical kernel: their one-hot columns are
        optimised as floats) have more than ``ALTERNATING_COMBINATIONS`` combinations
        (``botorch.optim.optimize_mixed.should_use_mixed_alternating_optimizer``).
        Fewer are enumerated, each with BoTorch's continuous optimiser."""
        combinations = 1
        for p in self.translation.parameters:
            if hasattr(p, "bounds"):
                if p.parameter_type == "int":
                    combinations *= int(p.bounds[1]) - int(p.bounds[0]) + 1
            elif hasattr(p, "values") and (getattr(p, "is_ordered", False)
                                          or self.settings.categorical_kernel
                                          or len(p.values) == 2):
                combinations *= len(p.values)
        return combinations > ALTERNATING_COMBINATIONS

    def _short_chains(self) -> contextlib.AbstractContextManager[None]:
        """Starting points under linear constraints without BoTorch's long hit-and-run
        chains, in continuous and mixed spaces alike (the options above cannot reach the
        sampler in a mixed space; see ``_ax.short_polytope_chains``): quasi-random points
        of the box that satisfy the constraints where the feasible region is at least
        1/64 of the box (``_ax._polytope_by_rejection``), else a short chain. With the
        filter, the README example's constrained proposal took 1.45 times an
        unconstrained one, against 2.81 with the chain, measured side by side
        (benchmarks/RESULTS.md, "Constrained proposals without the chain"). Before it,
        the short chain alone: on the 9-parameter mixed space of
        benchmarks/proposal_time.py (one linear, one divisibility constraint) BoTorch's
        chain (10,000 burn-in steps, then 32 per raw sample: ~18,000 Python-level steps)
        took 0.96 s of a 3.1 s proposal; capped, 0.05 s. Median GP proposal, 2 seeds x
        30 trials, interleaved on a busy 2-core machine: 3.35 s -> 2.46 s, against
        1.44 s without the constraints. The rest of the gap is SLSQP, which BoTorch
        uses instead of batched L-BFGS-B under linear constraints."""
        if not self.translation.constraints:
            return contextlib.nullcontext()
        return _ax.short_polytope_chains(**POLYTOPE_OPTIONS)

    @contextlib.contextmanager
    def _fits(self, observer: bool = False) -> Iterator[None]:
        """How every GP fit inside runs, for proposals and predictions alike: warm-started
        from the last fit, and by the criterion ``settings.loo_fit_below`` chooses.
        ``observer``: a fit that answers a question from outside the search (the
        recommendation, a report) starts the same way but does not store its
        hyperparameters for the next fit, so asking does not change the trials that
        follow. (A fit that converges draws nothing from torch's random state, checked
        with one-hot and categorical kernels; torch's ``fork_rng`` would guard the rare
        retry from sampled priors, but would rewind a proposal computed ahead in another
        thread, so it is not used.)"""
        warm = self._warm.peek() if observer and self._warm is not None else self._warm
        with _ax.warm_started_fits(warm), _ax.loo_fits_below(self.settings.loo_fit_below):
            yield

    @staticmethod
    def _generation_strategy(
        method: str, n_initial: int | None, seed: int | None,
        optimizer_kwargs: dict[str, Any] | None = None, parallel: bool = False,
        settings: ModelSettings | None = None,
    ) -> Any:
        from ax.api.utils.generation_strategy_dispatch import choose_generation_strategy
        from ax.api.utils.structs import GenerationStrategyDispatchStruct

        settings = settings or SETTINGS
        struct = GenerationStrategyDispatchStruct(
            method="random_search" if method == "random" else "fast",
            initialization_budget=n_initial,
            initialization_random_seed=seed,
            # With workers in parallel, an idle worker gets another Sobol point rather than
            # nothing while the initial trials are still running (Ax would refuse to
            # generate until data arrives).
            allow_exceeding_initialization_budget=parallel,
        )
        gs = choose_generation_strategy(struct=struct)
        if method != "random" and optimizer_kwargs is not None:
            _ax.set_model_gen_options(gs, "MBM", {"optimizer_kwargs": optimizer_kwargs})
        if method != "random":
            _ax.set_generator_kwargs(gs, "MBM", settings.model_kwargs())
        return gs

    # ----------------------------------------------------------------- resuming
    def replay(self, records: Iterable[TrialRecord]) -> dict[int, int]:
        """Rebuild Ax's state from stored trial records, before the first proposal.

        Each trial is attached with the same canonical encoding it ran under and told its
        outcome as the loop told it (completed; failed, penalised or not; invalid;
        interrupted as abandoned; running as pending). Attached trials count towards the
        initialisation budget, and the Sobol sequence resumes after the points already
        drawn from it, so a resumed run neither repeats quasi-random trials nor re-proposes
        a Sobol point it has evaluated. Returns the Ax index of each trial number.
        """
        records = list(records)
        if records and self._seed is not None:
            # the random draws (fallbacks, the model's local steps) go on from where the
            # stored trials leave them: from the seed alone, each ask of an ask/tell
            # experiment, which replays, drew the same fallback configuration again
            self._rng = np.random.default_rng([int(self._seed), len(records)])
        drawn = sum(r.generator == "sobol" for r in records)
        self._model_proposals = sum(r.generator in MODEL_GENERATORS for r in records)
        if drawn:
            _ax.resume_sobol_at(self.client, drawn)
        index: dict[int, int] = {}
        baseline_named = False
        for r in records:
            ax_params = self.translation.encode(r.config)
            name = "baseline" if r.is_baseline and not baseline_named else None
            baseline_named = baseline_named or name is not None
            with _quiet():
                ax_index = self.client.attach_trial(parameters=ax_params, arm_name=name)
            index[r.trial] = ax_index
            if r.status == "completed" and r.mean is not None:
                self.complete(ax_index, r.mean, r.sem)
            elif r.status == "failed":
                self.fail(ax_index, f"{r.reason}: {r.detail}",
                          penalise=r.reason in PENALISED_REASONS)
            elif r.status == "invalid":
                self.reject(ax_index)
            elif r.status == "interrupted":
                with _quiet():
                    self.client.mark_trial_abandoned(ax_index)
            # running (another live worker's): left running, so Ax treats it as pending
        if records:
            self._advance_strategy()
        return index

    def _advance_strategy(self) -> None:
        """Move the generation strategy past the nodes the attached trials complete. Ax
        checks one transition per proposal after skipping the centre point, so without
        this a resumed run past its initialisation would draw one more Sobol point."""
        try:
            _ax.advance_strategy(self.client)
        except Exception as err:  # the first proposal transitions anyway; logged
            logger.debug("could not advance the generation strategy: %s", err)

    # ----------------------------------------------------------------- asking
    def propose(self) -> Proposal:
        """Ask Ax for one configuration (falling back to a random one if Ax fails)."""
        t0 = time.perf_counter()
        fallback: str | None = None
        ax_fallback: str | None = None
        try:
            self._check_not_exhausted()
            self._warp_when_due()
            self._noise_model_when_due()
            with _quiet(), _torch_threads(PROPOSAL_THREADS), _time_cap(
                    self.proposal_timeout), self._short_chains(), self._fits(), \
                    _ax_fallbacks() as ax_gave_up:
                replica = self._replica()
                branch = None if replica is not None else self._branch_to_explore()
                inside = None if branch is None else self._inside_branch(*branch)
                if replica is not None:
                    with _quiet():
                        ax_index = self.client.attach_trial(parameters=replica)
                    ax_params, generator = replica, "replicate"
                elif inside is not None:
                    ax_params = self.translation.encode(inside)
                    with _quiet():
                        ax_index = self.client.attach_trial(parameters=ax_params)
                    generator = "gp"
                else:
                    trials = self.client.get_next_trials(max_trials=1)
                    (ax_index, ax_params), = trials.items()
                    generator = self._generator_name(ax_index)
            self._model_proposals += generator in MODEL_GENERATORS
            if ax_gave_up:  # Ax's model failed and it drew a quasi-random point instead
                generator, ax_fallback = "ax_fallback", ax_gave_up[-1][:500]
                logger.info("Ax fell back to quasi-random: %s", ax_fallback)
            ax_index, ax_params = self._canonical(ax_index, ax_params)
            if generator == "gp" and self.settings.repeat_radius:
                ax_index, ax_params = self._unrepeated(ax_index, ax_params)
        except (ProposalTimeout, SpaceExhausted) as err:
            fallback = str(err)
        except Exception as err:  # a model failure must not end the run; it is recorded
            fallback = f"{type(err).__name__}: {err}"
        if fallback is not None:
            logger.warning("proposal fell back to a random configuration: %s", fallback)
            config = self.space.sample(self._rng, is_valid=self._is_valid)
            ax_params = self.translation.encode(config)
            with _quiet():
                ax_index = self.client.attach_trial(parameters=ax_params, arm_name=None)
            generator = "fallback"
        seconds = time.perf_counter() - t0
        return Proposal(ax_index, self.translation.decode(ax_params), seconds, generator,
                        fallback or ax_fallback)

    def _check_not_exhausted(self) -> None:
        """Raise ``SpaceExhausted`` when every configuration of a fully discrete space has
        been tried. Ax would find out itself, but its quasi-random phase only after
        rejection sampling until the proposal's time cap (30 s a trial, with a warning
        about restrictive constraints where there are none)."""
        if self._size is None:
            return
        trials = _ax.experiment(self.client).trials
        for i in range(self._tried_upto, len(trials)):  # only the trials new since the last
            if trials[i].arm is not None:
                self._tried.add(repr(sorted(self.translation.decode(
                    trials[i].arm.parameters).items())))
        self._tried_upto = len(trials)
        if len(self._tried) >= self._size:
            raise SpaceExhausted(f"all {self._size} configurations of the space have been "
                                 "tried; evaluating one again")

    def _inside_branch(self, parent: str, label: Any,
                       near: _Nearness | None = None) -> dict[str, Any] | None:
        """The best of ``BRANCH_CANDIDATES`` configurations inside the branch
        ``parent == label`` (steps from the branch's best measured configuration, or random
        draws while it has none) by expected improvement over that best, under the GP
        fitted on all data (Ax cannot be asked: its fixed parameters pin a
        hierarchical space's children too). ``None`` when no model can be fit."""
        param = self.space.params[parent]
        ax_param = next(p for p in self.translation.parameters if p.name == parent)
        value = list(param.values)[list(ax_param.values).index(label)]
        experiment = _ax.experiment(self.client)
        sign = 1.0 if self.minimize else -1.0
        inside = {i: sign * m for i, m in self._observed.items()
                  if experiment.trials[i].arm.parameters.get(parent) == label}
        candidates: list[dict[str, Any]] = []
        if inside:  # around the branch's best so far (random ones went to unexplored corners)
            centre = self.translation.decode(
                experiment.trials[min(inside, key=inside.__getitem__)].arm.parameters)
            for _ in range(BRANCH_CANDIDATES):
                step = _perturbed(self.translation, centre, self._rng, BRANCH_STEP, keep=parent)
                if step is not None and step.get(parent) == value and (
                        self._is_valid is None or self._is_valid(step)) and (
                        near is None or not near.repeats(step)):
                    candidates.append(step)
        for _ in range(0 if candidates else 20 * BRANCH_CANDIDATES):
            config = self.space.sample(self._rng, is_valid=self._is_valid)
            if config.get(parent) == value and (near is None or not near.repeats(config)):
                candidates.append(config)
                if len(candidates) >= BRANCH_CANDIDATES:
                    break
        if candidates and self.settings.branch_model and len(inside) >= BRANCH_MODEL_MIN:
            measured = [self.translation.decode(experiment.trials[i].arm.parameters)
                        for i in inside]
            scored = _branch_scores(self.space, parent, measured, list(inside.values()),
                                    candidates)
            if scored is not None:
                return _best_by_ei(candidates, *scored, 1.0)
        predictions = self.predict_configs(candidates, observer=False) if candidates else None
        if not predictions:
            return None
        best = min(inside.values()) if inside else min(
            sign * m for m in self._observed.values())
        return _best_by_ei(candidates, predictions, best, sign)

    def _unrepeated(self, ax_index: int, ax_params: dict) -> tuple[int, dict]:
        """Ax's proposal, or, when it repeats a configuration already tried (see
        ``ModelSettings.repeat_radius``), the best by expected improvement over the best
        predicted mean of candidates that repeat none: steps of ``REPEAT_STEPS`` from the
        proposal and random draws (or, where ``ModelSettings.branch_on_repeat`` says so,
        a visit inside another branch). Ax's trial is then replaced by an attached one.
        The proposal stands when no candidate qualifies (a small discrete space,
        exhausted) or no model can be fit."""
        experiment = _ax.experiment(self.client)
        tried = [self.translation.decode(t.arm.parameters)
                 for i, t in experiment.trials.items()
                 if i != ax_index and (t.status.is_completed or t.status.is_running)]
        near = _Nearness(self.translation, tried, float(self.settings.repeat_radius or 0.0))
        config = self.translation.decode(ax_params)
        if not tried or not near.repeats(config):
            return ax_index, ax_params
        self._repeats += 1
        every = self.settings.branch_on_repeat
        branch = self._other_branch() if every and self._repeats % every == 0 else None
        inside = None if branch is None else self._inside_branch(*branch, near=near)
        if inside is not None:
            logger.info("the model's proposal repeats a tried configuration; proposing %s "
                        "inside the branch %s=%r instead", inside, *branch)
            return self._replace(ax_index, self.translation.encode(inside),
                                 "replaced: repeats a tried configuration")
        per_step = REPEAT_CANDIDATES // (len(REPEAT_STEPS) + 1)
        steps = [_perturbed(self.translation, config, self._rng, step, keep="")
                 for step in REPEAT_STEPS for _ in range(per_step)]
        candidates = [c for c in steps if c is not None]
        candidates += [self.space.sample(self._rng, is_valid=self._is_valid)
                       for _ in range(per_step)]
        candidates = [c for c in candidates
                      if (self._is_valid is None or self._is_valid(c)) and not near.repeats(c)]
        observed = list(self._observed)
        predictions = self.predict_configs(candidates, observer=False) if candidates else None
        at_observed = self.predict(observed, observer=False) if observed else None
        if not predictions or not at_observed:
            return ax_index, ax_params
        sign = 1.0 if self.minimize else -1.0
        best = min(sign * p.mean for p in at_observed.values())
        chosen = _best_by_ei(candidates, predictions, best, sign)
        logger.info("the model's proposal repeats a tried configuration; proposing %s instead",
                    chosen)
        return self._replace(ax_index, self.translation.encode(chosen),
                             "replaced: repeats a tried configuration")

    def _warp_when_due(self) -> None:
        """Switch the model to warped inputs once ``ModelSettings.warp_from`` trials have
        data (for proposals and predictions alike)."""
        due = self.settings.warp_from
        if (self.method == "random" or due is None or self.settings.input_warping
                or len(self._observed) < due):
            return
        self._switch_model(input_warping=True)
        logger.info("%d trials have data: the model warps its inputs from now on",
                    len(self._observed))

    def _noise_model_when_due(self) -> None:
        """Switch the model to ``ModelSettings.noise_model`` once ``noise_model_from``
        trials have data (for proposals and predictions alike)."""
        due = self.settings.noise_model_from
        if self.method == "random" or not due or len(self._observed) < due:
            return
        self._switch_model(noise_model_from=None)
        logger.info("%d trials have data: the model fits %s noise from now on",
                    len(self._observed), self.settings.noise_model)

    def _switch_model(self, **changes: Any) -> None:
        """These ``ModelSettings`` changes from the next fit on, for Ax's proposals and
        this proposer's predictions alike."""
        self.settings = dataclasses.replace(self.settings, **changes)
        _ax.set_generator_kwargs(_ax.strategy(self.client), "MBM",
                                 self.settings.model_kwargs())
        self._adapter_cache = self._observer_cache = None

    def _replica(self) -> dict[str, Any] | None:
        """The Ax parameters of a measured configuration to evaluate again, when this is
        a proposal ``ModelSettings.replicate_every`` gives to replication and the model
        has two or more contenders for the best (see there); ``None`` otherwise."""
        every = self.settings.replicate_every
        if (not every or self._model_proposals % every != every - 1
                or len(self._observed) < REPLICATE_FROM):
            return None
        experiment = _ax.experiment(self.client)
        unique: dict[tuple, int] = {}
        for i, value in self._observed.items():
            params = experiment.trials[i].arm.parameters
            first = unique.setdefault(tuple(sorted((k, repr(v)) for k, v in params.items())), i)
            if first != i and math.isclose(value, self._observed[first], rel_tol=1e-9,
                                           abs_tol=1e-12):
                return None  # measured twice, the same value: the objective has no noise
        predictions = self.predict(list(unique.values()), observer=False)
        if not predictions:
            return None
        sign = 1.0 if self.minimize else -1.0
        best = min(predictions.values(), key=lambda p: sign * p.mean)
        contenders = [i for i, p in predictions.items()
                      if sign * (p.mean - best.mean)
                      <= REPLICATE_Z * math.hypot(p.sem, best.sem)]
        if len(contenders) < 2:
            return None
        chosen = min(contenders, key=lambda i: sign * predictions[i].mean - predictions[i].sem)
        logger.info("the model cannot tell %d configurations apart; measuring trial %d's "
                    "again", len(contenders), chosen)
        return dict(experiment.trials[chosen].arm.parameters)

    def _branch_to_explore(self) -> tuple[str, Any] | None:
        """``(parent, label)`` when this proposal is one ``branch_every`` sends into a
        branch the incumbent is not in; ``None`` otherwise (the Sobol phase included)."""
        every = self.settings.branch_every
        if not every or self._model_proposals % every != every - 1:
            return None
        return self._other_branch()

    def _other_branch(self) -> tuple[str, Any] | None:
        """The least-visited ``(parent, label)`` branch the incumbent is not in, counted
        as visited; ``None`` without branches or measured trials."""
        if not self._branches or not self._observed:
            return None
        pick = min if self.minimize else max
        incumbent = pick(self._observed, key=self._observed.__getitem__)
        at = self.client._experiment.trials[incumbent].arm.parameters
        others = [b for b in self._branches if at.get(b[0]) != b[1]]
        if not others:
            return None
        branch = min(others, key=lambda b: self._branch_visits.get(b, 0))
        self._branch_visits[branch] = self._branch_visits.get(branch, 0) + 1
        return branch

    def _canonical(self, ax_index: int, ax_params: Mapping[str, Any]) -> tuple[int, dict]:
        """Make Ax's record of a trial match what will be evaluated.

        Ax's arm can differ from the config the objective receives: the divisibility
        position before snapping, integers before rounding, and (hidden in the trial's
        metadata) the model's values for inactive conditional parameters, which Ax feeds
        back into the model. The model should learn from exactly what ran, so such a trial
        is replaced by an attached one holding the canonical encoding (inactive parameters
        at fixed mid-domain values, as Ax's own dummies).
        """
        canonical = self.translation.encode(self.translation.decode(ax_params))
        if not self._has_conditionals and _same(canonical, ax_params):
            return ax_index, dict(ax_params)
        return self._replace(ax_index, canonical,
                             "replaced by a trial with the canonical encoding")

    def _replace(self, ax_index: int, ax_params: dict, reason: str) -> tuple[int, dict]:
        """Retire Ax's trial ``ax_index`` and attach ``ax_params`` in its place."""
        with _quiet():
            self._retire(ax_index, reason)
            return self.client.attach_trial(parameters=ax_params), ax_params

    def _retire(self, ax_index: int, reason: str) -> None:
        """Take a trial that will never get data out of Ax's modelling.

        Marked FAILED, not ABANDONED: Ax treats the arms of abandoned trials as pending
        for ever, and the acquisition function then penalises their neighbourhood as if
        they were still running. Under conditionals or divisibility every model proposal
        is replaced, so the model's own best points piled up as phantom pending points
        and kept it from refining a basin. (Both statuses count alike towards Ax's
        initialisation budget.)
        """
        if RETIRE_AS == "abandoned":  # the old behaviour, kept for benchmarks' ablation
            self.client.mark_trial_abandoned(ax_index)
        else:
            self.client.mark_trial_failed(ax_index, failed_reason=reason)

    def attach(self, config: Mapping[str, Any], generator: str = "baseline") -> Proposal:
        """Register a user-given configuration (the baseline) as a trial."""
        ax_params = self.translation.encode(config)
        with _quiet():
            ax_index = self.client.attach_trial(
                parameters=ax_params, arm_name="baseline" if generator == "baseline" else None
            )
        return Proposal(ax_index, self.translation.decode(ax_params), 0.0, generator)

    def _generator_name(self, ax_index: int) -> str:
        name = _ax.generator_node(self.client, ax_index)
        return {"MBM": "gp", "Sobol": "sobol", "CenterOfSearchSpace": "center"}.get(
            str(name), str(name or "ax"))

    # ----------------------------------------------------------------- telling
    def complete(self, ax_index: int, mean: float, sem: float | None) -> None:
        if self._sem_known is None:
            self._sem_known = sem is not None
        elif self._sem_known and sem is None:  # as noisy as the typical trial told so far
            sem = float(np.median(self._sems))
            self._warn_once("a result without a SEM among results with one: its SEM is taken "
                            "as the median of theirs, now and for any later one")
        elif not self._sem_known and sem is not None:  # the noise is inferred for all
            self._warn_once("a result with a SEM among results without one: SEMs are not used "
                            "from now on (the model infers the noise from all the results)")
            sem = None
        self._means.append(mean)
        self._observed[ax_index] = mean
        if sem is not None:
            self._sems.append(sem)
        with _quiet():
            self.client.complete_trial(ax_index, raw_data={METRIC: (mean, sem)})

    def _warn_once(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            logger.warning(message)

    def fail(self, ax_index: int, reason: str, penalise: bool) -> None:
        """Record a failed trial. With ``penalise`` the model is told the worst value seen
        so far (so it learns to stay away, as for divergence); otherwise Ax ignores it."""
        if penalise and self._means:
            self._impute(ax_index)
        else:
            with _quiet():
                self.client.mark_trial_failed(ax_index, failed_reason=reason)

    def abandon(self, ax_index: int) -> None:
        """A proposal that will never run (prepared ahead, then the budget ran out)."""
        with _quiet():
            self.client.mark_trial_abandoned(ax_index)

    def reject(self, ax_index: int) -> None:
        """An invalid proposal: the model is told the worst value seen so far; before any
        value exists (the Sobol phase) the trial is retired so Sobol moves on."""
        if self._means:
            self._impute(ax_index)
        else:
            with _quiet():
                self._retire(ax_index, "invalid configuration")

    def _impute(self, ax_index: int) -> None:
        worst = max(self._means) if self.minimize else min(self._means)
        sem = float(np.median(self._sems)) if self._sems else None
        with _quiet():
            self.client.complete_trial(ax_index, raw_data={METRIC: (worst, sem)})

    # ----------------------------------------------------------------- believing
    def predict(self, ax_indices: list[int], observer: bool = True
                ) -> dict[int, Prediction] | None:
        """The model's mean and SEM at the given trials' configurations, refit on all data.

        Returns ``None`` when no model can be fit (too few completed trials, or a fit
        failure, which is logged). ``observer`` (the default, for callers outside the
        search): the fit leaves the search as it was (see ``_fits``); the proposer's own
        uses pass False.
        """
        if not ax_indices:
            return None
        experiment = _ax.experiment(self.client)
        params = [dict(experiment.trials[i].arm.parameters) for i in ax_indices]
        predictions = self._predict_parameters(params, observer)
        return None if predictions is None else dict(zip(ax_indices, predictions, strict=True))

    def clipped(self, ax_indices: list[int]) -> set[int]:
        """Those of the given trials whose measured value Ax's winsorization clipped before
        the fit behind ``predict``: a value far worse than most (Ax's ``Winsorize``
        transform clips the bad tail so the GP spends itself on the good region). The
        model's prediction at such a trial is about the clip value, not the trial's own."""
        adapter = self._fitted_adapter(observer=True)
        winsorize = getattr(adapter, "transforms", {}).get("Winsorize") if adapter else None
        cutoffs = getattr(winsorize, "cutoffs", {}).get(METRIC)
        if cutoffs is None:
            return set()
        lower, upper = cutoffs
        df = _ax.experiment(self.client).lookup_data().df
        measured = dict(zip(df["trial_index"], df["mean"], strict=True))
        return {i for i in ax_indices if i in measured
                and not lower <= float(measured[i]) <= upper}

    def predict_configs(self, configs: list[Mapping[str, Any]], observer: bool = True
                        ) -> list[Prediction] | None:
        """The model's mean and SEM at configurations given in the user's terms (for slice
        and contour plots); ``None`` when no model can be fit. ``observer`` as for
        ``predict``."""
        if not configs:
            return []
        return self._predict_parameters([self.translation.encode(c) for c in configs],
                                        observer)

    def _predict_parameters(self, params: list[dict[str, Any]],
                            observer: bool) -> list[Prediction] | None:
        from ax.core.observation import ObservationFeatures

        adapter = self._fitted_adapter(observer)
        if adapter is None:
            return None
        try:
            with _quiet(), _torch_threads(PROPOSAL_THREADS):
                means, covariances = adapter.predict(
                    [ObservationFeatures(parameters=p) for p in params])
        except Exception as err:  # recommendation falls back to observed values, logged
            logger.warning("the model could not predict: %s", err)
            return None
        return [Prediction(float(means[METRIC][k]),
                           math.sqrt(max(float(covariances[METRIC][METRIC][k]), 0.0)))
                for k in range(len(params))]

    def _fitted_adapter(self, observer: bool) -> Any:
        """A GP fitted on all the data, refit only when the data changed. An observer
        (see ``_fits``) may read the search's fit of the same data, but the search never
        reads an observer's: it keeps its own."""
        from ax.adapter.registry import Generators

        experiment = _ax.experiment(self.client)
        data = experiment.lookup_data()
        if len(data.df) < 2:
            return None
        key = (len(experiment.trials), len(data.df), float(data.df["mean"].sum()))
        slots = ("_adapter_cache", "_observer_cache") if observer else ("_adapter_cache",)
        for slot in slots:
            cached = getattr(self, slot, None)
            if cached is not None and cached[0] == key:
                return cached[1]
        try:
            with _quiet(), _torch_threads(PROPOSAL_THREADS), self._fits(observer):
                adapter = Generators.BOTORCH_MODULAR(
                    experiment=experiment, data=data, **self.settings.model_kwargs())
        except Exception as err:  # recommendation falls back to observed values, logged
            logger.warning("could not fit the model for the recommendation: %s", err)
            return None
        setattr(self, slots[-1], (key, adapter))
        return adapter


class SpaceExhausted(Exception):
    """Every configuration of a fully discrete space has been tried."""


#: Fully discrete spaces up to this many configurations are checked for exhaustion.
MAX_COUNTED_SIZE = 10_000


def _discrete_size(space: SearchSpace) -> int | None:
    """How many configurations a fully discrete ``space`` has (``SearchSpace.size``:
    constraints applied, inactive parameters counted once), or ``None`` when it has a
    continuous parameter or more than ``MAX_COUNTED_SIZE``. ``is_valid`` can only make the
    true number smaller."""
    try:
        size = space.size()
    except SearchSpaceError:  # too many combinations to count
        return None
    return int(size) if size <= MAX_COUNTED_SIZE else None


def _perturbed(translation: Translation, config: Mapping[str, Any],
               rng: np.random.Generator, step: float, keep: str) -> dict[str, Any] | None:
    """``config`` with each numeric parameter moved by a normal step of sd ``step`` on its
    unit scale as the model sees it (log where log, log(1 - x) for a range up to near 1),
    and each choice but ``keep`` redrawn with probability ``step``; ``None`` if the result
    breaks a constraint."""
    from bo_hpo.space import Choice, Float, Int

    space = translation.space
    out = dict(config)
    for name, value in config.items():
        p = space.params.get(name) if name != keep else None
        if isinstance(p, Float) and name in translation.tail:
            moved = translation.position(p, value) + rng.normal(0.0, step)
            out[name] = translation.from_position(p, min(max(moved, 0.0), 1.0))
        elif isinstance(p, (Float, Int)):
            lo, hi, v = (math.log(p.low), math.log(p.high), math.log(value)) if p.log else (
                p.low, p.high, value)
            moved = min(max(v + rng.normal(0.0, step) * (hi - lo), lo), hi)
            moved = math.exp(moved) if p.log else moved
            out[name] = min(max(round(moved), p.low), p.high) if isinstance(p, Int) else moved
        elif isinstance(p, Choice) and len(p.values) > 1 and rng.random() < step:
            out[name] = p.values[int(rng.integers(len(p.values)))]
    try:
        return space.check_config(out)
    except Exception:  # a constraint, or a redrawn parent whose children are now missing
        return None


def _branch_scores(space: SearchSpace, parent: str, measured: list[Mapping[str, Any]],
                   values: list[float], candidates: list[Mapping[str, Any]],
                   ) -> tuple[list[Prediction], float] | None:
    """Predictions at ``candidates`` from a BoTorch GP fitted on ``measured`` (one branch's
    trials, ``values`` lower-is-better) alone, in normal scores of the values' ranks, and
    the best predicted score among ``measured``; ``None`` if the fit fails. Numeric
    parameters enter on their unit scale, choices (all but ``parent``) one-hot, and a
    parameter a configuration lacks (a nested branch) at 0.5 / all zeros."""
    import torch
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from gpytorch.mlls import ExactMarginalLogLikelihood
    from scipy.stats import norm, rankdata

    from bo_hpo.space import Choice, Float, Int

    names = sorted({n for c in measured for n in c if n != parent})
    columns: list[tuple[str, Any]] = []
    for name in names:
        p = space.params[name]
        if isinstance(p, (Float, Int)):
            columns.append((name, None))
        elif isinstance(p, Choice) and len(p.values) > 1:
            columns.extend((name, v) for v in p.values)

    def row(config: Mapping[str, Any]) -> list[float]:
        out = []
        for name, value in columns:
            if value is None:
                out.append(to_unit(space.params[name], float(config[name]))
                           if name in config else 0.5)
            else:
                out.append(float(name in config and config[name] == value))
        return out

    n = len(values)
    scores = norm.ppf((rankdata(values) - 0.5) / n)
    X = torch.tensor([row(c) for c in measured], dtype=torch.double)
    Y = torch.tensor(scores, dtype=torch.double).unsqueeze(-1)
    try:
        with _quiet():
            gp = SingleTaskGP(X, Y)
            fit_gpytorch_mll(ExactMarginalLogLikelihood(gp.likelihood, gp))
            with torch.no_grad():
                at = gp.posterior(torch.tensor([row(c) for c in candidates],
                                               dtype=torch.double))
                best = float(gp.posterior(X).mean.min())
    except Exception as err:  # the visit falls back to the global model, logged
        logger.debug("could not fit the branch's own model: %r", err)
        return None
    mean = at.mean.squeeze(-1).tolist()
    sd = at.variance.clamp_min(0.0).sqrt().squeeze(-1).tolist()
    return [Prediction(m, s) for m, s in zip(mean, sd, strict=True)], best


def _best_by_ei(candidates: list[dict[str, Any]], predictions: list[Prediction],
                best: float, sign: float) -> dict[str, Any]:
    """The candidate whose prediction has the largest expected improvement below ``best``
    (values times ``sign``, so lower is better)."""
    from scipy.stats import norm

    mu = np.array([sign * p.mean for p in predictions])
    sd = np.maximum(np.array([p.sem for p in predictions]), 1e-12)
    z = (best - mu) / sd
    ei = (best - mu) * norm.cdf(z) + sd * norm.pdf(z)
    return candidates[int(np.argmax(ei))]


class _Nearness:
    """Whether a configuration repeats one of ``tried``: the same active parameters, every
    choice (and fixed value) equal, and every number within ``radius`` of its range on the
    scale the model sees it (``Translation.position``)."""

    def __init__(self, translation: Translation, tried: Iterable[Mapping[str, Any]],
                 radius: float) -> None:
        from bo_hpo.space import Float, Int

        self._position = translation.position
        self._numeric = {name: p for name, p in translation.space.params.items()
                         if isinstance(p, (Float, Int))}
        self._radius = radius
        groups: dict[tuple, list[np.ndarray]] = {}
        for config in tried:
            key, units = self._split(config)
            groups.setdefault(key, []).append(units)
        self._tried = {key: np.array(rows) for key, rows in groups.items()}

    def _split(self, config: Mapping[str, Any]) -> tuple[tuple, np.ndarray]:
        key = tuple(sorted((name, repr(value)) for name, value in config.items()
                           if name not in self._numeric))
        names = tuple(sorted(name for name in config if name in self._numeric))
        units = [self._position(self._numeric[name], float(config[name])) for name in names]
        return (key, names), np.array(units)

    def repeats(self, config: Mapping[str, Any]) -> bool:
        key, units = self._split(config)
        rows = self._tried.get(key)
        if rows is None:
            return False
        if units.size == 0:
            return True
        return bool((np.abs(rows - units).max(axis=1) <= self._radius).any())


def _same(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    if set(a) != set(b):
        return False
    for k, v in a.items():
        w = b[k]
        if isinstance(v, float) or isinstance(w, float):
            if not math.isclose(float(v), float(w), rel_tol=1e-9, abs_tol=1e-12):
                return False
        elif v != w:
            return False
    return True


class _FallbackFilter(logging.Filter):
    """Takes Ax's "switching to fallback model" warnings out of the console and keeps them,
    so that the trial is labelled instead."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "switching to fallback" in message:
            self.messages.append(message)
            return False
        return True


@contextlib.contextmanager
def _ax_fallbacks() -> Iterator[list[str]]:
    """The messages of Ax's model fallbacks during the block (Ax logs them at WARNING from
    its generation node, then proposes quasi-random points)."""
    catcher = _FallbackFilter()
    loggers = [logging.getLogger("ax"),
               logging.getLogger("ax.generation_strategy.generation_node")]
    targets = [h for lg in loggers for h in lg.handlers] + loggers
    for target in targets:
        target.addFilter(catcher)
    try:
        yield catcher.messages
    finally:
        for target in targets:
            target.removeFilter(catcher)


@contextlib.contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads, then restore the previous count.

    GP fits on tens of points gain nothing from threads, and on a busy 2-core machine
    two threads contending made one proposal take 30 s instead of 1 s (measured here).
    """
    import torch

    previous = torch.get_num_threads()
    if previous != n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if previous != n:
            torch.set_num_threads(previous)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Keep Ax's per-trial INFO lines and BoTorch's optimisation warnings out of the
    user's console for the duration of one call; they are logged at DEBUG instead."""
    # Ax prints through a handler on its "ax" logger; raising that handler's level (as
    # Ax's own docs suggest) hides the INFO lines without touching anyone else's logging.
    handlers = logging.getLogger("ax").handlers
    levels = [h.level for h in handlers]
    for h in handlers:
        h.setLevel(max(h.level, logging.WARNING))
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
        for w in caught:
            logger.debug("%s: %s", w.category.__name__, w.message)
    finally:
        for h, level in zip(handlers, levels, strict=True):
            h.setLevel(level)
