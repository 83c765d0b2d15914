"""An MLP on Fashion-MNIST: validation error rate as the objective.

Config keys and defaults (the baseline of the MLP search space; missing keys take these, and an
unknown key is a :class:`~bo_hpo.errors.ConfigError`, since a typo would otherwise silently
tune nothing)::

    learning_rate   3e-4      peak learning rate (after warmup), > 0
    batch_size      128       examples per step
    hidden_dim      512       width of every hidden layer
    num_layers      4         number of hidden layers (0 = multinomial logistic regression)
    dropout         0.1       dropout after every hidden activation, in [0, 1)
    optimizer       "AdamW"   "SGD", "Adam" or "AdamW" (case-insensitive)
    weight_decay    1e-2      L2 penalty (SGD, Adam) or decoupled decay (AdamW), >= 0
    momentum        0.9       SGD only; ignored by Adam and AdamW
    activation      "relu"    "relu", "gelu" or "tanh"
    normalization   "none"    "none", "batch" (BatchNorm1d) or "layer" (LayerNorm), before the
                              activation
    epochs          10        passes over the training part
    warmup_frac     0.0       fraction of all steps spent warming the learning rate up linearly;
                              the rest decays it to 0 along a cosine
    label_smoothing 0.0       cross-entropy label smoothing, in [0, 1)

Inputs are pixels scaled to [0, 1] and standardised with the mean and standard deviation of the
images trained on. Batches are drawn by index from tensors kept on the device (no DataLoader).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bo_hpo.evaluation import Evaluation
from bo_hpo.evaluators import _config as C
from bo_hpo.evaluators import _train as T
from bo_hpo.evaluators.data import ImageDataset, load_fashion_mnist
from bo_hpo.progress import current as reporting
from bo_hpo.progress import report

logger = logging.getLogger(__name__)

NAME = "mlp_fashion"
DEFAULTS: dict[str, Any] = {
    "learning_rate": 3e-4,
    "batch_size": 128,
    "hidden_dim": 512,
    "num_layers": 4,
    "dropout": 0.1,
    "optimizer": "AdamW",
    "weight_decay": 1e-2,
    "momentum": 0.9,
    "activation": "relu",
    "normalization": "none",
    "epochs": 10,
    "warmup_frac": 0.0,
    "label_smoothing": 0.0,
}
_ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh}
_NORMS = {"none": None, "batch": nn.BatchNorm1d, "layer": nn.LayerNorm}
_EVAL_BATCH = 4096


@dataclass(frozen=True)
class MLPConfig:
    """A resolved, checked MLP config (see the module docstring for meanings and defaults)."""

    learning_rate: float
    batch_size: int
    hidden_dim: int
    num_layers: int
    dropout: float
    optimizer: str
    weight_decay: float
    momentum: float
    activation: str
    normalization: str
    epochs: int
    warmup_frac: float
    label_smoothing: float

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any], *, epochs: int | None = None) -> MLPConfig:
        """Fill in defaults and check every value; ``epochs`` (when given) overrides the config's.

        Raises:
            ConfigError: an unknown key, or a value of the wrong type or out of range.
        """
        cfg = C.merge_defaults(config, DEFAULTS, NAME)
        if epochs is not None:
            cfg["epochs"] = epochs
        return cls(
            learning_rate=C.as_float(cfg, "learning_rate", low=0.0, low_open=True),
            batch_size=C.as_int(cfg, "batch_size", low=1),
            hidden_dim=C.as_int(cfg, "hidden_dim", low=1),
            num_layers=C.as_int(cfg, "num_layers", low=0),
            dropout=C.as_float(cfg, "dropout", low=0.0, high=1.0, high_open=True),
            optimizer=C.as_choice(cfg, "optimizer", ("SGD", "Adam", "AdamW")),
            weight_decay=C.as_float(cfg, "weight_decay", low=0.0),
            momentum=C.as_float(cfg, "momentum", low=0.0, high=1.0, high_open=True),
            activation=C.as_choice(cfg, "activation", tuple(_ACTIVATIONS)),
            normalization=C.as_choice(cfg, "normalization", tuple(_NORMS)),
            epochs=C.as_int(cfg, "epochs", low=1),
            warmup_frac=C.as_float(cfg, "warmup_frac", low=0.0, high=1.0),
            label_smoothing=C.as_float(cfg, "label_smoothing", low=0.0, high=1.0, high_open=True),
        )


def build_model(cfg: MLPConfig, in_dim: int = 784, num_classes: int = 10) -> nn.Sequential:
    """``num_layers`` × (Linear → [norm] → activation → [dropout]), then a Linear head.

    Layers that would do nothing (dropout 0, no normalization) are left out rather than added
    as identities, so the model costs what a hand-written one would.
    """
    layers: list[nn.Module] = []
    width = in_dim
    norm = _NORMS[cfg.normalization]
    for _ in range(cfg.num_layers):
        layers.append(nn.Linear(width, cfg.hidden_dim))
        if norm is not None:
            layers.append(norm(cfg.hidden_dim))
        layers.append(_ACTIVATIONS[cfg.activation]())
        if cfg.dropout > 0:
            layers.append(nn.Dropout(cfg.dropout))
        width = cfg.hidden_dim
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


def make_optimizer(cfg: MLPConfig, model: nn.Module) -> torch.optim.Optimizer:
    params = model.parameters()
    lr, wd = cfg.learning_rate, cfg.weight_decay
    if cfg.optimizer == "SGD":
        return torch.optim.SGD(params, lr=lr, momentum=cfg.momentum, weight_decay=wd)
    if cfg.optimizer == "Adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    return torch.optim.AdamW(params, lr=lr, weight_decay=wd)


def _to_device(
    x: np.ndarray, y: np.ndarray, stats: tuple[float, float], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images → standardised float32 ``(n, 784)`` on ``device``; labels → int64."""
    mean, std = stats
    xt = torch.from_numpy(np.ascontiguousarray(x).reshape(len(x), -1)).to(device)
    xt = (xt.float().div_(255.0) - mean) / std
    return xt, torch.from_numpy(y.astype(np.int64)).to(device)


