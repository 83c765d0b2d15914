"""The GP phase's settings reach Ax: the model that proposes is the model that predicts."""

from __future__ import annotations

import math
import types

import pytest

from bo_hpo import SearchSpace, propose
from bo_hpo.translate import translate
from bo_hpo.trial import Prediction

SPACE = {
    "opt": ("choice", ["a", "b", "c"]),
    "lr": ("log_uniform", 1e-5, 1.0),
    "x": ("uniform", 0.0, 1.0),
}


def _loss(c):
    return (math.log10(c["lr"]) + 3) ** 2 + (c["x"] - 0.3) ** 2 + {"a": 0, "b": 1, "c": 2}[c["opt"]]


def _measured(monkeypatch, settings, n, space=SPACE, loss=_loss):
    """A proposer under ``settings`` (6 Sobol points first) after ``n`` proposals, each
    measured; and the last proposal."""
    monkeypatch.setattr(propose, "SETTINGS", settings)
    proposer = propose.AxProposer(SearchSpace(space), seed=0, n_initial=6)
    for _ in range(n):
        p = proposer.propose()
        proposer.complete(p.ax_index, loss(p.config), None)
    return proposer, p


def _fitted_model(settings: propose.ModelSettings, monkeypatch):
    proposer, p = _measured(monkeypatch, settings, 7)  # 6 Sobol points, then one GP
    assert p.generator == "gp"
    adapter = proposer._fitted_adapter(observer=True)
    return adapter.generator.surrogate.model


def test_defaults_one_hot_the_choice_without_warping(monkeypatch):
    model = _fitted_model(propose.ModelSettings(), monkeypatch)
    assert type(model).__name__ == "SingleTaskGP"
    assert model.train_inputs[0].shape[-1] == 5  # opt one-hot (3) + lr + x
    assert "Warp" not in type(getattr(model, "input_transform", None)).__name__


def test_categorical_kernel_keeps_the_choice_one_dimension(monkeypatch):
    model = _fitted_model(propose.ModelSettings(categorical_kernel=True), monkeypatch)
    assert type(model).__name__ == "MixedSingleTaskGP"
    assert model.train_inputs[0].shape[-1] == 3


def test_input_warping_adds_a_learned_warp(monkeypatch):
    model = _fitted_model(propose.ModelSettings(input_warping=True), monkeypatch)
    assert type(model.input_transform).__name__ == "Warp"


def test_warp_from_warps_the_inputs_once_enough_trials_have_data(monkeypatch):
    monkeypatch.setattr(propose, "SETTINGS", propose.ModelSettings(warp_from=9))
    proposer = propose.AxProposer(SearchSpace(SPACE), seed=0, n_initial=6)

    def transforms():
        proposing = proposer.client._generation_strategy._curr.generator_specs[0]
        predicting = proposer._fitted_adapter(observer=True)
        return [type(getattr(adapter.generator.surrogate.model, "input_transform", None))
                .__name__ for adapter in (proposing._fitted_adapter, predicting)]

    for n in range(10):
        p = proposer.propose()
        if n == 7:  # 7 trials with data when it was proposed: not yet
            assert p.generator == "gp" and transforms() == ["Normalize", "Normalize"]
        proposer.complete(p.ax_index, _loss(p.config), None)
    # proposed with 9 trials' data: warped, and the recommendation's model with it
    assert (p.generator, p.fallback) == ("gp", None)
    assert transforms() == ["Warp", "Warp"]


