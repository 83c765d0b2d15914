"""Evaluators: functions that train one model for one config and return an ``Evaluation``.

Importing this package is cheap: torch and numpy are imported only when an evaluator's function
is first called. Evaluators never import Ax.

Example::

    ev = get_evaluator("mlp_fashion")
    data = ev.load_data(None, seed=0)          # None: the embedded subset
    result = ev.evaluate({"learning_rate": 1e-3}, data=data, seed=0)
    print(result.mean, result.sem)             # validation error rate and its SEM
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bo_hpo.errors import ConfigError


@dataclass(frozen=True)
class EvaluatorEntry:
    """One registered evaluator, by name; its functions import torch when first called.

    Attributes:
        name: the registry name.
        objective: what ``Evaluation.mean`` measures (lower is better for both evaluators).
        module: the module holding ``evaluate``, ``final_eval`` and ``DEFAULTS``.
        final_eval_scores_on: ``"test"`` or ``"validation"`` (no test split exists).
    """

    name: str
    objective: str
    module: str
    final_eval_scores_on: str

    def _module(self) -> Any:
        return importlib.import_module(self.module)

    def load_data(self, data_dir: str | Path | None = None, seed: int = 0) -> Any:
        """Load this evaluator's dataset; ``data_dir=None`` uses the embedded copy.

        ``seed`` seeds Fashion-MNIST's train/validation split; Tiny Shakespeare's split is by
        position, so there it is ignored.
        """
        from bo_hpo.evaluators import data

        if self.name == "mlp_fashion":
            return data.load_fashion_mnist(data_dir, seed=seed)
        return data.load_shakespeare(data_dir)

    @property
    def evaluate(self) -> Callable[..., Any]:
        return self._module().evaluate

    @property
    def final_eval(self) -> Callable[..., Any]:
        return self._module().final_eval

    @property
    def defaults(self) -> dict[str, Any]:
        """The baseline config: every key ``evaluate`` accepts, with its default."""
        return dict(self._module().DEFAULTS)

    def check_config(self, config: dict[str, Any]) -> None:
        """Raise ConfigError, naming the key, if ``evaluate`` would refuse ``config`` (an
        unknown key, a value of the wrong type or out of range); trains nothing. A shape
        the model cannot take (``hidden_dim % num_heads``) is a trial failure, not a form
        error, so it passes here."""
        from bo_hpo.errors import TrialFailed

        module = self._module()
        cls = getattr(module, "MLPConfig", None) or module.TransformerConfig
        try:
            cls.from_mapping(config)
        except TrialFailed:
            pass


_REGISTRY = {
    "mlp_fashion": EvaluatorEntry(
        name="mlp_fashion",
        objective="validation error rate (fraction misclassified)",
        module="bo_hpo.evaluators.mlp",
        final_eval_scores_on="test",
    ),
    "transformer_shakespeare": EvaluatorEntry(
        name="transformer_shakespeare",
        objective="validation cross-entropy (nats per character)",
        module="bo_hpo.evaluators.transformer",
        final_eval_scores_on="validation",
    ),
}


def available_evaluators() -> tuple[str, ...]:
    """Names accepted by :func:`get_evaluator`."""
    return tuple(_REGISTRY)


@dataclass(frozen=True)
class FunctionEvaluator:
    """An objective named ``"package.module:function"`` in an experiment file: called with
    the config, returning what ``tune``'s objective returns. It has no data of its own and
    no final evaluation; being importable, it can also run in worker processes."""

    name: str
    objective: str = "the objective's value"
    final_eval_scores_on: str = "validation"
    final_eval: Any = None

    @property
    def function(self) -> Callable[[dict[str, Any]], Any]:
        import inspect
        import sys

        module_name, _, attr = self.name.partition(":")
        if not module_name or not attr or not all(
                part.isidentifier() for part in module_name.split(".")) or not attr.isidentifier():
            raise ConfigError(f"evaluator {self.name!r}: expected 'package.module:function'")
        if module_name.split(".")[0] in sys.stdlib_module_names:
            raise ConfigError(f"evaluator {self.name!r}: a function of the standard library is "
                              f"not an objective; name a function of your own code")
        _cwd_importable()
        try:
            module = importlib.import_module(module_name)
        except ImportError as err:
            raise ConfigError(f"evaluator {self.name!r}: cannot import {module_name!r}: "
                              f"{err}") from None
        except Exception as err:  # the module itself fails: say where, not a traceback
            raise ConfigError(f"evaluator {self.name!r}: importing {module_name!r} failed: "
                              f"{_where(err)}{type(err).__name__}: {err}") from None
        try:
            fn = getattr(module, attr)
        except AttributeError:
            raise ConfigError(f"evaluator {self.name!r}: module {module_name!r} has no "
                              f"{attr!r}") from None
        if not callable(fn) or inspect.isclass(fn) or inspect.isbuiltin(fn):
            raise ConfigError(f"evaluator {self.name!r}: {attr!r} is not a function of the "
                              f"config")
        return fn

    def load_data(self, data_dir: str | Path | None = None, seed: int = 0) -> Any:
        return None

    @property
    def evaluate(self) -> Callable[..., Any]:
        fn = self.function

        def evaluate(config: dict[str, Any], **_: Any) -> Any:
            return fn(config)

        return evaluate

    @property
    def defaults(self) -> dict[str, Any]:
        return {}

    def check_config(self, config: dict[str, Any]) -> None:
        """A plain function declares no keys: nothing to check before it runs."""


def _cwd_importable() -> None:
    """Put the working directory first on ``sys.path``, as ``python -m bo_hpo.cli`` (what
    ``bo-hpo schedule`` installs) does and the ``bo-hpo`` script does not, so that
    ``evaluator = "mymodule:fn"`` finds ``./mymodule.py`` both ways."""
    import os
    import sys

    cwd = os.getcwd()
    if "" not in sys.path and cwd not in sys.path:
        sys.path.insert(0, cwd)


def _where(err: BaseException) -> str:
    """``"file.py:3: "``: where an import failed (a syntax error's own line, else the
    innermost frame), or empty when unknown."""
    import traceback

    if isinstance(err, SyntaxError) and err.filename:
        return f"{err.filename}:{err.lineno}: "
    frames = traceback.extract_tb(err.__traceback__)
    return f"{frames[-1].filename}:{frames[-1].lineno}: " if frames else ""


def get_evaluator(name: str) -> EvaluatorEntry | FunctionEvaluator:
    """The evaluator registered under ``name``, or a function named
    ``"package.module:function"``.

    Raises:
        ConfigError: no evaluator has that name, or the function cannot be imported.
    """
    if isinstance(name, str) and ":" in name:
        entry = FunctionEvaluator(name)
        entry.function  # noqa: B018 - import now, so a bad name fails before any trial
        return entry
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ConfigError(
            f"evaluator must be one of {sorted(_REGISTRY)} or 'package.module:function', "
            f"got {name!r}"
        ) from None


__all__ = ["EvaluatorEntry", "FunctionEvaluator", "available_evaluators", "get_evaluator"]
