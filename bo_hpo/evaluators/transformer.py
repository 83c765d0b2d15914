"""A small nanoGPT-style character transformer on Tiny Shakespeare: validation loss as objective.

Config keys and defaults (CPU-sized; nanoGPT's "baby GPT" is 6 layers, 6 heads, 384 wide,
block 256, batch 64, dropout 0.2, lr 1e-3, 5000 steps). Missing keys take these; an unknown key
is a :class:`~bo_hpo.errors.ConfigError`::

    num_layers     4       transformer blocks
    hidden_dim     128     residual-stream width; must be divisible by num_heads
    num_heads      4       attention heads
    mlp_ratio      4       MLP hidden width = mlp_ratio * hidden_dim
    dropout        0.0     dropout on embeddings, attention output and MLP output, in [0, 1)
    learning_rate  1e-3    peak AdamW learning rate (betas 0.9, 0.99), > 0
    warmup_frac    0.05    fraction of steps warming up linearly; then cosine decay to 0
    weight_decay   0.1     AdamW decay on 2-D weights (embeddings too), not on biases or norms
    batch_size     32      sequences per step
    block_size     128     context length in characters
    steps          300     optimisation steps

Gradients are clipped to norm 1. The model is pre-LayerNorm with tied input/output embeddings and
uses ``scaled_dot_product_attention(is_causal=True)`` (flash attention on CUDA).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bo_hpo.errors import ConfigError, TrialFailed
from bo_hpo.evaluation import Evaluation
from bo_hpo.evaluators import _config as C
from bo_hpo.evaluators import _train as T
from bo_hpo.evaluators.data import TextDataset, load_shakespeare
from bo_hpo.progress import current as reporting
from bo_hpo.progress import report

logger = logging.getLogger(__name__)

NAME = "transformer_shakespeare"
DEFAULTS: dict[str, Any] = {
    "num_layers": 4,
    "hidden_dim": 128,
    "num_heads": 4,
    "mlp_ratio": 4,
    "dropout": 0.0,
    "learning_rate": 1e-3,
    "warmup_frac": 0.05,
    "weight_decay": 0.1,
    "batch_size": 32,
    "block_size": 128,
    "steps": 300,
}
#: Seed of the validation windows: fixed, so every trial is scored on the same text.
_EVAL_SEED = 1234


@dataclass(frozen=True)
class TransformerConfig:
    """A resolved, checked transformer config (see the module docstring)."""

    num_layers: int
    hidden_dim: int
    num_heads: int
    mlp_ratio: float
    dropout: float
    learning_rate: float
    warmup_frac: float
    weight_decay: float
    batch_size: int
    block_size: int
    steps: int

    @classmethod
    def from_mapping(
        cls, config: Mapping[str, Any], *, steps: int | None = None
    ) -> TransformerConfig:
        """Fill in defaults and check every value; ``steps`` (when given) overrides the config's.

        Raises:
            ConfigError: an unknown key, or a value of the wrong type or out of range.
            TrialFailed: ``"shape"`` when ``hidden_dim`` is not divisible by ``num_heads``
                (a valid point of a search space that has no model, not a user mistake).
        """
        cfg = C.merge_defaults(config, DEFAULTS, NAME)
        if steps is not None:
            cfg["steps"] = steps
        out = cls(
            num_layers=C.as_int(cfg, "num_layers", low=1),
            hidden_dim=C.as_int(cfg, "hidden_dim", low=1),
            num_heads=C.as_int(cfg, "num_heads", low=1),
            mlp_ratio=C.as_float(cfg, "mlp_ratio", low=0.0, low_open=True),
            dropout=C.as_float(cfg, "dropout", low=0.0, high=1.0, high_open=True),
            learning_rate=C.as_float(cfg, "learning_rate", low=0.0, low_open=True),
            warmup_frac=C.as_float(cfg, "warmup_frac", low=0.0, high=1.0),
            weight_decay=C.as_float(cfg, "weight_decay", low=0.0),
            batch_size=C.as_int(cfg, "batch_size", low=1),
            block_size=C.as_int(cfg, "block_size", low=1),
            steps=C.as_int(cfg, "steps", low=1),
        )
        if out.hidden_dim % out.num_heads != 0:
            raise TrialFailed(
                "shape",
                f"hidden_dim must be divisible by num_heads (each head gets hidden_dim / "
                f"num_heads dimensions), got hidden_dim={out.hidden_dim}, "
                f"num_heads={out.num_heads}",
            )
        return out


class Block(nn.Module):
    """Pre-LayerNorm block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        d, hidden = cfg.hidden_dim, max(1, round(cfg.mlp_ratio * cfg.hidden_dim))
        self.num_heads, self.dropout = cfg.num_heads, cfg.dropout
        self.ln_1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln_2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(
            nn.Linear(d, hidden), nn.GELU(), nn.Linear(hidden, d), nn.Dropout(cfg.dropout)
        )
        self.resid_drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln_1(x)).split(d, dim=2)
        q, k, v = (
            z.view(b, t, self.num_heads, d // self.num_heads).transpose(1, 2) for z in (q, k, v)
        )
        y = F.scaled_dot_product_attention(
            q, k, v, is_causal=True, dropout_p=self.dropout if self.training else 0.0
        )
        x = x + self.resid_drop(self.proj(y.transpose(1, 2).reshape(b, t, d)))
        return x + self.mlp(self.ln_2(x))


class CharGPT(nn.Module):
    """Decoder-only transformer over characters; returns logits ``(batch, time, vocab)``."""

    def __init__(self, cfg: TransformerConfig, vocab_size: int) -> None:
        super().__init__()
        self.tok = nn.Embedding(vocab_size, cfg.hidden_dim)
        self.pos = nn.Embedding(cfg.block_size, cfg.hidden_dim)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.num_layers))
        self.ln_f = nn.LayerNorm(cfg.hidden_dim)
        self.head = nn.Linear(cfg.hidden_dim, vocab_size, bias=False)
        self.head.weight = self.tok.weight  # weight tying, as in GPT-2 / nanoGPT
        self.apply(self._init)
        for name, p in self.named_parameters():  # GPT-2's scaled init of residual projections
            if name.endswith("proj.weight") or name.endswith("mlp.2.weight"):
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * cfg.num_layers))

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(idx.shape[1], device=idx.device)
        x = self.drop(self.tok(idx) + self.pos(pos))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))


