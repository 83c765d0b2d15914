"""The ``bo-hpo`` command: parse, call the library, print, exit.

Exit codes: 0 success; 1 tuning stopped by failures (too many failed or invalid trials);
2 bad input (a malformed experiment file, option or cron expression; nothing was run);
3 locked (another run of the experiment is going on; nothing was touched); 4 the store
cannot be used (unreachable, corrupted, newer schema, read-only); 130 stopped by Ctrl-C
(what completed is kept in the store); 143 stopped by SIGTERM (the same, for systemd,
Kubernetes and timeout(1)).
"""

from __future__ import annotations

import logging
import math
import sys
from pathlib import Path
from typing import Any

import click

from bo_hpo.errors import (
    BoHpoError,
    ConfigError,
    LockedError,
    NotFoundError,
    SearchSpaceError,
    SpaceChangedError,
    StoreError,
)

EXIT_TUNING_ERROR = 1
EXIT_BAD_INPUT = 2
EXIT_LOCKED = 3
EXIT_STORE = 4
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


class _Terminated(KeyboardInterrupt):
    """SIGTERM, handled as Ctrl-C is: what completed is kept and summarised."""

def _parallel_options(command: Any) -> Any:
    command = click.option(
        "--ray-address", metavar="ADDRESS",
        help="Run trials on an existing Ray cluster: 'auto' (from a node of it) or "
             "'ray://host:10001'. Implies --executor ray.")(command)
    command = click.option(
        "--executor", type=click.Choice(["process", "ray"]),
        help="Where parallel trials run: spawned worker processes on this machine (one per "
             "GPU when there are GPUs), or Ray tasks (default with --parallel: process).")(
        command)
    return click.option(
        "--parallel", type=click.IntRange(min=1), default=1, show_default=True,
        help="Trials in flight at once (asynchronous: the next is proposed as soon as one "
             "finishes).")(command)


class _Seconds(click.ParamType):
    """A finite, positive number of seconds (click's FloatRange lets nan and inf through)."""

    name = "seconds"

    def convert(self, value: Any, param: Any, ctx: Any) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if not math.isfinite(number) or number <= 0:
            self.fail(f"must be a finite number of seconds > 0, got {value!r}", param, ctx)
        return number


SECONDS = _Seconds()

_store_option = click.option(
    "--store", envvar="BO_HPO_STORE", metavar="URL",
    help="Where experiments live: sqlite:///file.db or postgresql+psycopg://user:pw@host/db "
         "(default: $BO_HPO_STORE, else sqlite:///reports/bo_hpo.db).")


