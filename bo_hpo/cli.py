"""The ``bo-hpo`` command: parse, call the library, print, exit.

Exit codes: 0 success, 1 tuning stopped with an error (too many failures, say), 2 bad
input (a malformed experiment file or option; nothing was run).
"""

from __future__ import annotations

import logging
import math
import sys
from pathlib import Path
from typing import Any

import click

from bo_hpo.errors import BoHpoError, ConfigError, SearchSpaceError, TuningError

EXIT_TUNING_ERROR = 1
EXIT_BAD_INPUT = 2


def _fail(message: str, code: int) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="bo-hpo")
@click.option("-v", "--verbose", count=True, help="More logging (-v INFO, -vv DEBUG).")
def main(verbose: int) -> None:
    """Bayesian optimisation of deep-learning hyperparameters (Ax + BoTorch)."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if verbose < 2:
        logging.getLogger("ax").setLevel(logging.WARNING)


def _load(path: str, variant: str | None, device: str | None = None) -> Any:
    """Load the file; with no --variant, a file with cpu/gpu variants gets the one that
    fits the device (gpu when CUDA is available or asked for, else cpu)."""
    from bo_hpo.experiment import load_experiment

    try:
        spec = load_experiment(path, variant=variant)
        if variant is None and {"cpu", "gpu"} <= set(spec.variants):
            if device is None:
                import torch

                device = "cuda" if torch.cuda.is_available() else "cpu"
            spec = load_experiment(path, variant="gpu" if device == "cuda" else "cpu")
        return spec
    except (ConfigError, SearchSpaceError) as err:
        _fail(str(err), EXIT_BAD_INPUT)


@main.command()
@click.argument("experiment", type=click.Path(dir_okay=False))
@click.option("--variant", help="A [variants.NAME] table of the file to apply (e.g. cpu, gpu).")
def check(experiment: str, variant: str | None) -> None:
    """Validate EXPERIMENT.toml and describe its search space, without running anything."""
    spec = _load(experiment, variant)
    chosen = ""
    if spec.variant:
        chosen = f", variant {spec.variant}" + ("" if variant else " (chosen for this machine)")
    click.echo(f"{spec.name}: evaluator {spec.evaluator}, seed {spec.seed}{chosen}")
    click.echo(repr(spec.space))
    size = spec.space.size()
    shown = "infinite (continuous parameters)" if math.isinf(size) else size
    click.echo(f"configurations: {shown}")
    for rule in spec.rules:
        click.echo(f"invalid if: {rule.text}")
    click.echo(f"budget: {spec.budget}")
    if spec.variants:
        click.echo(f"variants: {', '.join(spec.variants)}")


@main.command()
@click.argument("experiment", type=click.Path(dir_okay=False))
@click.option("--trials", type=click.IntRange(min=1), help="Override budget.max_trials.")
@click.option("--seconds", type=click.FloatRange(min=0, min_open=True),
              help="Override budget.max_seconds (wall clock; no trial starts after it).")
@click.option("--device", type=click.Choice(["cpu", "cuda"]),
              help="Where to train (default: CUDA when available, else CPU).")
@click.option("--data-dir", type=click.Path(file_okay=False),
              help="Full dataset directory (default: the data shipped in the package).")
@click.option("--variant", help="A [variants.NAME] table of the file (e.g. cpu, gpu).")
@click.option("--trial-timeout", type=click.FloatRange(min=0, min_open=True),
              help="Override evaluator_settings.trial_timeout (seconds per trial).")
@click.option("--out", type=click.Path(file_okay=False),
              help="Where to write trials.jsonl, trials.csv, result.json "
                   "(default: reports/<name>).")
def run(experiment: str, trials: int | None, seconds: float | None, device: str | None,
        data_dir: str | None, variant: str | None, trial_timeout: float | None,
        out: str | None) -> None:
    """Tune the evaluator of EXPERIMENT.toml, then score the best config and the baseline
    on the test set."""
    from bo_hpo.runner import run_experiment, with_overrides

    spec = _load(experiment, variant, device)
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            _fail("--device cuda: no CUDA device is available here; use --device cpu",
                  EXIT_BAD_INPUT)
    if data_dir is not None and not Path(data_dir).is_dir():
        _fail(f"--data-dir: {data_dir!r} is not a directory", EXIT_BAD_INPUT)
    try:
        spec = with_overrides(spec, trials=trials, seconds=seconds, device=device,
                              data_dir=data_dir, trial_timeout=trial_timeout)
    except ConfigError as err:
        _fail(str(err), EXIT_BAD_INPUT)
    out_dir = Path(out) if out else Path("reports") / spec.name
    budget = spec.budget
    variant = f" [{spec.variant}]" if spec.variant else ""
    click.echo(f"{spec.name}{variant}: tuning {spec.evaluator} "
               f"({len(spec.space)} parameters, budget {_budget_text(budget)}, "
               f"data {spec.data_dir or 'embedded subset'})")
    try:
        outcome = run_experiment(spec, on_progress=_progress_printer(spec), out_dir=out_dir)
    except (ConfigError, SearchSpaceError) as err:
        _fail(str(err), EXIT_BAD_INPUT)
    except TuningError as err:
        _fail(str(err), EXIT_TUNING_ERROR)
    except BoHpoError as err:
        _fail(str(err), EXIT_TUNING_ERROR)
    _print_outcome(outcome)


def _budget_text(budget: Any) -> str:
    parts = []
    if budget.max_trials:
        parts.append(f"{budget.max_trials} trials")
    if budget.max_seconds:
        parts.append(f"{budget.max_seconds:g} s")
    if budget.max_device_hours:
        parts.append(f"{budget.max_device_hours:g} device-h")
    return ", ".join(parts)


def _progress_printer(spec: Any) -> Any:
    budget = spec.budget

    def show(progress: Any) -> None:
        r = progress.record
        spent = progress.budget_spent
        if r.status == "completed":
            value = f"{r.mean:.4f}" + (f" ± {r.sem:.4f}" if r.sem is not None else "")
        elif r.status == "invalid":
            rule = spec.violated_rule(r.config)
            click.echo(f"[trial {r.trial:>3}] {r.generator:<8} invalid, not trained"
                       + (f" ({rule})" if rule else ""))
            return
        else:
            value = f"{r.status}: {r.reason}"
        left = []
        if budget.max_trials:
            left.append(f"{budget.max_trials - int(spent['trials'])} trials")
        if budget.max_seconds:
            left.append(f"{max(0.0, budget.max_seconds - spent['seconds']):.0f} s")
        best = "-" if progress.best_observed is None else f"{progress.best_observed:.4f}"
        click.echo(
            f"[trial {r.trial:>3}] {r.generator:<8} {value:<24} ({r.eval_seconds:5.1f} s)  "
            f"best so far {best}  left: {', '.join(left)}"
        )

    return show


def _print_outcome(outcome: Any) -> None:
    result = outcome.result
    click.echo("")
    click.echo(result.summary())
    if result.baseline is not None:
        pred = result.baseline.get("predicted")
        rec = result.best_predicted
        from bo_hpo.evaluators import get_evaluator

        measure = get_evaluator(outcome.spec.evaluator).objective.split(" (")[0]
        click.echo(
            f"{measure}: recommended "
            + (f"{rec.mean:.4f} (predicted)" if rec else f"{result.best_observed['mean']:.4f}")
            + " vs baseline "
            + (f"{pred.mean:.4f} (predicted), " if pred else "")
            + f"{result.baseline['mean']:.4f} (observed)"
        )
    if outcome.final:
        where = outcome.spec.evaluator
        from bo_hpo.evaluators import get_evaluator

        scored_on = get_evaluator(where).final_eval_scores_on
        click.echo(f"final scores on the {scored_on} set (retrained once, after tuning):")
        for name, scores in outcome.final.items():
            key = "test_error" if "test_error" in scores else next(
                (k for k in scores if k.endswith("loss")), None)
            sem_key = f"{key}_sem"
            value = scores.get(key)
            sem = scores.get(sem_key)
            click.echo(f"  {name:<12} {key} {value:.4f}" + (f" ± {sem:.4f}" if sem else ""))
    click.echo(f"wall time: {outcome.seconds:.1f} s")
    if outcome.out_dir is not None:
        click.echo(f"written: {outcome.out_dir}/trials.csv, {outcome.out_dir}/result.json")


if __name__ == "__main__":  # pragma: no cover
    main()