def make_optimizer(cfg: TransformerConfig, model: nn.Module) -> torch.optim.AdamW:
    """AdamW with decay on matrices only (nanoGPT's rule: 2-D parameters decay, others do not)."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    fused = next(model.parameters()).is_cuda
    return torch.optim.AdamW(groups, lr=cfg.learning_rate, betas=(0.9, 0.99), fused=fused)


def _batch(
    ids: torch.Tensor, starts: torch.Tensor, block_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and next-character targets for windows starting at ``starts``."""
    offsets = starts[:, None] + torch.arange(block_size + 1, device=ids.device)
    window = ids[offsets]
    return window[:, :-1], window[:, 1:]


def _fit(
    cfg: TransformerConfig,
    train_ids: torch.Tensor,
    vocab_size: int,
    *,
    device: torch.device,
    gen: torch.Generator,
    deadline: T.Deadline,
) -> tuple[CharGPT, float]:
    """Train a fresh model for ``cfg.steps`` steps; return it and its last training loss."""
    model = CharGPT(cfg, vocab_size).to(device)
    optimizer = make_optimizer(cfg, model)
    warmup_steps = round(cfg.warmup_frac * cfg.steps)
    guard = T.DivergenceGuard(NAME, device)
    high = len(train_ids) - cfg.block_size - 1
    # All batch offsets are drawn up front on the CPU generator: one transfer, no per-step sync.
    all_starts = torch.randint(0, high + 1, (cfg.steps, cfg.batch_size), generator=gen).to(device)
    model.train()
    every = max(1, cfg.steps // 10)  # ten reports a run: each loss read is a device sync
    listening = reporting() is not None
    for step in range(cfg.steps):
        deadline.check(step)
        T.set_lr(optimizer, cfg.learning_rate * T.warmup_cosine(step, cfg.steps, warmup_steps))
        x, y = _batch(train_ids, all_starts[step], cfg.block_size)
        with T.autocast(device):
            logits = model(x)
        loss = F.cross_entropy(logits.float().view(-1, logits.shape[-1]), y.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        guard.observe(step, loss)
        if listening and ((step + 1) % every == 0 or step + 1 == cfg.steps):
            report(step + 1, float(loss.detach()), cfg.steps)
    return model, guard.final(cfg.steps - 1, loss)


@torch.no_grad()
def _score(
    model: CharGPT,
    ids: torch.Tensor,
    cfg: TransformerConfig,
    eval_batches: int,
    device: torch.device,
) -> tuple[float, float]:
    """Mean loss (nats/char) over ``eval_batches`` batches of fixed random validation windows,
    and the standard error of that mean across batches (std of batch means / sqrt(batches))."""
    model.eval()
    gen = torch.Generator().manual_seed(_EVAL_SEED)
    high = len(ids) - cfg.block_size - 1
    starts = torch.randint(0, high + 1, (eval_batches, cfg.batch_size), generator=gen).to(device)
    batch_means = []
    for b in range(eval_batches):
        x, y = _batch(ids, starts[b], cfg.block_size)
        with T.autocast(device):
            logits = model(x)
        batch_means.append(
            F.cross_entropy(logits.float().view(-1, logits.shape[-1]), y.reshape(-1))
        )
    model.train()
    means = torch.stack(batch_means)
    sem = float(means.std()) / math.sqrt(eval_batches) if eval_batches > 1 else math.nan
    return float(means.mean()), sem


def _check_lengths(data: TextDataset, cfg: TransformerConfig) -> None:
    shortest = min(len(data.train_ids), len(data.val_ids))
    if cfg.block_size + 1 > shortest:
        raise TrialFailed(
            "shape",
            f"block_size + 1 must fit in the shortest split, got block_size={cfg.block_size} "
            f"with {shortest} characters",
        )


def _train_and_score(
    cfg: TransformerConfig,
    data: TextDataset,
    *,
    seed: int,
    dev: torch.device,
    deadline: T.Deadline,
    eval_batches: int,
) -> Evaluation:
    _check_lengths(data, cfg)

    def run() -> Evaluation:
        train_ids = torch.from_numpy(data.train_ids).to(dev)
        val_ids = torch.from_numpy(data.val_ids).to(dev)
        t0 = time.perf_counter()
        model, train_loss = _fit(
            cfg, train_ids, data.vocab_size, device=dev, gen=gen, deadline=deadline
        )
        T.synchronize(dev)
        train_seconds = time.perf_counter() - t0
        val_loss, val_sem = _score(model, val_ids, cfg, eval_batches, dev)
        tokens = cfg.steps * cfg.batch_size * cfg.block_size
        return Evaluation(
            mean=val_loss,
            sem=val_sem,
            metrics={"train_loss": (train_loss, None)},
            metadata={
                "seconds": deadline.elapsed(),
                "train_seconds": train_seconds,
                "seconds_per_step": train_seconds / cfg.steps,
                "steps_run": cfg.steps,
                "n_params": T.count_params(model),
                "peak_memory_bytes": T.peak_memory_bytes(dev),
                "device": str(dev),
                "tokens_per_second": tokens / max(train_seconds, 1e-9),
                "eval_batches": eval_batches,
                "seed": seed,
                "config": asdict(cfg),
            },
        )

    with T.training_session(dev, seed) as gen:
        return T.guard_oom(run, device=dev, what=NAME)


def evaluate(
    config: Mapping[str, Any],
    *,
    data: TextDataset | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    steps: int | None = None,
    time_limit: float | None = None,
    eval_batches: int = 20,
) -> Evaluation:
    """Train on the first 90% of the text, score on the last 10%.

    Args:
        config: hyperparameters (see the module docstring); missing keys take the defaults.
        data: the corpus; ``None`` loads the embedded Tiny Shakespeare.
        seed: seed of initialisation, dropout and batch order (not of the validation windows,
            which are fixed so that every trial is scored on the same text).
        device: ``"cpu"``, ``"cuda"``, ...; ``None`` picks CUDA when available.
        steps: overrides ``config["steps"]`` (a fidelity knob); ``None`` keeps it.
        time_limit: wall-clock seconds allowed for the whole call; ``None`` means no limit.
        eval_batches: validation batches of ``batch_size`` random windows of ``block_size``.

    Returns:
        ``mean`` = validation cross-entropy in nats per character; ``sem`` = the standard error
        of that mean across the ``eval_batches`` batches (the std of the batch means over
        sqrt(eval_batches)): the noise of scoring on sampled windows, not seed-to-seed noise.

    Raises:
        ConfigError: a bad config key or value, or an unavailable device.
        TrialFailed: ``"shape"`` (hidden_dim % num_heads != 0, raised before anything is built
            or loaded), ``"diverged"``, ``"timeout"`` or ``"out_of_memory"``.
    """
    cfg = TransformerConfig.from_mapping(config, steps=steps)
    if eval_batches < 1:
        raise ConfigError(f"eval_batches must be >= 1, got {eval_batches!r}")
    dev = T.resolve_device(device)
    deadline = T.Deadline(time_limit, NAME)
    data = load_shakespeare() if data is None else data
    result = _train_and_score(
        cfg, data, seed=seed, dev=dev, deadline=deadline, eval_batches=eval_batches
    )
    logger.info(
        "%s: val loss %.4f ± %.4f nats/char in %.1f s",
        NAME,
        result.mean,
        result.sem or 0.0,
        result.metadata["seconds"],
    )
    return result


def final_eval(
    config: Mapping[str, Any],
    *,
    data: TextDataset,
    seed: int = 0,
    device: str | torch.device | None = None,
    steps: int | None = None,
    eval_batches: int = 100,
) -> dict[str, Any]:
    """Retrain with ``seed`` and score on the held-out last 10% of the text.

    Tiny Shakespeare has no test split, so this scores on the same validation text that tuning
    used (with more batches by default): it is an optimistically biased estimate, not a test
    score. Returns ``val_loss``, ``val_loss_sem``, ``seconds``, ``device``, ``seed``,
    ``config`` and ``held_out="validation (no test split)"``.
    """
    cfg = TransformerConfig.from_mapping(config, steps=steps)
    dev = T.resolve_device(device)
    ev = _train_and_score(
        cfg, data, seed=seed, dev=dev, deadline=T.Deadline(None, NAME), eval_batches=eval_batches
    )
    return {
        "val_loss": ev.mean,
        "val_loss_sem": ev.sem,
        "held_out": "validation (no test split)",
        "seconds": ev.metadata["seconds"],
        "device": ev.metadata["device"],
        "seed": seed,
        "config": ev.metadata["config"],
    }