def _fail(message: str, code: int) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _store_fail(err: StoreError) -> None:
    """Exit 2 for a wrong name or path (nothing there), 4 for a store that cannot be used."""
    _fail(str(err), EXIT_BAD_INPUT if isinstance(err, NotFoundError) else EXIT_STORE)


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
@click.argument("experiments", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--variant", help="A [variants.NAME] table of the file to apply (e.g. cpu, gpu).")
def check(experiments: tuple[str, ...], variant: str | None) -> None:
    """Validate EXPERIMENT.toml files and describe their search spaces, without running
    anything: the file, the space, and every parameter's values against what the evaluator
    accepts (its keys and types)."""
    bad = 0
    for experiment in experiments:
        if len(experiments) > 1:
            click.echo(f"== {experiment}")
        try:
            _check_one(experiment, variant)
        except SystemExit as exit_:
            if exit_.code != EXIT_BAD_INPUT:
                raise
            bad += 1
    if bad:
        if len(experiments) > 1:
            click.echo(f"{bad} of {len(experiments)} files have errors", err=True)
        sys.exit(EXIT_BAD_INPUT)


def _check_one(experiment: str, variant: str | None) -> None:
    spec = _load(experiment, variant)
    try:
        _check_against_evaluator(spec)
    except (ConfigError, SearchSpaceError) as err:
        _fail(f"{experiment}: the evaluator {spec.evaluator} would refuse it: {err}",
              EXIT_BAD_INPUT)
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
    click.echo(f"budget: {_budget_text(spec.budget)}")
    if spec.nightly_budget is not None:
        click.echo(f"nightly budget: {_budget_text(spec.nightly_budget)} a night")
    if spec.variants:
        click.echo(f"variants: {', '.join(spec.variants)}")


def _check_against_evaluator(spec: Any) -> None:
    """Hand the evaluator's config check the baseline, every listed value and both ends of
    every range (on top of a sampled config), so a key or type it refuses shows now rather
    than at the first trial."""
    import numpy as np

    from bo_hpo.evaluators import get_evaluator
    from bo_hpo.space import Choice, Fixed

    evaluator = get_evaluator(spec.evaluator)
    rng = np.random.default_rng(0)
    base = spec.baseline or spec.space.sample(rng)
    configs = [dict(base)]
    for name, p in spec.space.params.items():
        values = (p.values_list() if isinstance(p, (Choice, Fixed))
                  else [p.low, p.high])
        for value in values:
            config = dict(base)
            config[name] = value
            configs.append(config)
    for config in configs:
        evaluator.check_config(config)


@main.command()
@click.argument("experiment", type=click.Path(dir_okay=False))
@click.option("--trials", type=click.IntRange(min=1), help="Override budget.max_trials.")
@click.option("--seconds", type=SECONDS,
              help="Override budget.max_seconds (wall clock; no trial starts after it).")
@click.option("--device", type=click.Choice(["cpu", "cuda"]),
              help="Where to train (default: CUDA when available, else CPU).")
@click.option("--data-dir", type=click.Path(file_okay=False),
              help="Full dataset directory (default: the data shipped in the package).")
@click.option("--variant", help="A [variants.NAME] table of the file (e.g. cpu, gpu).")
@click.option("--trial-timeout", type=SECONDS,
              help="Override evaluator_settings.trial_timeout (seconds per trial).")
@click.option("--out", type=click.Path(file_okay=False),
              help="Where to write trials.csv and result.json (default: reports/<name>).")
@click.option("--fresh", is_flag=True,
              help="Start anew even if the store holds this experiment (the old one is kept "
                   "under a dated name).")
@_parallel_options
@_store_option
def run(experiment: str, trials: int | None, seconds: float | None, device: str | None,
        data_dir: str | None, variant: str | None, trial_timeout: float | None,
        out: str | None, fresh: bool, parallel: int, executor: str | None,
        ray_address: str | None, store: str | None) -> None:
    """Tune the evaluator of EXPERIMENT.toml, then score the best config and the baseline
    on the test set.

    Every trial is stored as it starts and ends. If the store already holds the experiment
    (a run that crashed or was killed), it is continued: the interrupted trial is re-run
    first and the budget counts every trial so far.
    """
    spec = _load(experiment, variant, device)
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            _fail("--device cuda: no CUDA device is available here; use --device cpu",
                  EXIT_BAD_INPUT)
    if data_dir is not None and not Path(data_dir).is_dir():
        _fail(f"--data-dir: {data_dir!r} is not a directory", EXIT_BAD_INPUT)
    overrides = {k: v for k, v in dict(trials=trials, seconds=seconds, device=device,
                                       data_dir=data_dir, trial_timeout=trial_timeout).items()
                 if v is not None}
    _execute(spec, overrides, store, out, fresh=fresh, nightly=False,
             where=_where(parallel, executor, ray_address))


@main.command()
@click.argument("name")
@click.option("--trials", type=click.IntRange(min=1),
              help="Set the experiment's budget.max_trials (all sessions together).")
@click.option("--seconds", type=SECONDS,
              help="Set budget.max_seconds (all sessions together).")
@click.option("--out", type=click.Path(file_okay=False),
              help="Where to write trials.csv and result.json (default: reports/<name>).")
@_parallel_options
@_store_option
def resume(name: str, trials: int | None, seconds: float | None, out: str | None,
           parallel: int, executor: str | None, ray_address: str | None,
           store: str | None) -> None:
    """Continue the stored experiment NAME from where it stopped, without its file (with
    --parallel, on as many workers as `run --parallel` would)."""
    from bo_hpo.runner import spec_from_store

    try:
        spec, overrides = spec_from_store(name, store)
        overrides = dict(overrides)
        overrides.update({k: v for k, v in dict(trials=trials, seconds=seconds).items()
                          if v is not None})
    except StoreError as err:
        _store_fail(err)
    except (ConfigError, SearchSpaceError) as err:
        _fail(str(err), EXIT_BAD_INPUT)
    _execute(spec, overrides, store, out, fresh=False, nightly=False,
             where=_where(parallel, executor, ray_address))


@main.command()
@click.argument("experiment", type=click.Path(dir_okay=False))
@click.option("--variant", help="A [variants.NAME] table of the file (e.g. cpu, gpu).")
@_parallel_options
@_store_option
def nightly(experiment: str, variant: str | None, parallel: int, executor: str | None,
            ray_address: str | None, store: str | None) -> None:
    """One night of EXPERIMENT.toml, made to be called by a scheduler.

    The first night creates the experiment; each later night continues it with the budget
    of the file's [nightly] table (else [budget]), the model fitted on every earlier night's
    trials. If another run holds the experiment, exits at once with code 3, touching
    nothing; a lease left by a killed run is taken over.
    """
    spec = _load(experiment, variant)
    _execute(spec, {}, store, None, fresh=False, nightly=True,
             where=_where(parallel, executor, ray_address))


def _where(parallel: int, executor: str | None, ray_address: str | None) -> dict[str, Any]:
    """Where trials run, from --parallel, --executor and --ray-address."""
    if ray_address and executor not in (None, "ray"):
        _fail(f"--ray-address needs --executor ray, got --executor {executor}", EXIT_BAD_INPUT)
    if ray_address:
        executor = "ray"
    if executor is None and parallel > 1:
        executor = "process"
    if executor == "ray":
        try:
            import ray  # noqa: F401
        except ImportError:
            _fail("--executor ray needs Ray: pip install 'bo-hpo[ray]'", EXIT_BAD_INPUT)
    return {"parallel": parallel, "executor": executor, "ray_address": ray_address}


def _execute(spec: Any, overrides: dict[str, Any], store: str | None, out: str | None, *,
             fresh: bool, nightly: bool, where: dict[str, Any] | None = None) -> None:
    """Run (or continue) an experiment and print it; every error becomes its exit code."""
    from bo_hpo.runner import run_experiment, with_overrides
    from bo_hpo.store import default_store_url, redact

    try:
        spec = with_overrides(spec, **overrides)
    except ConfigError as err:
        _fail(str(err), EXIT_BAD_INPUT)
    store = store or default_store_url()
    out_dir = _out_dir(out, spec.name)
    budget = spec.nightly_budget if nightly and spec.nightly_budget else spec.budget
    variant = f" [{spec.variant}]" if spec.variant else ""
    what = "one night of" if nightly else "tuning"
    # a function of the user's ("module:fn") has no data of bo_hpo's to name
    data = "" if ":" in spec.evaluator else f"data {spec.data_dir or 'embedded subset'}, "
    click.echo(f"{spec.name}{variant}: {what} {spec.evaluator} "
               f"({len(spec.space)} parameters, budget {_budget_text(budget)}, "
               f"{data}store {redact(store)})")
    printer = _ProgressPrinter(spec, budget)
    import signal

    def on_term(signum: int, frame: Any) -> None:  # systemd, Kubernetes, timeout(1)
        raise _Terminated("terminated by SIGTERM")

    previous_term = signal.signal(signal.SIGTERM, on_term)
    try:
        outcome = run_experiment(spec, on_progress=printer, out_dir=out_dir, store=store,
                                 nightly=nightly, fresh=fresh, overrides=overrides,
                                 on_final=printer.final, on_step=printer.step,
                                 **(where or {}))
    except KeyboardInterrupt as err:
        printer.close()
        what = "terminated (SIGTERM)" if isinstance(err, _Terminated) else "interrupted"
        click.echo(f"\n{what}: stopping. Every finished trial is in the store; the trial "
                   "in flight is marked interrupted and runs again first next time.", err=True)
        _print_partial(spec.name, store)
        sys.exit(EXIT_TERMINATED if isinstance(err, _Terminated) else EXIT_INTERRUPTED)
    except LockedError as err:
        printer.close()
        _fail(f"{spec.name}: {err}; not started (exit {EXIT_LOCKED})", EXIT_LOCKED)
    except SpaceChangedError as err:
        printer.close()
        _fail(f"{err} Or start anew with `bo-hpo run --fresh`, which keeps the old one under "
              "a dated name.", EXIT_BAD_INPUT)
    except StoreError as err:
        printer.close()
        _store_fail(err)
    except (ConfigError, SearchSpaceError) as err:
        printer.close()
        message = str(err)
        if spec.path is not None and not message.startswith(spec.path.name):
            message = f"{spec.path.name}: {message}"  # which file to fix
        _fail(message, EXIT_BAD_INPUT)
    except BoHpoError as err:  # TuningError and the rest: tuning stopped
        printer.close()
        _fail(str(err), EXIT_TUNING_ERROR)
    finally:
        signal.signal(signal.SIGTERM, previous_term)
    printer.close()
    try:
        if outcome.result.info.get("session_trials") == 0:
            spent = outcome.result.budget_spent
            click.echo(f"note: nothing to run: the budget is spent ({int(spent['trials'])} "
                       f"trials evaluated); raise it with --trials, or start anew with --fresh")
        _print_outcome(outcome)
    except BrokenPipeError:  # `bo-hpo run ... | head`: the report is still written
        _stdout_closed()
    _write_report_after_run(spec.name, store, out, out_dir)


def _stdout_closed() -> None:
    """The reader of our output has gone (``| head``): send the rest to /dev/null, so that
    the run goes on and its results reach the store, the files and the report."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _out_dir(out: str | None, name: str) -> Path:
    """``--out``, or ``reports/<name>``; a name can't leave ``reports/`` (it is checked
    where the file is loaded, and the resolved path is checked here too)."""
    if out:
        return Path(out)
    root = Path("reports").resolve()
    path = (root / name).resolve()
    if root not in path.parents:
        _fail(f"name: {name!r} would write outside reports/", EXIT_BAD_INPUT)
    return path


def _print_partial(name: str, store: str) -> None:
    try:
        import bo_hpo

        result = bo_hpo.load(name, store=store)
    except BoHpoError as err:
        click.echo(f"(no summary: {err})", err=True)
        return
    click.echo(result.summary(), err=True)


def _budget_text(budget: Any) -> str:
    parts = []
    if budget.max_trials:
        parts.append(f"{budget.max_trials} trials")
    if budget.max_seconds:
        parts.append(f"{budget.max_seconds:g} s")
    if budget.max_device_hours:
        parts.append(f"{budget.max_device_hours:g} device-h")
    if budget.patience:
        parts.append(f"stop after {budget.patience} trials without improvement")
    return ", ".join(parts)


class _ProgressPrinter:
    """One line per trial; on a terminal, also a progress bar (tqdm) with trials done of
    the budget, the best so far and the time left. In a pipe or a cron log: lines only."""

    #: Seconds between two lines about the inside of one trial (a cron log stays short).
    STEP_EVERY = 10.0

    def __init__(self, spec: Any, budget: Any) -> None:
        import time

        self.spec, self.budget = spec, budget
        self.bar: Any = None
        self._clock = time.monotonic
        self._last_step_line = self._clock()
        if sys.stdout.isatty() and budget.max_trials:
            from tqdm import tqdm

            self.bar = tqdm(total=budget.max_trials, unit="trial", dynamic_ncols=True,
                            leave=False)

    def _echo(self, line: str) -> None:
        try:
            if self.bar is not None:
                self.bar.write(line)
            else:
                click.echo(line)
        except BrokenPipeError:  # the pipe's reader stopped reading; the run goes on
            _stdout_closed()

    def __call__(self, progress: Any) -> None:
        r = progress.record
        spent = progress.budget_spent
        budget = self.budget
        if r.status == "invalid":
            rule = self.spec.violated_rule(r.config)
            self._echo(f"[trial {r.trial:>3}] {r.generator:<8} invalid, not trained"
                       + (f" ({rule})" if rule else ""))
            return
        if r.status == "completed":
            value = f"{r.mean:.4f}" + (f" ± {r.sem:.4f}" if r.sem is not None else "")
        else:
            value = f"{r.status}: {r.reason}"
        left = []
        if budget.max_trials:
            n = max(0, budget.max_trials - int(spent["trials"]))
            left.append(f"{n} trial{'s' if n != 1 else ''}")
        if budget.max_seconds:
            left.append(f"{max(0.0, budget.max_seconds - spent['seconds']):.0f} s")
        best = "-" if progress.best_observed is None else f"{progress.best_observed:.4f}"
        self._echo(
            f"[trial {r.trial:>3}] {r.generator:<8} {value:<24} ({r.eval_seconds:5.1f} s)  "
            f"best so far {best}  left: {', '.join(left)}"
        )
        self._last_step_line = self._clock()
        if self.bar is not None:
            self.bar.n = min(int(spent["trials"]), self.bar.total)
            self.bar.set_postfix_str(f"best {best}, left {', '.join(left)}")

    def step(self, step: int, value: float, total: int | None) -> None:
        """A report from inside a trial or the final retraining (epoch or step, loss)."""
        of = f"/{total}" if total else ""
        text = f"step {step}{of}, training loss {value:.4f}"
        if self.bar is not None:
            self.bar.set_postfix_str(text)
            return
        now = self._clock()
        if now - self._last_step_line >= self.STEP_EVERY:
            click.echo(f"          ... {text}")
            self._last_step_line = now

    def final(self, which: str) -> None:
        self.close()
        click.echo(f"final evaluation: retraining the {which} config on all the training "
                   f"data, then scoring it once on the held-out set ...")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


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


@main.command()
@click.argument("experiment", type=click.Path(dir_okay=False))
@click.option("--variant", help="A [variants.NAME] table of the file (e.g. cpu, gpu).")
@_store_option
def ask(experiment: str, variant: str | None, store: str | None) -> None:
    """Print a configuration to evaluate, as JSON: {"experiment": NAME, "trial": N,
    "config": {...}}.

    For trials run by another scheduler: each call (from any process or machine that reaches
    the store) records a new running trial; concurrent calls get different configurations.
    The first call creates the experiment from EXPERIMENT.toml. Report the result with
    `bo-hpo tell NAME N VALUE`.
    """
    import json

    from bo_hpo.asktell import Experiment

    spec = _load(experiment, variant)
    try:
        exp = Experiment(spec.name, store=store, space=spec.space, baseline=spec.baseline,
                         seed=spec.seed, is_valid=spec.is_valid if spec.rules else None,
                         source="file",
                         spec_extra={"file": {"raw": spec.raw, "variant": spec.variant,
                                              "path": str(spec.path), "overrides": {}}})
        trial = exp.ask()
    except LockedError as err:
        _fail(f"{spec.name}: {err}", EXIT_LOCKED)
    except StoreError as err:
        _store_fail(err)
    except (ConfigError, SearchSpaceError) as err:
        _fail(str(err), EXIT_BAD_INPUT)
    click.echo(json.dumps({"experiment": spec.name, "trial": trial.number,
                           "config": trial.config}))


@main.command()
@click.argument("name")
@click.argument("trial", type=int)
@click.argument("value", type=float, required=False)
@click.option("--sem", type=click.FloatRange(min=0), help="The value's standard error.")
@click.option("--failed", metavar="REASON",
              help="The trial failed: diverged, out_of_memory, timeout (the model learns to "
                   "avoid the region) or any other word.")
@click.option("--detail", default="", help="With --failed: what happened.")
@_store_option
def tell(name: str, trial: int, value: float | None, sem: float | None, failed: str | None,
         detail: str, store: str | None) -> None:
    """Record the result of TRIAL of experiment NAME (from `bo-hpo ask`)."""
    from bo_hpo.asktell import Experiment

    if (value is None) == (failed is None):
        _fail("tell needs a VALUE or --failed REASON (one of them)", EXIT_BAD_INPUT)
    try:
        exp = Experiment(name, store=store)
        record = exp.tell(trial, None if value is None else (value, sem), failed=failed,
                          detail=detail)
    except StoreError as err:
        _store_fail(err)
    except ConfigError as err:
        _fail(str(err), EXIT_BAD_INPUT)
    detail = f": {record.detail}" if record.detail else ""
    click.echo(f"{name}: trial {trial} " + (
        f"completed: {record.mean:g}" if record.status == "completed"
        else f"recorded as failed ({record.reason}{detail})"))


def _open(store: str | None) -> Any:
    """The store, for reading: a SQLite file that is not there is an error, not created."""
    from bo_hpo.store import open_store

    try:
        return open_store(store, create=False)
    except StoreError as err:  # a file that is not there is a wrong name, not a bad store
        _store_fail(err)


def _when(t: float | None) -> str:
    import time

    return "-" if t is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


@main.command()
@click.argument("name")
@_store_option
def status(name: str, store: str | None) -> None:
    """Show the stored experiment NAME: trials, best so far with its prediction, budget
    used, nights, and any running or interrupted trial."""
    import time

    st = _open(store)
    try:
        info = st.get_experiment(name)
        if info is None:
            known = [e["name"] for e in st.list_experiments()]
            _fail(f"no experiment {name!r} in {st.display_url}; it holds {known}",
                  EXIT_BAD_INPUT)
        records = st.trials(info.id)
        nights = st.nights(info.id)
        lease = st.lease(info.id)
    except StoreError as err:
        _store_fail(err)
    counts: dict[str, int] = {}
    for r in records:
        counts[r.status] = counts.get(r.status, 0) + 1
    click.echo(f"experiment {info.name} ({info.status}) in {st.display_url}")
    click.echo(f"  created {_when(info.created_at)}, updated {_when(info.updated_at)}, "
               f"seed {info.seed}, space version {info.space_version}")
    budget = info.spec.get("budget") or {}
    evaluated = counts.get("completed", 0) + counts.get("failed", 0)
    if nights:
        limit = f" ({budget.get('max_trials', '-')} a night, {len(nights)} nights)"
    elif info.spec.get("asktell"):
        limit = " (ask/tell: no budget)"
    else:
        limit = f" of {budget.get('max_trials', '-')}"
    click.echo(f"  trials: {evaluated} evaluated{limit} ("
               + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) + ")"
               + f"; {info.seconds_spent:.0f} s of wall clock")
    summary = info.summary or {}
    completed = [r for r in records if r.status == "completed" and r.mean is not None]
    if completed:
        pick = min if info.minimize else max
        best = pick(completed, key=lambda r: r.mean)
        click.echo(f"  best observed: {best.mean:.6g} (trial {best.trial})")
    if summary.get("best_trial") is not None:
        pred = summary.get("best_predicted")
        click.echo(f"  recommended: trial {summary['best_trial']}"
                   + (f", predicted {pred[0]:.6g} ± {pred[1]:.3g}" if pred else "")
                   + f": {summary.get('best_config')}")
    if lease:
        age = time.time() - (lease["heartbeat_at"] or 0)
        state = "running" if lease["alive"] else "stale (its process is gone)"
        click.echo(f"  lease: {state}, pid {lease['pid']} on {lease['host']}, heartbeat "
                   f"{age:.0f} s ago")
    for r in records:
        if r.status in ("running", "interrupted"):
            click.echo(f"  trial {r.trial} {r.status}: {r.config}"
                       + (f" ({r.detail})" if r.detail else ""))
    if nights:
        click.echo("  nights:")
        for n in nights:
            best = "-" if n.best_after is None else f"{n.best_after:.6g}"
            imp = "-" if n.improvement is None else f"{n.improvement:+.4g}"
            drift = "recommendation changed" if n.recommendation_changed else ""
            click.echo(f"    night {n.number}: {n.status}, {_when(n.started_at)} to "
                       f"{_when(n.ended_at)}, {n.n_trials or 0} trials, best {best}, "
                       f"improvement {imp} {drift}".rstrip())


@main.command(name="list")
@_store_option
def list_(store: str | None) -> None:
    """List every experiment in the store."""
    from bo_hpo.store import default_store_url, missing_sqlite_file

    missing = missing_sqlite_file(default_store_url() if store is None else store)
    if missing is not None:  # nothing has run yet: say so, and create nothing
        click.echo(f"no experiments: no store at {str(missing)!r} yet")
        return
    st = _open(store)
    try:
        rows = st.list_experiments()
    except StoreError as err:
        _store_fail(err)
    if not rows:
        click.echo(f"no experiments in {st.display_url}")
        return
    click.echo(f"{'name':<32} {'status':<12} {'trials':>6} {'nights':>6} {'best':>12}  updated")
    for e in rows:
        n = sum(v for k, v in e["trials"].items() if k in ("completed", "failed"))
        best = "-" if e["best_observed"] is None else f"{e['best_observed']:.6g}"
        click.echo(f"{e['name']:<32} {e['status']:<12} {n:>6} {e['nights']:>6} {best:>12}  "
                   f"{_when(e['updated_at'])}")


@main.command()
@click.argument("experiment", type=click.Path(dir_okay=False), required=False)
@click.option("--cron", "cron_expr", default="0 2 * * *", show_default=True,
              help="When to run, as a 5-field cron expression.")
@click.option("--systemd", is_flag=True, help="Write a systemd service and timer instead.")
@click.option("--kubernetes", is_flag=True, help="Print a Kubernetes CronJob manifest.")
@click.option("--list", "list_jobs", is_flag=True, help="List the installed jobs.")
@click.option("--remove", metavar="NAME", help="Remove the job of experiment NAME.")
@click.option("--crontab-file", type=click.Path(dir_okay=False),
              help="Manage entries in this file instead of the user's crontab.")
@click.option("--unit-dir", type=click.Path(file_okay=False),
              help="Where systemd units are written, listed and removed (implies --systemd; "
                   "default: ~/.config/systemd/user).")
@click.option("--image", default="bo-hpo:latest", show_default=True,
              help="--kubernetes: the container image.")
@_store_option
def schedule(experiment: str | None, cron_expr: str, systemd: bool, kubernetes: bool,
             list_jobs: bool, remove: str | None, crontab_file: str | None,
             unit_dir: str | None, image: str, store: str | None) -> None:
    """Install `bo-hpo nightly EXPERIMENT` the platform's way: a crontab entry (default),
    systemd units (--systemd), or a Kubernetes CronJob (--kubernetes, printed). Its log goes
    to a file next to the store."""
    from bo_hpo import schedule as sched
    from bo_hpo.store import default_store_url, log_path

    store = store or default_store_url()
    systemd = systemd or unit_dir is not None  # a unit directory means systemd units
    unit_path = Path(unit_dir) if unit_dir else Path.home() / ".config" / "systemd" / "user"
    cron_file = Path(crontab_file) if crontab_file else None
    try:
        if list_jobs:
            entries = (sched.list_systemd(unit_path) if systemd
                       else sched.read_crontab_entries(cron_file))
            if not entries:
                click.echo("no bo-hpo jobs installed")
            for e in entries:
                click.echo(sched.display_entry(e, store))
            return
        if remove:
            gone = (sched.remove_systemd(remove, unit_path) if systemd
                    else sched.remove_crontab(remove, cron_file))
            if not gone:
                where = unit_path if systemd else cron_file or "the crontab"
                _fail(f"no job named {remove!r} in {where}", EXIT_BAD_INPUT)
            click.echo(f"removed the job of {remove}")
            return
        if experiment is None:
            _fail("schedule needs EXPERIMENT.toml (or --list / --remove NAME)", EXIT_BAD_INPUT)
        cron = sched.validate_cron(cron_expr)
        spec = _load(experiment, None)
        if kubernetes:
            click.echo(sched.kubernetes_cronjob(spec.name, cron, experiment, image=image),
                       nl=False)
            return
        log = log_path(store, spec.name)
        log.parent.mkdir(parents=True, exist_ok=True)
        command = sched.nightly_command(Path(experiment).resolve(), store, Path.cwd(), log)
        runs = ", ".join(t.strftime("%Y-%m-%d %H:%M") for t in sched.next_runs(cron, 2))
        if systemd:
            units = sched.systemd_units(spec.name, cron, command)
            written = sched.install_systemd(spec.name, units, unit_path)
            click.echo("wrote " + ", ".join(str(p) for p in written))
            click.echo("enable it with: " + sched.systemctl_hint(spec.name))
        else:
            sched.install_crontab(spec.name, cron, command, cron_file)
            where = cron_file or "the crontab (crontab -l)"
            click.echo(f"installed in {where}: {cron} bo-hpo nightly {experiment}")
        click.echo(f"next runs: {runs}; log: {log}")
    except ConfigError as err:
        _fail(str(err), EXIT_BAD_INPUT)


def _report_path(name: str) -> Path:
    """``reports/<name>.html``; a name can't leave ``reports/``."""
    root = Path("reports").resolve()
    path = (root / f"{name}.html").resolve()
    if root != path.parent:
        _fail(f"name: {name!r} would write outside reports/", EXIT_BAD_INPUT)
    return path