def _pixel_stats(x: np.ndarray) -> tuple[float, float]:
    scaled = x.astype(np.float32) / 255.0
    return float(scaled.mean()), float(scaled.std()) or 1.0


def _fit(
    cfg: MLPConfig,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    device: torch.device,
    gen: torch.Generator,
    deadline: T.Deadline,
) -> tuple[nn.Module, float, int]:
    """Train a fresh model on ``(x, y)``; return it, the last training loss and the step count."""
    model = build_model(cfg, in_dim=x.shape[1]).to(device)
    optimizer = make_optimizer(cfg, model)
    n, bs = len(x), cfg.batch_size
    # A trailing batch of one example is dropped: BatchNorm cannot train on it.
    starts = [s for s in range(0, n, bs) if min(bs, n - s) > 1 or n == 1]
    total_steps = cfg.epochs * len(starts)
    warmup_steps = round(cfg.warmup_frac * total_steps)
    guard = T.DivergenceGuard(NAME, device)
    model.train()
    step = 0
    for _epoch in range(cfg.epochs):
        order = torch.randperm(n, generator=gen).to(device)
        for start in starts:
            deadline.check(step)
            T.set_lr(
                optimizer, cfg.learning_rate * T.warmup_cosine(step, total_steps, warmup_steps)
            )
            idx = order[start : start + bs]
            with T.autocast(device):
                logits = model(x[idx])
            loss = F.cross_entropy(logits.float(), y[idx], label_smoothing=cfg.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            guard.observe(step, loss)
            step += 1
        if reporting():  # one report an epoch: the loss read costs a device sync
            report(_epoch + 1, float(loss.detach()), cfg.epochs)
    last_loss = guard.final(step - 1, loss)
    return model, last_loss, step


@torch.no_grad()
def _score(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, device: torch.device
) -> tuple[float, float, float]:
    """Error rate, mean cross-entropy and that mean's standard error over ``(x, y)``."""
    model.eval()
    wrong = torch.zeros((), device=device)
    losses = []
    for start in range(0, len(x), _EVAL_BATCH):
        xb, yb = x[start : start + _EVAL_BATCH], y[start : start + _EVAL_BATCH]
        with T.autocast(device):
            logits = model(xb).float()
        wrong += (logits.argmax(dim=1) != yb).sum()
        losses.append(F.cross_entropy(logits, yb, reduction="none"))
    model.train()
    per_example = torch.cat(losses)
    n = len(per_example)
    loss_sem = float(per_example.std()) / math.sqrt(n) if n > 1 else math.nan
    return float(wrong) / n, float(per_example.mean()), loss_sem


def binomial_sem(p: float, n: int) -> float:
    """Standard error of an error rate ``p`` measured on ``n`` independent examples."""
    return math.sqrt(p * (1.0 - p) / n)


def evaluate(
    config: Mapping[str, Any],
    *,
    data: ImageDataset | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    epochs: int | None = None,
    time_limit: float | None = None,
) -> Evaluation:
    """Train on the training part, score on the validation part; the test set is never read.

    Args:
        config: hyperparameters (see the module docstring); missing keys take the defaults.
        data: the dataset; ``None`` loads the embedded subset with split seed 0 (the split is
            kept fixed across trials, whatever ``seed`` is, so that trials are comparable).
        seed: seed of initialisation, dropout and batch order.
        device: ``"cpu"``, ``"cuda"``, ...; ``None`` picks CUDA when available.
        epochs: overrides ``config["epochs"]`` (a fidelity knob for the tuner); ``None`` keeps it.
        time_limit: wall-clock seconds allowed for the whole call; ``None`` means no limit.

    Returns:
        ``mean`` = validation error rate, ``sem`` = its binomial standard error
        ``sqrt(p (1 - p) / n_val)``; ``metrics`` holds ``val_loss`` and ``train_loss``;
        ``metadata`` holds seconds, epochs_run, n_params, peak_memory_bytes, device,
        samples_per_second, n_train, n_val and the resolved config.

    Raises:
        ConfigError: a bad config key or value, or an unavailable device.
        TrialFailed: ``"diverged"``, ``"timeout"`` or ``"out_of_memory"``.
    """
    cfg = MLPConfig.from_mapping(config, epochs=epochs)
    dev = T.resolve_device(device)
    deadline = T.Deadline(time_limit, NAME)
    data = load_fashion_mnist() if data is None else data

    def run() -> Evaluation:
        stats = _pixel_stats(data.x_train)
        x_tr, y_tr = _to_device(data.x_train, data.y_train, stats, dev)
        x_val, y_val = _to_device(data.x_val, data.y_val, stats, dev)
        t0 = time.perf_counter()
        model, train_loss, steps = _fit(cfg, x_tr, y_tr, device=dev, gen=gen, deadline=deadline)
        T.synchronize(dev)
        train_seconds = time.perf_counter() - t0
        err, val_loss, val_loss_sem = _score(model, x_val, y_val, dev)
        n_val = len(y_val)
        return Evaluation(
            mean=err,
            sem=binomial_sem(err, n_val),
            metrics={"val_loss": (val_loss, val_loss_sem), "train_loss": (train_loss, None)},
            metadata={
                "seconds": deadline.elapsed(),
                "train_seconds": train_seconds,
                "epochs_run": cfg.epochs,
                "steps": steps,
                "n_params": T.count_params(model),
                "peak_memory_bytes": T.peak_memory_bytes(dev),
                "device": str(dev),
                "samples_per_second": cfg.epochs * len(y_tr) / max(train_seconds, 1e-9),
                "n_train": len(y_tr),
                "n_val": n_val,
                "seed": seed,
                "config": asdict(cfg),
            },
        )

    with T.training_session(dev, seed) as gen:
        result = T.guard_oom(run, device=dev, what=NAME)
    logger.info(
        "%s: val error %.4f ± %.4f in %.1f s",
        NAME,
        result.mean,
        result.sem or 0.0,
        result.metadata["seconds"],
    )
    return result


def final_eval(
    config: Mapping[str, Any],
    *,
    data: ImageDataset,
    seed: int = 0,
    device: str | torch.device | None = None,
    epochs: int | None = None,
) -> dict[str, Any]:
    """Retrain on all the training data (train + validation parts) and score once on the test set.

    Call this once, after tuning, with the chosen config: it is the only function that reads
    the test set (``data.test()``).

    Returns:
        ``test_error`` and ``test_error_sem`` (binomial), ``test_loss``, ``n_train``, ``n_test``,
        ``seconds``, ``device``, ``seed`` and the resolved ``config``.

    Raises:
        ConfigError, TrialFailed: as :func:`evaluate`.
    """
    cfg = MLPConfig.from_mapping(config, epochs=epochs)
    dev = T.resolve_device(device)
    deadline = T.Deadline(None, f"{NAME} final")
    x_full, y_full = data.full_train()

    def run() -> dict[str, Any]:
        stats = _pixel_stats(x_full)
        x_tr, y_tr = _to_device(x_full, y_full, stats, dev)
        model, _, _ = _fit(cfg, x_tr, y_tr, device=dev, gen=gen, deadline=deadline)
        x_test_np, y_test_np = data.test()
        x_test, y_test = _to_device(x_test_np, y_test_np, stats, dev)
        err, loss, _ = _score(model, x_test, y_test, dev)
        return {
            "test_error": err,
            "test_error_sem": binomial_sem(err, len(y_test)),
            "test_loss": loss,
            "n_train": len(y_tr),
            "n_test": len(y_test),
            "seconds": deadline.elapsed(),
            "device": str(dev),
            "seed": seed,
            "config": asdict(cfg),
        }

    with T.training_session(dev, seed) as gen:
        return T.guard_oom(run, device=dev, what=f"{NAME} final")