@pytest.mark.parametrize("below, loo", [(None, False), (7, True), (6, False)])
def test_loo_fit_below_chooses_the_fitting_criterion(monkeypatch, below, loo):
    from gpytorch.mlls import LeaveOneOutPseudoLikelihood

    calls = []
    original = LeaveOneOutPseudoLikelihood.forward

    def counted(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(LeaveOneOutPseudoLikelihood, "forward", counted)
    # the fits see 6 points (the proposal) and 7 (the prediction)
    _fitted_model(propose.ModelSettings(loo_fit_below=below), monkeypatch)
    assert bool(calls) is loo


@pytest.mark.parametrize("cap", [None, 3])
def test_optimizer_effort_reaches_the_generation_strategy(cap):
    settings = propose.ModelSettings(num_restarts=7, raw_samples=77, maxiter_alternating=cap,
                                     maxiter_init=None)
    gs = propose.AxProposer._generation_strategy("bo", None, 0, settings.optimizer_kwargs(),
                                                 settings=settings)
    (spec,) = [s for n in gs._nodes if n.name == "MBM" for s in n.generator_specs]
    kwargs = spec.generator_gen_kwargs["model_gen_options"]["optimizer_kwargs"]
    assert (kwargs["num_restarts"], kwargs["raw_samples"]) == (7, 77)
    # no empty ``options``: Ax's discrete optimiser refuses the key itself
    assert kwargs.get("options") == (None if cap is None else {"maxiter_alternating": 3})


def test_linear_constraints_cap_the_restarts_and_nothing_else():
    space = SearchSpace({"a": ("uniform", 0.0, 1.0), "b": ("uniform", 0.0, 1.0),
                         "n": ("int", 1, 4)}, constraints=["a + b <= 1.2"])
    kwargs = propose.AxProposer(space, seed=0)._optimizer_kwargs()
    assert kwargs["num_restarts"] == propose.CONSTRAINED_MAX_RESTARTS
    assert kwargs["raw_samples"] == propose.SETTINGS.raw_samples
    free = propose.AxProposer(SearchSpace(SPACE), seed=0)._optimizer_kwargs()
    assert free["num_restarts"] == propose.SETTINGS.num_restarts


def _ax_parameters(space_dict):
    from bo_hpo.translate import translate

    return translate(SearchSpace(space_dict)).parameters


@pytest.mark.parametrize("space_dict, expected", [
    # 3 of 5 unordered: categoricals dominate
    ({"o": ("choice", ["a", "b", "c"]), "p": ("choice", ["x", "y"]),
      "q": ("choice", ["u", "v", "w"]), "lr": ("log_uniform", 1e-4, 1e-1),
      "d": ("uniform", 0.0, 0.5)}, True),
    # 2 of 4: not more than half
    ({"o": ("choice", ["a", "b", "c"]), "p": ("choice", ["x", "y"]),
      "lr": ("log_uniform", 1e-4, 1e-1), "d": ("uniform", 0.0, 0.5)}, False),
    # numeric choices are ordered (as Ax infers them), so they do not count
    ({"b": ("choice", [16, 32, 64]), "w": ("choice", [1, 2, 4]),
      "o": ("choice", ["a", "b"])}, False),
])
def test_auto_categorical_kernel_only_where_unordered_choices_dominate(space_dict, expected):
    auto = propose.ModelSettings(categorical_kernel=None)
    resolved = auto.resolved(_ax_parameters(space_dict))
    assert resolved.categorical_kernel is expected
    # an explicit choice is never overridden
    for explicit in (True, False):
        settings = propose.ModelSettings(categorical_kernel=explicit)
        assert settings.resolved(_ax_parameters(space_dict)).categorical_kernel is explicit


def test_loose_warm_fits_only_in_spaces_of_at_least_loose_fit_from_parameters(monkeypatch):
    small = {f"x{i}": ("uniform", 0.0, 1.0) for i in range(3)}
    small["k"] = ("fixed", 5)  # not modelled: does not count
    large = {f"x{i}": ("uniform", 0.0, 1.0) for i in range(4)}
    settings = propose.ModelSettings(warm_fit_ftol=1e-6, loose_fit_from=4)
    assert settings.resolved(_ax_parameters(small)).warm_fit_ftol is None
    assert settings.resolved(_ax_parameters(large)).warm_fit_ftol == 1e-6
    # None: the tolerance everywhere
    off = propose.ModelSettings(warm_fit_ftol=1e-6, loose_fit_from=None)
    assert off.resolved(_ax_parameters(small)).warm_fit_ftol == 1e-6
    # and what the proposers hand their warm starts
    monkeypatch.setattr(propose, "SETTINGS", settings)
    assert propose.AxProposer(SearchSpace(small), seed=0)._warm.ftol is None
    assert propose.AxProposer(SearchSpace(large), seed=0)._warm.ftol == 1e-6


def test_the_proposer_models_with_the_resolved_kernel(monkeypatch):
    monkeypatch.setattr(propose, "SETTINGS", propose.ModelSettings(categorical_kernel=None))
    space = SearchSpace({"o": ("choice", ["a", "b", "c"]), "p": ("choice", ["x", "y"]),
                         "x": ("uniform", 0.0, 1.0)})
    proposer = propose.AxProposer(space, seed=0)
    assert proposer.settings.categorical_kernel is True
    (spec,) = [s for n in proposer.client._generation_strategy._nodes if n.name == "MBM"
               for s in n.generator_specs]
    assert "transforms" in spec.generator_kwargs  # Ax's Mixed transforms: no one-hot


# ------------------------------------------------------------------ conditional branches
BRANCHY = {
    "opt": ("choice", ["sgd", "adam", "rms"]),
    "lr": ("log_uniform", 1e-5, 1.0),
    "momentum": ("uniform", 0.0, 0.99, {"when": {"opt": ["sgd"]}}),
}


def _adam_wins(c):
    """Adam's broad plateau is the best the first trials see; SGD needs its momentum."""
    x = math.log10(c["lr"]) + 3
    if c["opt"] == "sgd":
        return 0.5 + x * x + 4 * (c["momentum"] - 0.9) ** 2
    return {"adam": 0.3, "rms": 0.6}[c["opt"]] + 0.1 * x * x


def _run(monkeypatch, every, n=16):
    # without the replacement of repeated proposals, which also leaves the incumbent's
    # branch at times: these tests isolate the branch visits
    monkeypatch.setattr(propose, "SETTINGS", propose.ModelSettings(branch_every=every,
                                                                   repeat_radius=None))
    proposer = propose.AxProposer(SearchSpace(BRANCHY), seed=1, n_initial=5)
    out = []
    for _ in range(n):
        p = proposer.propose()
        proposer.complete(p.ax_index, _adam_wins(p.config), None)
        out.append(p)
    return proposer, out


def test_every_nth_model_proposal_goes_inside_the_branch_the_incumbent_is_not_in(
        monkeypatch):
    proposer, out = _run(monkeypatch, every=3)
    assert proposer._branches == [("opt", "sgd")]  # rms has no parameters of its own
    model = [p for p in out if p.generator == "gp"]
    assert len(model) == 11 and all(p.fallback is None for p in out)
    sent = model[2::3]  # the 3rd, 6th and 9th model proposals
    assert all(p.config["opt"] == "sgd" and "momentum" in p.config for p in sent)
    # the model's pick inside the branch, not a random draw: near the branch's best lr
    assert sum(abs(math.log10(p.config["lr"]) + 3) < 1.5 for p in sent) >= 2


def test_without_branch_visits_the_model_stays_on_the_incumbent_branch(monkeypatch):
    _, out = _run(monkeypatch, every=None)
    later = [p for p in out if p.generator == "gp"][5:]
    assert sum(p.config["opt"] == "sgd" for p in later) <= 1


def test_a_space_without_conditionals_has_no_branches(monkeypatch):
    monkeypatch.setattr(propose, "SETTINGS", propose.ModelSettings(branch_every=2))
    assert propose.AxProposer(SearchSpace(SPACE), seed=0)._branches == []


def test_maxiter_init_reaches_only_the_mixed_optimiser(monkeypatch):
    settings = propose.ModelSettings(maxiter_init=5)
    monkeypatch.setattr(propose, "SETTINGS", settings)
    # 27 combinations of choices (more than 10): BoTorch's alternating optimiser, not
    # enumeration
    mixed = propose.AxProposer(SearchSpace({**SPACE, "p": ("choice", ["u", "v", "w"]),
                                            "q": ("choice", ["r", "s", "t"])}),
                               seed=0, n_initial=4)
    assert mixed._optimizer_kwargs()["options"] == {"maxiter_init": 5}
    continuous = propose.AxProposer(
        SearchSpace({"lr": ("log_uniform", 1e-5, 1.0), "x": ("uniform", 0.0, 1.0)}), seed=0)
    assert "options" not in continuous._optimizer_kwargs()

    # BoTorch's mixed optimiser takes the option: the model proposes, with no fallback
    from ax.generators.torch.botorch_modular import acquisition

    seen = []
    original = acquisition.optimize_acqf_mixed_alternating

    def recorded(*args, **kwargs):
        seen.append(kwargs.get("options"))
        return original(*args, **kwargs)

    monkeypatch.setattr(acquisition, "optimize_acqf_mixed_alternating", recorded)
    for _ in range(5):
        p = mixed.propose()
        mixed.complete(p.ax_index, _loss(p.config) + (p.config["p"] == "u"), None)
    assert (p.generator, p.fallback) == ("gp", None)
    assert seen and all(options["maxiter_init"] == 5 for options in seen)


OPTIMISER_SPACES = {
    # 8 integer values and a one-hot choice: enumerated, 8 combinations
    "few": {"lr": ("log_uniform", 1e-4, 1e-1), "layers": ("int", 1, 8),
            "opt": ("choice", ["a", "b", "c"])},
    # a two-valued choice is one 0/1 column, discrete: 16 combinations
    "binary": {"lr": ("log_uniform", 1e-4, 1e-1), "layers": ("int", 1, 8),
               "bn": ("choice", [True, False])},
    "one_hot_only": {"lr": ("log_uniform", 1e-4, 1e-1), "opt": ("choice", ["a", "b", "c"])},
    "ordered": {"lr": ("log_uniform", 1e-4, 1e-1), "bs": ("ordered", [16, 32, 64, 128, 256])},
    "wide_int": {"lr": ("log_uniform", 1e-4, 1e-1), "width": ("log_int", 16, 1024)},
    "two_ordered": {"lr": ("log_uniform", 1e-4, 1e-1), "bs": ("ordered", [16, 32, 64, 128]),
                    "layers": ("int", 1, 3)},
    # unordered choices dominate: the categorical kernel, so they count
    "categorical": {"lr": ("log_uniform", 1e-4, 1e-1), "p": ("choice", ["u", "v", "w"]),
                    "q": ("choice", ["r", "s", "t"]), "r": ("choice", ["x", "y"])},
}


@pytest.mark.parametrize("name", sorted(OPTIMISER_SPACES))
def test_alternating_options_go_only_where_ax_alternates(monkeypatch, name):
    """``_alternating`` predicts the optimiser Ax picks, so "tol" and "maxiter_init"
    reach BoTorch's alternating optimiser and nothing else (SciPy would take "tol")."""
    from ax.generators.torch.botorch_modular import acquisition

    settings = propose.ModelSettings(maxiter_init=50, alternating_tol=1e-3)
    monkeypatch.setattr(propose, "SETTINGS", settings)
    picked, options = [], []
    original = acquisition.determine_optimizer

    def recorded(*args, **kwargs):
        picked.append(original(*args, **kwargs))
        return picked[-1]

    def optimised(name):
        def record(*args, **kwargs):
            options.append((name, dict(kwargs.get("options") or {})))
            return getattr(acquisition_originals, name)(*args, **kwargs)
        return record

    acquisition_originals = types.SimpleNamespace(**{
        n: getattr(acquisition, n) for n in ("optimize_acqf", "optimize_acqf_mixed",
                                             "optimize_acqf_mixed_alternating")})
    monkeypatch.setattr(acquisition, "determine_optimizer", recorded)
    for n in vars(acquisition_originals):
        monkeypatch.setattr(acquisition, n, optimised(n))
    proposer = propose.AxProposer(SearchSpace(OPTIMISER_SPACES[name]), seed=0, n_initial=3)
    for i in range(4):
        p = proposer.propose()
        proposer.complete(p.ax_index, float(i % 3) + 0.1 * i, None)
    assert (p.generator, p.fallback) == ("gp", None)
    assert picked and set(picked) == {picked[0]}
    assert (picked[0] == "optimize_acqf_mixed_alternating") == proposer._alternating()
    for optimiser, given in options:
        alternating = optimiser == "optimize_acqf_mixed_alternating"
        assert ({"tol", "maxiter_init"} & set(given)) == (
            {"tol", "maxiter_init"} if alternating else set()), (optimiser, given)


def test_alternating_prediction_covers_both_answers():
    """The spaces above include both answers, so the test above checks both ways."""
    answers = {propose.AxProposer(SearchSpace(space), seed=0)._alternating()
               for space in OPTIMISER_SPACES.values()}
    assert answers == {True, False}


def test_nearness_compares_numbers_on_their_own_scale_and_choices_exactly():
    space = SearchSpace(BRANCHY)
    near = propose._Nearness(translate(space), [{"opt": "sgd", "lr": 1e-3, "momentum": 0.5},
                                                {"opt": "adam", "lr": 1e-2}], radius=0.02)
    # lr spans 5 decades: 2% of them is 0.1 decade
    assert near.repeats({"opt": "sgd", "lr": 1e-3 * 10**0.09, "momentum": 0.5 + 0.019})
    assert not near.repeats({"opt": "sgd", "lr": 1e-3 * 10**0.11, "momentum": 0.5})
    assert not near.repeats({"opt": "sgd", "lr": 1e-3, "momentum": 0.5 + 0.03})
    assert near.repeats({"opt": "adam", "lr": 1e-2})
    assert not near.repeats({"opt": "rms", "lr": 1e-2})  # another choice
    assert not near.repeats({"opt": "adam", "lr": 1e-3})
    nothing_tried = propose._Nearness(translate(space), [], radius=0.02)
    assert not nothing_tried.repeats({"opt": "adam", "lr": 1e-2})


def test_nearness_of_a_range_up_to_near_one_is_judged_on_log_one_minus_x():
    space = SearchSpace({"beta2": ("uniform", 0.9, 0.9999)})
    tried = [{"beta2": 0.999}]
    # 0.9999 is 0.9% of the linear range away, a third of the range on log(1 - x)
    assert propose._Nearness(translate(space), tried, 0.02).repeats({"beta2": 0.9999})
    tail = propose._Nearness(translate(space, tail_decades=3), tried, 0.02)
    assert not tail.repeats({"beta2": 0.9999})
    assert tail.repeats({"beta2": 1 - 10**-3.05})  # 1.7% of the 3 decades


def test_by_default_a_range_to_0_9999_is_modelled_on_log_one_minus_x_and_momentum_is_not():
    space = SearchSpace({"momentum": ("uniform", 0.0, 0.99), "beta2": ("uniform", 0.9, 0.9999),
                         "ema": ("uniform", 0.95, 0.9999), "lr": ("log_uniform", 1e-4, 1.0)})
    assert propose.AxProposer(space, seed=0).translation.tail == {"beta2", "ema"}


@pytest.mark.parametrize("method", ["bo", "random"])
def test_only_the_model_sees_a_range_up_to_near_one_on_log_one_minus_x(monkeypatch, method):
    monkeypatch.setattr(propose, "SETTINGS", propose.ModelSettings(tail_decades=3))
    space = SearchSpace({"lr": ("log_uniform", 1e-4, 1e-1), "beta2": ("uniform", 0.9, 0.9999)})
    proposer = propose.AxProposer(space, seed=0, n_initial=4, method=method)
    # random search samples the range as the user wrote it
    assert proposer.translation.tail == ({"beta2"} if method == "bo" else set())
    beta2 = []
    for _ in range(8):
        p = proposer.propose()
        assert 0.9 <= p.config["beta2"] <= 0.9999
        beta2.append(p.config["beta2"])
        proposer.complete(p.ax_index, (math.log10(p.config["lr"]) + 2.5) ** 2
                          + (math.log10(1 - p.config["beta2"]) + 3) ** 2, None)
    assert (p.generator == "gp") is (method == "bo")
    if method == "bo":  # the model's proposals come to the optimum's scale: 1 - x near 1e-3
        assert sum(abs(math.log10(1 - b) + 3) < 0.5 for b in beta2[4:]) >= 2


def _proposer_whose_model_repeats(monkeypatch, settings, space=SPACE, loss=_loss):
    """A proposer past its Sobol phase whose next model proposal (forced here) is exactly
    the best configuration measured so far."""
    proposer, _ = _measured(monkeypatch, settings, 8, space, loss)
    best = min(proposer._observed, key=proposer._observed.__getitem__)
    repeat = dict(proposer.client._experiment.trials[best].arm.parameters)

    def repeating(max_trials):
        return {proposer.client.attach_trial(parameters=repeat): repeat}

    monkeypatch.setattr(proposer.client, "get_next_trials", repeating)
    monkeypatch.setattr(propose.AxProposer, "_generator_name", lambda self, i: "gp")
    return proposer, proposer.translation.decode(repeat)


def test_a_model_proposal_that_repeats_a_tried_configuration_is_replaced(monkeypatch):
    proposer, repeat = _proposer_whose_model_repeats(monkeypatch, propose.ModelSettings())
    assert proposer.settings.repeat_radius == 0.02  # the default
    n_trials = len(proposer.client._experiment.trials)
    p = proposer.propose()
    assert (p.generator, p.fallback) == ("gp", None)
    tried = [proposer.translation.decode(t.arm.parameters)
             for i, t in proposer.client._experiment.trials.items() if i in proposer._observed]
    assert not propose._Nearness(proposer.translation, tried, 0.02).repeats(p.config)
    # Ax's repeated trial is retired and the replacement is the trial that will run
    trials = proposer.client._experiment.trials
    assert len(trials) == n_trials + 2
    assert trials[n_trials].status.is_failed
    assert trials[n_trials].arm.parameters == proposer.translation.encode(repeat)
    assert p.ax_index == n_trials + 1 and trials[p.ax_index].status.is_running
    assert proposer.translation.decode(trials[p.ax_index].arm.parameters) == p.config
    # still the model's choice by expected improvement: the best option of three, and
    # the learning rate within two decades of the best (1e-3)
    assert p.config["opt"] == "a" and abs(math.log10(p.config["lr"]) + 3) < 2


def test_without_repeat_radius_the_repeat_stands(monkeypatch):
    proposer, repeat = _proposer_whose_model_repeats(
        monkeypatch, propose.ModelSettings(repeat_radius=None))
    p = proposer.propose()
    assert p.config == repeat


def test_a_repeat_becomes_a_visit_to_the_branch_the_incumbent_is_not_in(monkeypatch):
    proposer, repeat = _proposer_whose_model_repeats(
        monkeypatch, propose.ModelSettings(branch_on_repeat=1), BRANCHY, _adam_wins)
    assert repeat["opt"] == "adam" and len(proposer._observed) == 8
    sgd = [proposer.translation.decode(t.arm.parameters)
           for i, t in proposer.client._experiment.trials.items()
           if i in proposer._observed and t.arm.parameters["opt"] == "sgd"]
    assert sgd  # the branch has measured trials, so the visit steps from its best
    visits = proposer._branch_visits.get(("opt", "sgd"), 0)
    n_trials = len(proposer.client._experiment.trials)
    p = proposer.propose()
    assert (p.generator, p.fallback) == ("gp", None)
    assert p.config["opt"] == "sgd" and "momentum" in p.config
    assert not any(propose._same(p.config, c) for c in sgd)
    # Ax's trial (and its canonical copy) retired; the visit is the trial that will run
    trials = proposer.client._experiment.trials
    assert all(trials[i].status.is_failed for i in range(n_trials, p.ax_index))
    assert trials[p.ax_index].status.is_running
    assert proposer.translation.decode(trials[p.ax_index].arm.parameters) == p.config
    assert proposer._branch_visits == {("opt", "sgd"): visits + 1}


@pytest.mark.parametrize("every", [None, 2, 3])
def test_only_every_nth_repeat_becomes_a_branch_visit(monkeypatch, every):
    proposer, repeat = _proposer_whose_model_repeats(
        monkeypatch, propose.ModelSettings(branch_on_repeat=every), BRANCHY, _adam_wins)
    before = proposer._branch_visits.get(("opt", "sgd"), 0)
    nth = proposer._repeats + 1  # the forced proposal is the model's nth repeat (2nd here)
    p = proposer.propose()
    assert p.config != repeat and (p.generator, p.fallback) == ("gp", None)
    visited = proposer._branch_visits.get(("opt", "sgd"), 0) - before
    assert visited == (every is not None and nth % every == 0)


def _sgd_trials(n, seed=0):
    """``n`` SGD configurations of ``BRANCHY`` spread over the branch."""
    import numpy as np

    rng = np.random.default_rng(seed)
    return [{"opt": "sgd", "lr": float(10 ** rng.uniform(-5, 0)),
             "momentum": float(rng.uniform(0.0, 0.99))} for _ in range(n)]


def test_the_branch_model_sees_ranks_so_diverged_trials_change_nothing():
    space = SearchSpace(BRANCHY)
    measured = _sgd_trials(24)
    values = [_adam_wins(c) for c in measured]
    candidates = _sgd_trials(200, seed=1)
    # the worst quarter diverges: same order, values a hundred times larger
    cut = sorted(values)[-6]
    diverged = [v * 100 if v >= cut else v for v in values]
    scored = propose._branch_scores(space, "opt", measured, values, candidates)
    again = propose._branch_scores(space, "opt", measured, diverged, candidates)
    assert scored is not None and again is not None
    assert [p.mean for p in scored[0]] == pytest.approx([p.mean for p in again[0]], abs=1e-6)
    # and the model is informative: the visit it picks is near the bowl's bottom
    # (lr 1e-3, momentum 0.9), far better than the median candidate
    chosen = propose._best_by_ei(candidates, *scored, 1.0)
    losses = sorted(_adam_wins(c) for c in candidates)
    assert _adam_wins(chosen) < losses[len(losses) // 10]


@pytest.mark.parametrize("branch_model", [False, True])
def test_branch_model_chooses_the_visit_only_when_set(monkeypatch, branch_model):
    proposer, repeat = _proposer_whose_model_repeats(
        monkeypatch, propose.ModelSettings(branch_on_repeat=1, branch_model=branch_model),
        BRANCHY, _adam_wins)
    sgd = [i for i, t in proposer.client._experiment.trials.items()
           if i in proposer._observed and t.arm.parameters["opt"] == "sgd"]
    monkeypatch.setattr(propose, "BRANCH_MODEL_MIN", len(sgd))  # the fixture's few suffice
    calls = []
    original = propose._branch_scores

    def spy(space, parent, measured, values, candidates):
        calls.append((parent, measured, values))
        return original(space, parent, measured, values, candidates)

    monkeypatch.setattr(propose, "_branch_scores", spy)
    p = proposer.propose()
    assert p.config["opt"] == "sgd" and (p.generator, p.fallback) == ("gp", None)
    if not branch_model:
        assert calls == []
        return
    (parent, measured, values), = calls
    # fitted on the branch's measured trials alone, lower is better
    assert parent == "opt" and len(measured) == len(sgd)
    assert all(c["opt"] == "sgd" for c in measured)
    assert sorted(values) == sorted(proposer._observed[i] for i in sgd)


def _proposer_past_sobol(monkeypatch, settings, n=8):
    monkeypatch.setattr(propose, "REPLICATE_FROM", n)
    return _measured(monkeypatch, settings, n)[0]


def _predicting(monkeypatch, proposer, beliefs):
    """Make the model believe ``beliefs[k]`` (mean, sd) of the k-th measured trial."""
    order = sorted(proposer._observed)
    by_index = {i: Prediction(*beliefs[k]) for k, i in enumerate(order)}
    monkeypatch.setattr(proposer, "predict",
                        lambda indices, observer=True: {i: by_index[i] for i in indices})
    return order


def test_configurations_the_model_cannot_tell_apart_are_measured_again(monkeypatch):
    proposer = _proposer_past_sobol(monkeypatch, propose.ModelSettings(replicate_every=1))
    # trial 5 is predicted best (0.10); trials 2 and 6 are within one sd of the
    # difference; trial 6's lower bound (0.11 - 0.05) is the most promising
    beliefs = [(1.0, 0.01)] * 8
    beliefs[5], beliefs[2], beliefs[6] = (0.10, 0.01), (0.105, 0.01), (0.11, 0.05)
    order = _predicting(monkeypatch, proposer, beliefs)
    n_trials = len(proposer.client._experiment.trials)
    p = proposer.propose()
    trials = proposer.client._experiment.trials
    assert (p.generator, p.fallback) == ("replicate", None)
    assert p.ax_index == n_trials and trials[p.ax_index].status.is_running
    assert trials[p.ax_index].arm.parameters == trials[order[6]].arm.parameters
    assert p.config == proposer.translation.decode(trials[order[6]].arm.parameters)
    # once measured it counts like any trial: the model sees both measurements
    proposer.complete(p.ax_index, _loss(p.config), None)
    assert p.ax_index in proposer._observed


@pytest.mark.parametrize("settings, beliefs_best", [
    (propose.ModelSettings(replicate_every=1), (0.10, 0.001)),  # sure of its best
    (propose.ModelSettings(), (0.10, 0.01)),  # contenders, but replication is off
])
def test_no_replicate_when_the_model_is_sure_or_the_setting_is_off(
        monkeypatch, settings, beliefs_best):
    proposer = _proposer_past_sobol(monkeypatch, settings)
    beliefs = [(1.0, 0.001)] * 8
    beliefs[5], beliefs[2] = beliefs_best, (0.105, 0.001 if settings.replicate_every else 0.01)
    _predicting(monkeypatch, proposer, beliefs)
    p = proposer.propose()
    assert p.generator == "gp"


@pytest.mark.parametrize("every, replicates", [(2, [1, 3]), (3, [2])])
def test_only_every_nth_model_proposal_may_replicate(monkeypatch, every, replicates):
    proposer = _proposer_past_sobol(monkeypatch, propose.ModelSettings(replicate_every=every))
    _predicting(monkeypatch, proposer, [(0.1, 0.05)] * 8)  # everything a contender
    proposer._model_proposals = 0
    generators = []
    for _ in range(4):
        p = proposer.propose()
        generators.append(p.generator)
        proposer.abandon(p.ax_index)
    assert [k for k, g in enumerate(generators) if g == "replicate"] == replicates
    assert all(g == "gp" for k, g in enumerate(generators) if k not in replicates)


@pytest.mark.parametrize("noise", [0.0, 0.05])
def test_a_deterministic_objective_is_replicated_once_at_most(monkeypatch, noise):
    import random

    import bo_hpo

    monkeypatch.setattr(propose, "SETTINGS", propose.ModelSettings(replicate_every=1))
    monkeypatch.setattr(propose, "REPLICATE_FROM", 8)
    draw = random.Random(0)
    result = bo_hpo.tune(lambda c: _loss(c) + draw.gauss(0.0, noise), SPACE,
                         budget=bo_hpo.Budget(max_trials=22), seed=0)
    replicates = [r for r in result.records if r.generator == "replicate"]
    if noise == 0.0:  # the second measurement equals the first, and replication stops
        assert len(replicates) <= 1
    else:  # under noise the contenders keep being measured again
        assert len(replicates) >= 3
    configs = [r.config for r in result.records if r.generator != "replicate"]
    assert all(any(r.config == c for c in configs) for r in replicates)


def test_a_resumed_proposer_counts_replicates_as_model_proposals(monkeypatch):
    from bo_hpo.trial import TrialRecord

    monkeypatch.setattr(propose, "SETTINGS", propose.ModelSettings(replicate_every=3))
    first = {"opt": "a", "lr": 1e-3, "x": 0.3}
    records = [TrialRecord(0, first, "completed", "sobol", mean=_loss(first)),
               TrialRecord(1, dict(first, x=0.5), "completed", "gp", mean=1.0),
               TrialRecord(2, first, "completed", "replicate", mean=_loss(first) + 0.01)]
    proposer = propose.AxProposer(SearchSpace(SPACE), seed=0, n_initial=1)
    proposer.replay(records)
    # the next model proposal is the third, the one replication may take, as before
    assert proposer._model_proposals == 2