def _write_report_after_run(name: str, store: str, out: str | None, out_dir: Path) -> None:
    """The HTML report of the run just finished: ``reports/<name>.html`` (with ``--out``,
    ``<out>/report.html``). A report that cannot be written is a warning, never an exit
    code: the run itself succeeded and is stored."""
    path = Path(out) / "report.html" if out else out_dir.parent / f"{name}.html"
    try:
        import bo_hpo
        from bo_hpo.report import write_report

        write_report(bo_hpo.load(name, store=store), path)
    except Exception as err:  # any failure: warn, keep the run's exit code (see docstring)
        click.echo(f"warning: the HTML report was not written: {err}", err=True)
        return
    click.echo(f"report: {path}")


@main.command()
@click.argument("name")
@click.option("-o", "--out", type=click.Path(dir_okay=False),
              help="The HTML file to write (default: reports/NAME.html).")
@_store_option
def report(name: str, out: str | None, store: str | None) -> None:
    """Write the HTML report of the stored experiment NAME: the answer first, then the run,
    the trace, what mattered, every trial, failures, nights and advice. One file with
    plotly.js embedded once; it opens offline (needs `pip install 'bo-hpo[report]'`)."""
    import bo_hpo
    from bo_hpo.report import write_report

    try:
        result = bo_hpo.load(name, store=store)
    except StoreError as err:
        _store_fail(err)
    path = Path(out) if out else _report_path(name)
    try:
        write_report(result, path)
    except ConfigError as err:
        _fail(str(err), EXIT_BAD_INPUT)
    except OSError as err:
        _fail(f"cannot write {path}: {err.strerror or err}", EXIT_BAD_INPUT)
    click.echo(f"written: {path}")


@main.command()
@click.argument("name")
@click.option("-o", "--out", type=click.Path(dir_okay=False),
              help="The experiment file to write (default: experiments/NAME_refined.toml).")
@click.option("--force", is_flag=True, help="Overwrite the file if it exists.")
@_store_option
def refine(name: str, out: str | None, force: bool, store: str | None) -> None:
    """Write the report's advice for the stored experiment NAME as a new experiment file:
    ranges widened or shifted where the best configs sit at an edge, narrowed where they
    crowd, parameters that do not matter fixed, and the recommendation as the baseline.
    The new experiment is named NAME_refined; `bo-hpo check` accepts the file."""
    import bo_hpo
    from bo_hpo.report.refine import refine_result

    path = Path(out) if out else Path("experiments") / f"{name}_refined.toml"
    if path.exists() and not force:
        _fail(f"{path} exists; pass --force to overwrite it", EXIT_BAD_INPUT)
    try:
        result = bo_hpo.load(name, store=store)
        if result.best_trial < 0:
            _fail(f"experiment {name!r} has no completed trial, so there is nothing to "
                  f"refine ({len(result.records)} trials: see `bo-hpo status {name}`)",
                  EXIT_BAD_INPUT)
        refined = refine_result(result, store=store, path=path.resolve())
    except StoreError as err:
        _store_fail(err)
    except (ConfigError, SearchSpaceError) as err:
        _fail(str(err), EXIT_BAD_INPUT)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(refined.text, encoding="utf-8")
    except OSError as err:
        _fail(f"cannot write {path}: {err.strerror or err}", EXIT_BAD_INPUT)
    click.echo(f"written: {path} (experiment {refined.name})")
    for item in refined.applied:
        click.echo(f"  {item.kind:<8} {item.message}")
    for item, why in refined.skipped:
        click.echo(f"  skipped  {item.message} ({why})")
    if not any(a.param for a in refined.applied):
        click.echo("  no range needs changing; the file differs only in its name and baseline")
    click.echo(f"check it: bo-hpo check {path}")


if __name__ == "__main__":  # pragma: no cover
    main()
