"""Synthetic, HPO-shaped test problems for the search-quality benchmark.

Every problem is a small :class:`Problem`: a ``bo_hpo`` search-space dict, a list of
constraint strings, a noiseless ``true(config)`` (a "validation loss" to minimise), a noisy
``observe(config, rng) -> (mean, sem)`` whose noise is heteroscedastic, and the exact optimum
value with one configuration that attains it.

The losses are built as ``base + S * (1 - exp(-q / S)) + cliff`` where ``q >= 0`` is a
(mostly non-separable) quadratic in log-learning-rate, log-weight-decay, width, ... that is
zero at the optimum, ``S`` saturates bad configurations at a "did not learn" level and
``cliff`` is a divergence penalty that is exactly zero below a threshold. The saturation is
monotone, so the optimum of the loss is the optimum of ``q``; each optimum is either exact
by construction or found by enumeration / a KKT solve, and :func:`check_problem` verifies it
against dense random search and local perturbation.

This module depends on numpy only (no Ax, no torch) so that the benchmark's parent process
stays light and the problems can be imported anywhere. Two REAL problems (scikit-learn
cross-validation, ``svc_digits`` and ``gbm_cv``, see ``real_problems.py``) are registered
too, with factories that import scikit-learn only when they are called; their optimum comes
from an offline reference search, not from construction.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Config = Mapping[str, Any]

#: Loss reported for configurations that cannot be trained (e.g. hidden_dim % num_heads != 0)
#: and used as the value of an infeasible or missing recommendation.
WORST = 2.5


# --------------------------------------------------------------------------------------
# helpers


def _sat(q: float, s: float = 1.5) -> float:
    """Monotone saturation of a non-negative penalty: ~q for small q, -> s for large q."""
    return s * (1.0 - math.exp(-q / s))


def _cliff(excess: float, height: float = 2.0, width: float = 0.3) -> float:
    """Divergence penalty: exactly 0 for ``excess <= 0``, rising to ``height`` over ``width``."""
    if excess <= 0.0:
        return 0.0
    return height * min(1.0, excess / width) ** 2


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


_CONSTRAINT_RE = re.compile(r"^(.*?)(<=|>=|==)(.*)$")


def constraint_holds(constraint: str, config: Config, tol: float = 1e-6) -> bool:
    """Evaluate one constraint string (``"a + b <= 0.9"``, ``"h % k == 0"``) on a config.

    Only used on this module's own constraint strings. Inequalities get a small tolerance
    (generators return points on the boundary up to rounding).
    """
    m = _CONSTRAINT_RE.match(constraint.strip())
    if m is None:
        raise ValueError(f"cannot parse constraint {constraint!r}")
    lhs, op, rhs = m.groups()
    env = {"__builtins__": {}}
    a = eval(lhs, env, dict(config))  # noqa: S307 - trusted, module-local strings
    b = eval(rhs, env, dict(config))  # noqa: S307
    if op == "<=":
        return a - b <= tol
    if op == ">=":
        return a - b >= -tol
    return abs(a - b) <= tol


def is_linear_constraint(constraint: str) -> bool:
    """True for a linear inequality that Ax's ``parameter_constraints`` accepts."""
    m = _CONSTRAINT_RE.match(constraint.strip())
    if m is None or m.group(2) not in ("<=", ">="):
        return False
    return "%" not in constraint and "/" not in constraint


def spec_kind(spec: Any) -> str:
    return spec[0]


def spec_condition(spec: Any) -> dict[str, list[Any]] | None:
    """The ``{"when": {...}}`` condition of a tuple spec, if any (last element, a dict)."""
    if isinstance(spec, tuple) and spec and isinstance(spec[-1], dict):
        return spec[-1].get("when")
    return None


def is_active(spec: Any, config: Config) -> bool:
    cond = spec_condition(spec)
    if not cond:
        return True
    return all(config.get(parent) in values for parent, values in cond.items())


def active_config(space: Mapping[str, Any], params: Config) -> dict[str, Any]:
    """Reduce a flat parameterisation to what the objective sees: active params plus fixed.

    Flat tools (Ax, random search without conditions) propose every parameter; this drops
    the conditional ones whose condition is false, and adds ``("fixed", v)`` values.
    """
    out: dict[str, Any] = {}
    for name, spec in space.items():
        if spec_kind(spec) == "fixed":
            out[name] = spec[1]
    for name, spec in space.items():
        if spec_kind(spec) == "fixed":
            continue
        if name in params and is_active(spec, {**out, **params}):
            out[name] = params[name]
    return out


def sample_config(space: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    """One uniform draw from a bo_hpo space dict (log-uniform for log kinds), active only."""
    cfg: dict[str, Any] = {}
    for name, spec in space.items():
        kind = spec_kind(spec)
        if not is_active(spec, cfg):
            continue
        if kind == "fixed":
            cfg[name] = spec[1]
        elif kind == "uniform":
            cfg[name] = float(rng.uniform(spec[1], spec[2]))
        elif kind == "log_uniform":
            cfg[name] = float(math.exp(rng.uniform(math.log(spec[1]), math.log(spec[2]))))
        elif kind == "int":
            cfg[name] = int(rng.integers(spec[1], spec[2] + 1))
        elif kind == "log_int":
            lo, hi = math.log(spec[1] - 0.5), math.log(spec[2] + 0.5)
            v = int(round(math.exp(rng.uniform(lo, hi))))
            cfg[name] = min(max(v, spec[1]), spec[2])
        elif kind in ("choice", "ordered"):
            values = list(spec[1])
            cfg[name] = values[int(rng.integers(len(values)))]
        else:
            raise ValueError(f"unknown spec kind {kind!r} for {name}")
    return cfg


# --------------------------------------------------------------------------------------
# the problem type


@dataclass
class Problem:
    """One synthetic HPO problem (minimise ``true``)."""

    name: str
    description: str
    space: dict[str, Any]
    true_fn: Callable[[Config], float]
    noise_sd_fn: Callable[[Config], float]
    optimum: float
    argmin: dict[str, Any]
    constraints: list[str] = field(default_factory=list)
    is_valid: Callable[[Config], bool] | None = None

    # -- evaluation -------------------------------------------------------------------

    def feasible(self, config: Config) -> bool:
        """All constraint strings hold and ``is_valid`` (if any) accepts the config."""
        try:
            if not all(constraint_holds(c, config) for c in self.constraints):
                return False
        except (KeyError, NameError, TypeError, ZeroDivisionError):
            return False
        return self.is_valid is None or bool(self.is_valid(config))

    def true(self, config: Config) -> float:
        """Noiseless loss; ``WORST`` for an infeasible configuration."""
        cfg = active_config(self.space, config)
        if not self.feasible(cfg):
            return WORST
        return float(self.true_fn(cfg))

    def noise_sd(self, config: Config) -> float:
        return float(self.noise_sd_fn(active_config(self.space, config)))

    def observe(self, config: Config, rng: np.random.Generator) -> tuple[float, float]:
        """One noisy measurement ``(mean, sem)``; ``sem`` is the true noise sd."""
        sd = self.noise_sd(config)
        return self.true(config) + sd * float(rng.standard_normal()), sd

    def regret(self, config: Config | None) -> float:
        if config is None:
            return WORST - self.optimum
        return self.true(config) - self.optimum

    @property
    def linear_constraints(self) -> list[str]:
        return [c for c in self.constraints if is_linear_constraint(c)]

    @property
    def nonlinear_constraints(self) -> list[str]:
        return [c for c in self.constraints if not is_linear_constraint(c)]


# --------------------------------------------------------------------------------------
# (a) optimizer x lr x weight decay


_OPT_LR_WD = {
    # base, log10 lr centre, log10 wd centre, a (lr), b (wd), c (cross), log10 lr divergence
    "SGD": (0.26, -1.0, -3.3, 0.06, 0.02, 0.025, -0.2),
    "Adam": (0.24, -3.0, -4.5, 0.08, 0.01, -0.02, -1.6),
    "AdamW": (0.22, -2.7, -1.7, 0.07, 0.03, 0.0, -1.6),
}


def _opt_lr_wd_true(c: Config) -> float:
    base, lc, wc, a, b, cr, div = _OPT_LR_WD[c["optimizer"]]
    x, y = math.log10(c["lr"]), math.log10(c["weight_decay"])
    u, v = x - lc, y - wc
    q = a * u * u + b * v * v + 2 * cr * u * v
    return base + _sat(q) + _cliff(x - div)


def _opt_lr_wd_sd(c: Config) -> float:
    _, lc, *_ = _OPT_LR_WD[c["optimizer"]]
    return 0.006 + 0.03 * _sigmoid(2.0 * (math.log10(c["lr"]) - lc))


def optimizer_lr_wd() -> Problem:
    return Problem(
        name="optimizer_lr_wd",
        description=(
            "optimizer categorical (SGD/Adam/AdamW), each with its own best lr and a tilted "
            "lr x weight-decay valley (coupled for SGD/Adam, decoupled for AdamW); divergence "
            "cliff above an optimizer-specific lr; noise grows with lr"
        ),
        space={
            "optimizer": ("choice", ["SGD", "Adam", "AdamW"]),
            "lr": ("log_uniform", 1e-5, 1.0),
            "weight_decay": ("log_uniform", 1e-6, 1e-1),
        },
        true_fn=_opt_lr_wd_true,
        noise_sd_fn=_opt_lr_wd_sd,
        optimum=0.22,
        argmin={"optimizer": "AdamW", "lr": 10**-2.7, "weight_decay": 10**-1.7},
    )


# --------------------------------------------------------------------------------------
# (b) widths, depth, ordered batch size, lr with the linear scaling rule


_BATCHES = [16, 32, 64, 128, 256, 512, 1024]


def _wdb_lr_star(c: Config) -> float:
    return 0.05 * (c["batch_size"] / 256) * math.sqrt(4 / c["n_layers"])


def _wdb_true(c: Config) -> float:
    w = math.log2(c["width"]) - 8.0
    d = c["n_layers"] - 4.0
    u = math.log10(c["lr"] / _wdb_lr_star(c))
    q = (
        0.02 * w * w
        + 0.015 * d * d
        + 0.01 * w * d
        + 0.25 * u * u
        + 0.01 * (math.log2(c["batch_size"]) - 6.0) ** 2
    )
    return 0.30 + _sat(q) + _cliff(u - math.log10(2.5))


def _wdb_sd(c: Config) -> float:
    return 0.006 + 0.012 * math.sqrt(64 / c["batch_size"])


def width_depth_batch() -> Problem:
    return Problem(
        name="width_depth_batch",
        description=(
            "int depth, log-int width, ordered batch size, log lr; best lr follows the linear "
            "scaling rule in batch size and shrinks with depth; width x depth trade-off; "
            "smaller batches are noisier"
        ),
        space={
            "n_layers": ("int", 1, 8),
            "width": ("log_int", 16, 1024),
            "batch_size": ("ordered", list(_BATCHES)),
            "lr": ("log_uniform", 1e-4, 1.0),
        },
        true_fn=_wdb_true,
        noise_sd_fn=_wdb_sd,
        optimum=0.30,
        argmin={"n_layers": 4, "width": 256, "batch_size": 64, "lr": 0.05 * 64 / 256},
    )


# --------------------------------------------------------------------------------------
# (c) transformer shape with hidden_dim % num_heads == 0


_HEADS = [1, 2, 3, 4, 6, 8, 12, 16]


def _ts_shape_q(h: float, k: float) -> float:
    hd = h / k
    return (
        0.05 * (math.log2(h) - math.log2(400.0)) ** 2
        + 0.04 * (math.log2(hd) - 6.0) ** 2
        + 0.02 * (math.log2(k) - math.log2(6.0)) ** 2
    )


def _ts_lr_star(h: float) -> float:
    return 3e-4 * math.sqrt(512.0 / h)


def _ts_true(c: Config) -> float:
    h, k = c["hidden_dim"], c["num_heads"]
    u = math.log10(c["lr"] / _ts_lr_star(h))
    do_star = 0.1 + 0.1 * h / 1024.0
    q = _ts_shape_q(h, k) + 0.2 * u * u + 0.5 * (c["dropout"] - do_star) ** 2
    return 0.35 + _sat(q) + _cliff(u - math.log10(3.0))


def _ts_sd(c: Config) -> float:
    u = math.log10(c["lr"] / _ts_lr_star(c["hidden_dim"]))
    return 0.005 + 0.015 * _sigmoid(2.0 * u)


def transformer_shape() -> Problem:
    # Optimum by enumeration over feasible (hidden_dim, num_heads); lr and dropout have
    # interior optima (depending on hidden_dim) that zero their terms.
    best = min((_ts_shape_q(h, k), h, k) for h in range(64, 1025) for k in _HEADS if h % k == 0)
    _, h_opt, k_opt = best
    argmin = {
        "hidden_dim": h_opt,
        "num_heads": k_opt,
        "lr": _ts_lr_star(h_opt),
        "dropout": 0.1 + 0.1 * h_opt / 1024.0,
    }
    return Problem(
        name="transformer_shape",
        description=(
            "hidden_dim int 64..1024, num_heads ordered [1..16], hidden_dim % num_heads == 0 "
            "(~68% of the box infeasible); best head_dim 64 and ~6 heads, optimum at one "
            f"feasible pair ({h_opt}, {k_opt}) next to infeasible better-looking ones; lr and "
            "dropout optima depend on hidden_dim"
        ),
        space={
            "hidden_dim": ("int", 64, 1024),
            "num_heads": ("ordered", list(_HEADS)),
            "lr": ("log_uniform", 1e-5, 1e-2),
            "dropout": ("uniform", 0.0, 0.5),
        },
        constraints=["hidden_dim % num_heads == 0"],
        true_fn=_ts_true,
        noise_sd_fn=_ts_sd,
        optimum=_ts_true(argmin),
        argmin=argmin,
    )


# --------------------------------------------------------------------------------------
# (d) conditional SGD momentum


_SM = {"Adam": (0.18, -3.0), "RMSprop": (0.20, -3.5)}


def _sm_true(c: Config) -> float:
    x = math.log10(c["lr"])
    ls = 1.0 * (c["label_smoothing"] - 0.1) ** 2
    if c["optimizer"] == "SGD":
        m = c["momentum"]
        u = math.log10(c["lr"] / (1.0 - m))  # effective lr; best 1.0 (lr 0.1 at m 0.9)
        q = 0.3 * u * u + 8.0 * (m - 0.9) ** 2 + ls
        return 0.15 + _sat(q, 1.2) + _cliff(u - 0.5)
    base, lc = _SM[c["optimizer"]]
    q = 0.15 * (x - lc) ** 2 + ls
    return base + _sat(q, 1.2) + _cliff(x - (lc + 1.5))


def _sm_sd(c: Config) -> float:
    return 0.005 + 0.02 * _sigmoid(2.0 * (math.log10(c["lr"]) + 2.0))


def sgd_momentum() -> Problem:
    return Problem(
        name="sgd_momentum",
        description=(
            "optimizer SGD/Adam/RMSprop; momentum active only for SGD; SGD with momentum ~0.9 "
            "and lr/(1-momentum) ~ 1 is best but narrow, Adam is a broad 0.03-worse basin"
        ),
        space={
            "optimizer": ("choice", ["SGD", "Adam", "RMSprop"]),
            "lr": ("log_uniform", 1e-5, 1.0),
            "momentum": ("uniform", 0.0, 0.99, {"when": {"optimizer": ["SGD"]}}),
            "label_smoothing": ("uniform", 0.0, 0.3),
        },
        true_fn=_sm_true,
        noise_sd_fn=_sm_sd,
        optimum=0.15,
        argmin={"optimizer": "SGD", "lr": 0.1, "momentum": 0.9, "label_smoothing": 0.1},
    )


# --------------------------------------------------------------------------------------
# (e) 12 parameters, 8 of them irrelevant


def _hd_true(c: Config) -> float:
    x, y, L, do = math.log10(c["lr"]), math.log10(c["weight_decay"]), c["n_layers"], c["dropout"]
    x_star = -3.0 + 0.15 * (L - 6)  # deeper -> smaller lr
    y_star = -2.0 - 0.5 * (x + 3.0)  # weight decay tied to lr
    q = (
        0.3 * (x - x_star) ** 2
        + 0.04 * (y - y_star) ** 2
        + 1.5 * (do - 0.05 * (L - 2)) ** 2  # deeper -> more dropout
        + 0.01 * (L - 8) ** 2
    )
    return 0.25 + _sat(q) + _cliff(x - (x_star + 1.3))


def _hd_sd(c: Config) -> float:
    return 0.008 + 0.03 * c["dropout"]


def high_dim_irrelevant() -> Problem:
    x_opt = -3.0 + 0.15 * 2
    return Problem(
        name="high_dim_irrelevant",
        description=(
            "12 parameters: lr, weight decay, dropout, depth relevant (coupled: deeper wants "
            "smaller lr and more dropout, wd tied to lr); 8 irrelevant (floats, ints, "
            "log-floats, categoricals)"
        ),
        space={
            "lr": ("log_uniform", 1e-5, 1e-1),
            "weight_decay": ("log_uniform", 1e-6, 1e-1),
            "dropout": ("uniform", 0.0, 0.6),
            "n_layers": ("int", 2, 12),
            "beta1": ("uniform", 0.8, 0.99),
            "beta2": ("uniform", 0.9, 0.9999),
            "eps": ("log_uniform", 1e-10, 1e-6),
            "grad_clip": ("uniform", 0.1, 10.0),
            "warmup_steps": ("int", 0, 2000),
            "activation": ("choice", ["relu", "gelu", "silu", "tanh"]),
            "init_scale": ("log_uniform", 0.1, 10.0),
            "ema": ("choice", ["on", "off"]),
        },
        true_fn=_hd_true,
        noise_sd_fn=_hd_sd,
        optimum=0.25,
        argmin={
            "lr": 10**x_opt,
            "weight_decay": 10 ** (-2.0 - 0.5 * (x_opt + 3.0)),
            "dropout": 0.3,
            "n_layers": 8,
            "beta1": 0.9,
            "beta2": 0.999,
            "eps": 1e-8,
            "grad_clip": 1.0,
            "warmup_steps": 500,
            "activation": "gelu",
            "init_scale": 1.0,
            "ema": "on",
        },
    )


# --------------------------------------------------------------------------------------
# (f) heteroscedastic-noise trap


def _hn_true(c: Config) -> float:
    x = math.log10(c["lr"])
    dx = x + 1.5  # best lr ~0.03
    q_lr = 0.3 * dx * dx if dx < 0 else 0.08 * dx * dx  # gentle rise above the optimum
    w_star = min(max(0.1 + 0.1 * dx, 0.0), 0.5)  # higher lr wants more warmup
    q_wd = 0.02 * (math.log10(c["weight_decay"]) + 4) ** 2
    q = q_lr + 2.0 * (c["warmup_frac"] - w_star) ** 2 + q_wd
    return 0.30 + _sat(q)


def _hn_sd(c: Config) -> float:
    return 0.005 + 0.15 * _sigmoid(4.0 * (math.log10(c["lr"]) + 1.2))


def hetero_noise_trap() -> Problem:
    return Problem(
        name="hetero_noise_trap",
        description=(
            "lr, warmup, weight decay; noise sd grows steeply with lr from ~0.04 at the "
            "optimum (lr 0.03) to ~0.15 at lr 0.3 while the true loss rises only gently, so "
            "the luckiest noisy draws sit at too-high lr (best-observed is misleading)"
        ),
        space={
            "lr": ("log_uniform", 1e-4, 1.0),
            "warmup_frac": ("uniform", 0.0, 0.5),
            "weight_decay": ("log_uniform", 1e-6, 1e-1),
        },
        true_fn=_hn_true,
        noise_sd_fn=_hn_sd,
        optimum=0.30,
        argmin={"lr": 10**-1.5, "warmup_frac": 0.1, "weight_decay": 1e-4},
    )


# --------------------------------------------------------------------------------------
# (g) linear constraint warmup_frac + decay_frac <= 0.9


def _sl_quad(x: float, w: float, d: float) -> float:
    w_star = 0.25 + 0.1 * (x + 2.5)
    a, b = w - w_star, d - 0.85
    return 0.25 * (x + 2.5) ** 2 + a * a + 0.6 * b * b + 0.5 * a * b


def _sl_true(c: Config) -> float:
    x = math.log10(c["lr"])
    q = (
        _sl_quad(x, c["warmup_frac"], c["decay_frac"])
        + 0.03 * (math.log10(c["weight_decay"]) + 3.0) ** 2
    )
    return 0.28 + _sat(q) + _cliff(x - (-1.3))


def _sl_sd(c: Config) -> float:
    return 0.006 + 0.02 * c["warmup_frac"] + 0.01 * _sigmoid(3.0 * (math.log10(c["lr"]) + 2.0))


def _kkt_min(quad: Callable[..., float], a_row: np.ndarray, rhs: float) -> tuple[float, ...]:
    """Exact minimiser of the quadratic ``quad`` of len(a_row) variables subject to
    ``a_row . z = rhs`` (KKT; the constraint active)."""
    k = len(a_row)
    z0 = np.zeros(k)
    f0 = quad(*z0)
    eps = 1.0
    grad = np.zeros(k)
    hess = np.zeros((k, k))
    e = np.eye(k)
    for i in range(k):  # central differences are exact for a quadratic (up to rounding)
        grad[i] = (quad(*(z0 + eps * e[i])) - quad(*(z0 - eps * e[i]))) / (2 * eps)
        for j in range(k):
            hess[i, j] = (
                quad(*(z0 + eps * e[i] + eps * e[j]))
                - quad(*(z0 + eps * e[i]))
                - quad(*(z0 + eps * e[j]))
                + f0
            ) / (eps * eps)
    kkt = np.block([[hess, a_row[:, None]], [a_row[None, :], np.zeros((1, 1))]])
    sol = np.linalg.solve(kkt, np.concatenate([-grad, [rhs]]))
    return tuple(float(v) for v in sol[:k])


def _sl_argmin() -> tuple[float, float, float]:
    """Exact constrained minimiser of the quadratic (KKT with w + d = 0.9 active)."""
    x, w, d = _kkt_min(_sl_quad, np.array([0.0, 1.0, 1.0]), 0.9)
    return x, w, d


def schedule_linear_constraint() -> Problem:
    x, w, d = _sl_argmin()
    argmin = {"lr": 10**x, "warmup_frac": w, "decay_frac": d, "weight_decay": 1e-3}
    return Problem(
        name="schedule_linear_constraint",
        description=(
            "lr, warmup_frac, decay_frac, weight decay with warmup_frac + decay_frac <= 0.9; "
            "the unconstrained optimum (0.25 + lr-dependent, 0.85) is infeasible, so the "
            "optimum lies on the constraint boundary and trades off against lr"
        ),
        space={
            "lr": ("log_uniform", 1e-4, 1e-1),
            "warmup_frac": ("uniform", 0.0, 0.9),
            "decay_frac": ("uniform", 0.0, 0.9),
            "weight_decay": ("log_uniform", 1e-5, 1e-1),
        },
        constraints=["warmup_frac + decay_frac <= 0.9"],
        true_fn=_sl_true,
        noise_sd_fn=_sl_sd,
        optimum=_sl_true(argmin),
        argmin=argmin,
    )


# --------------------------------------------------------------------------------------
# (g2) the README's constraints example: divisibility and a linear constraint together


_TSC_HEADS = [1, 2, 4, 8, 16]


def _tsc_sched(u: float, w: float, d: float) -> float:
    """lr (``u``: log10 of lr over the width's best) and the schedule: the best warmup grows
    with the learning rate, and the unconstrained best (0.2, 0.8) breaks the budget."""
    a, b = w - (0.2 + 0.1 * u), d - 0.8
    return 0.2 * u * u + a * a + 0.6 * b * b + 0.5 * a * b


def _tsc_u(c: Config) -> float:
    return math.log10(c["lr"] / _ts_lr_star(c["hidden_dim"]))


def _tsc_true(c: Config) -> float:
    u = _tsc_u(c)
    q = _ts_shape_q(c["hidden_dim"], c["num_heads"]) + _tsc_sched(u, c["warmup_frac"],
                                                                  c["decay_frac"])
    return 0.35 + _sat(q) + _cliff(u - math.log10(3.0))


def _tsc_sd(c: Config) -> float:
    return 0.005 + 0.015 * _sigmoid(2.0 * _tsc_u(c)) + 0.01 * c["warmup_frac"]


def transformer_schedule() -> Problem:
    # the shape term and the (lr, schedule) term are separate: enumerate the one, KKT the
    # other (with warmup_frac + decay_frac = 0.9 active)
    _, h_opt, k_opt = min((_ts_shape_q(h, k), h, k) for h in range(64, 1025)
                          for k in _TSC_HEADS if h % k == 0)
    u, w, d = _kkt_min(_tsc_sched, np.array([0.0, 1.0, 1.0]), 0.9)
    argmin = {"lr": _ts_lr_star(h_opt) * 10**u, "warmup_frac": w, "decay_frac": d,
              "hidden_dim": h_opt, "num_heads": k_opt}
    return Problem(
        name="transformer_schedule",
        description=(
            "the README's constraints example: lr, warmup_frac, decay_frac, hidden_dim, "
            "num_heads [1..16] with warmup_frac + decay_frac <= 0.9 and hidden_dim % "
            "num_heads == 0; the schedule's optimum is on the budget's boundary and moves "
            "with lr, whose optimum moves with hidden_dim"
        ),
        space={
            "lr": ("log_uniform", 1e-5, 1e-2),
            "warmup_frac": ("uniform", 0.0, 0.5),
            "decay_frac": ("uniform", 0.0, 0.9),
            "hidden_dim": ("int", 64, 1024),
            "num_heads": ("ordered", list(_TSC_HEADS)),
        },
        constraints=["warmup_frac + decay_frac <= 0.9", "hidden_dim % num_heads == 0"],
        true_fn=_tsc_true,
        noise_sd_fn=_tsc_sd,
        optimum=_tsc_true(argmin),
        argmin=argmin,
    )


# --------------------------------------------------------------------------------------
# (h) multimodal lr x weight decay: Rastrigin-like ripples on a bowl, per optimizer


_MM = {
    # base, log10 lr centre, log10 wd centre, a (lr), b (wd), c (cross), ripple period in
    # log10 lr, ripple amplitude, log10 lr divergence
    "SGD": (0.25, -1.3, -3.5, 0.030, 0.015, 0.008, 0.9, 0.022, -0.3),
    "Adam": (0.22, -3.2, -4.5, 0.030, 0.010, -0.006, 1.0, 0.024, -1.6),
    "AdamW": (0.235, -2.7, -2.0, 0.025, 0.020, 0.0, 1.2, 0.030, -1.4),
}


def _mm_q(c: Config) -> tuple[float, float, float]:
    """(q, log10 lr, divergence threshold); q >= 0 is zero only at the optimizer's centre."""
    _, lc, wc, a, b, cr, period, amp, div = _MM[c["optimizer"]]
    x, y = math.log10(c["lr"]), math.log10(c["weight_decay"])
    u, v = x - lc, y - wc
    bowl = a * u * u + b * v * v + 2 * cr * u * v  # positive definite (cr^2 < a b)
    ripple = amp * (1.0 - math.cos(2.0 * math.pi * u / period))  # >= 0, zero on the lattice
    return bowl + ripple, x, div


def _mm_true(c: Config) -> float:
    q, x, div = _mm_q(c)
    return _MM[c["optimizer"]][0] + _sat(q) + _cliff(x - div)


def _mm_sd(c: Config) -> float:
    lc = _MM[c["optimizer"]][1]
    return 0.006 + 0.02 * _sigmoid(2.0 * (math.log10(c["lr"]) - lc))


def multimodal_lr_wd() -> Problem:
    return Problem(
        name="multimodal_lr_wd",
        description=(
            "optimizer SGD/Adam/AdamW x log lr x log weight decay; per optimizer a tilted bowl "
            "with Rastrigin-like ripples along log10 lr (period ~1 decade): 3-4 local basins "
            "of different depths below the divergence cliff; global basin only in Adam (0.22; "
            "AdamW >= 0.235, SGD >= 0.25); noise grows with lr"
        ),
        space={
            "optimizer": ("choice", ["SGD", "Adam", "AdamW"]),
            "lr": ("log_uniform", 1e-5, 1.0),
            "weight_decay": ("log_uniform", 1e-6, 1e-1),
        },
        true_fn=_mm_true,
        noise_sd_fn=_mm_sd,
        optimum=0.22,
        argmin={"optimizer": "Adam", "lr": 10**-3.2, "weight_decay": 10**-4.5},
    )


# --------------------------------------------------------------------------------------
# (i) three interacting categoricals and lr / weight decay


_CH_OPT = ["SGD", "Adam", "AdamW", "RMSprop"]
_CH_ACT = ["relu", "gelu", "tanh", "silu"]
_CH_NORM = ["none", "batch", "layer"]
# categorical loss offsets: activation x norm, optimizer x norm, optimizer x activation
_CH_ACT_NORM = {
    "relu": {"none": 0.03, "batch": 0.00, "layer": 0.04},
    "gelu": {"none": 0.04, "batch": 0.03, "layer": 0.00},
    "tanh": {"none": 0.02, "batch": 0.06, "layer": 0.05},
    "silu": {"none": 0.05, "batch": 0.02, "layer": 0.01},
}
_CH_OPT_NORM = {
    "SGD": {"none": 0.08, "batch": 0.00, "layer": 0.05},
    "Adam": {"none": 0.03, "batch": 0.02, "layer": 0.01},
    "AdamW": {"none": 0.03, "batch": 0.03, "layer": 0.00},
    "RMSprop": {"none": 0.02, "batch": 0.04, "layer": 0.04},
}
_CH_OPT_ACT = {
    "SGD": {"relu": 0.00, "gelu": 0.02, "tanh": 0.04, "silu": 0.02},
    "Adam": {"relu": 0.02, "gelu": 0.01, "tanh": 0.02, "silu": 0.01},
    "AdamW": {"relu": 0.03, "gelu": 0.005, "tanh": 0.03, "silu": 0.00},
    "RMSprop": {"relu": 0.02, "gelu": 0.03, "tanh": 0.00, "silu": 0.03},
}
# optimizer: log10 lr centre, log10 wd centre; norm shifts the lr centre (batch norm
# tolerates larger lr), tanh wants a smaller lr
_CH_OPT_CENTRE = {
    "SGD": (-1.5, -3.5),
    "Adam": (-3.3, -5.0),
    "AdamW": (-3.0, -2.0),
    "RMSprop": (-3.6, -4.5),
}
_CH_NORM_LR_SHIFT = {"none": -0.5, "batch": 0.5, "layer": 0.0}
_CH_ACT_LR_SHIFT = {"relu": 0.0, "gelu": 0.0, "tanh": -0.4, "silu": 0.1}


def _ch_offset(c: Config) -> float:
    o, a, n = c["optimizer"], c["activation"], c["norm"]
    return _CH_ACT_NORM[a][n] + _CH_OPT_NORM[o][n] + _CH_OPT_ACT[o][a]


def _ch_centre(c: Config) -> tuple[float, float]:
    lc, wc = _CH_OPT_CENTRE[c["optimizer"]]
    return lc + _CH_NORM_LR_SHIFT[c["norm"]] + _CH_ACT_LR_SHIFT[c["activation"]], wc


def _ch_true(c: Config) -> float:
    lc, wc = _ch_centre(c)
    u = math.log10(c["lr"]) - lc
    v = math.log10(c["weight_decay"]) - wc
    a = 0.35 if c["norm"] == "none" else 0.2  # no normalisation: narrower lr valley
    q = a * u * u + 0.02 * v * v + 0.02 * u * v
    return 0.24 + _ch_offset(c) + _sat(q) + _cliff(u - 1.0)


def _ch_sd(c: Config) -> float:
    lc, _ = _ch_centre(c)
    return 0.006 + 0.015 * _sigmoid(2.0 * (math.log10(c["lr"]) - lc))


def cat_heavy() -> Problem:
    # Optimum by enumeration: the continuous part is zero at the (in-bounds) centre.
    combos = [
        {"optimizer": o, "activation": a, "norm": n}
        for o in _CH_OPT
        for a in _CH_ACT
        for n in _CH_NORM
    ]
    cat = min(combos, key=_ch_offset)
    best = (cat["optimizer"], cat["activation"], cat["norm"])
    lc, wc = _ch_centre(cat)
    argmin = {**cat, "lr": 10**lc, "weight_decay": 10**wc}
    return Problem(
        name="cat_heavy",
        description=(
            "3 unordered categoricals (optimizer x4, activation x4, norm x3) + log lr + log "
            "wd; pairwise categorical interactions (best activation depends on norm, SGD "
            "needs batch norm, ...), lr centre shifts with optimizer, norm and activation, "
            f"no norm narrows the lr valley; optimum at {best}; noise grows with lr"
        ),
        space={
            "optimizer": ("choice", list(_CH_OPT)),
            "activation": ("choice", list(_CH_ACT)),
            "norm": ("choice", list(_CH_NORM)),
            "lr": ("log_uniform", 1e-5, 1.0),
            "weight_decay": ("log_uniform", 1e-6, 1e-1),
        },
        true_fn=_ch_true,
        noise_sd_fn=_ch_sd,
        optimum=_ch_true(argmin),
        argmin=argmin,
    )


# --------------------------------------------------------------------------------------
# (j) hierarchical space with a narrow SGD optimum and a broad Adam plateau


def _cn_true(c: Config) -> float:
    x = math.log10(c["lr"])
    opt = c["optimizer"]
    if opt == "SGD":
        m = c.get("momentum", 0.0)  # framework defaults if a tool leaves them out
        u = math.log10(c["lr"] / (1.0 - m))  # effective lr; 0 at lr 0.05, momentum 0.95
        r2 = ((m - 0.95) / 0.03) ** 2 + (u / 0.3) ** 2
        well = 0.06 * (1.0 - math.exp(-0.5 * r2))  # narrow: 0.18 inside, 0.24 outside
        q = 0.2 * u * u + 2.0 * (m - 0.95) ** 2
        nest = 0.0 if c.get("nesterov", "off") == "on" else 0.01
        return 0.18 + nest + well + _sat(q, 1.2) + _cliff(u - 0.5)
    if opt == "Adam":
        b2 = 0.5 * (math.log10(1.0 - c.get("beta2", 0.999)) + 3.0) ** 2  # best 0.999, weak
        q = 0.03 * (x + 3.0) ** 2 + 0.01 * b2  # broad plateau around lr 1e-3
        return 0.20 + _sat(q, 1.2) + _cliff(x + 1.0)
    q = 0.08 * (x + 3.5) ** 2  # RMSprop
    return 0.23 + _sat(q, 1.2) + _cliff(x + 1.5)


def _cn_sd(c: Config) -> float:
    return 0.005 + 0.02 * _sigmoid(2.0 * (math.log10(c["lr"]) + 2.0))


def conditional_narrow() -> Problem:
    return Problem(
        name="conditional_narrow",
        description=(
            "optimizer SGD/Adam/RMSprop; momentum and nesterov only for SGD, beta2 only for "
            "Adam; global optimum 0.18 is a narrow SGD well (momentum 0.95 +- 0.03, lr "
            "0.05 +- 0.3 decades, nesterov on; 0.24 just outside it), Adam a broad plateau "
            "at 0.20; noise grows with lr"
        ),
        space={
            "optimizer": ("choice", ["SGD", "Adam", "RMSprop"]),
            "lr": ("log_uniform", 1e-5, 1.0),
            "momentum": ("uniform", 0.0, 0.99, {"when": {"optimizer": ["SGD"]}}),
            "nesterov": ("choice", ["off", "on"], {"when": {"optimizer": ["SGD"]}}),
            "beta2": ("uniform", 0.9, 0.9999, {"when": {"optimizer": ["Adam"]}}),
        },
        true_fn=_cn_true,
        noise_sd_fn=_cn_sd,
        optimum=0.18,
        argmin={"optimizer": "SGD", "lr": 0.05, "momentum": 0.95, "nesterov": "on"},
    )


# --------------------------------------------------------------------------------------
# (k) 16 parameters, 10 of them irrelevant (every kind)


_HD16_BATCHES = [16, 32, 64, 128, 256, 512]
_HD16_ACT = {"relu": 0.01, "gelu": 0.0, "silu": 0.005, "tanh": 0.05}


def _hd16_true(c: Config) -> float:
    x, y = math.log10(c["lr"]), math.log10(c["weight_decay"])
    L, bs, do = c["n_layers"], c["batch_size"], c["dropout"]
    x_star = -3.0 + 0.5 * math.log10(bs / 128) - 0.1 * (L - 6)  # sqrt batch scaling, depth
    y_star = -2.0 - 0.5 * (x + 3.0)  # weight decay tied to lr
    q = (
        0.3 * (x - x_star) ** 2
        + 0.04 * (y - y_star) ** 2
        + 1.5 * (do - 0.05 * (L - 2)) ** 2
        + 0.01 * (L - 8) ** 2
        + 0.01 * (math.log2(bs) - 7.0) ** 2
    )
    return 0.25 + _HD16_ACT[c["activation"]] + _sat(q) + _cliff(x - (x_star + 1.3))


def _hd16_sd(c: Config) -> float:
    return 0.006 + 0.02 * c["dropout"] + 0.01 * math.sqrt(64 / c["batch_size"])


def high_dim_16() -> Problem:
    x_opt = -3.0 - 0.1 * 2
    return Problem(
        name="high_dim_16",
        description=(
            "16 parameters, 6 relevant (log lr and log wd coupled, int depth, ordered batch "
            "size, dropout, activation choice with a real effect) and 10 irrelevant of every "
            "kind (uniform, log-uniform, int, log-int, ordered, choice)"
        ),
        space={
            "lr": ("log_uniform", 1e-5, 1e-1),
            "weight_decay": ("log_uniform", 1e-6, 1e-1),
            "n_layers": ("int", 2, 12),
            "batch_size": ("ordered", list(_HD16_BATCHES)),
            "dropout": ("uniform", 0.0, 0.5),
            "activation": ("choice", list(_HD16_ACT)),
            # irrelevant
            "beta1": ("uniform", 0.8, 0.99),
            "grad_clip": ("uniform", 0.1, 10.0),
            "eps": ("log_uniform", 1e-10, 1e-6),
            "init_scale": ("log_uniform", 0.1, 10.0),
            "warmup_steps": ("int", 0, 2000),
            "eval_every": ("log_int", 10, 1000),
            "num_workers": ("log_int", 1, 32),
            "precision": ("ordered", [16, 32, 64]),
            "ema": ("choice", ["on", "off"]),
            "data_order": ("choice", ["shuffle", "sorted", "bucketed"]),
        },
        true_fn=_hd16_true,
        noise_sd_fn=_hd16_sd,
        optimum=0.25,
        argmin={
            "lr": 10**x_opt,
            "weight_decay": 10 ** (-2.0 - 0.5 * (x_opt + 3.0)),
            "n_layers": 8,
            "batch_size": 128,
            "dropout": 0.3,
            "activation": "gelu",
            "beta1": 0.9,
            "grad_clip": 1.0,
            "eps": 1e-8,
            "init_scale": 1.0,
            "warmup_steps": 500,
            "eval_every": 100,
            "num_workers": 4,
            "precision": 32,
            "ema": "on",
            "data_order": "shuffle",
        },
    )


# --------------------------------------------------------------------------------------
# (l) Branin over log10 lr and momentum (three global minima)


_BR_LR = (1e-5, 1e-1)
_BR_FSTAR = 10.0 / (8.0 * math.pi)  # Branin's minimum value, attained at three points


def _branin(a: float, b: float) -> float:
    t = b - 5.1 / (4 * math.pi**2) * a * a + 5.0 / math.pi * a - 6.0
    return t * t + 10.0 * (1.0 - 1.0 / (8.0 * math.pi)) * math.cos(a) + 10.0


def _br_to_ab(c: Config) -> tuple[float, float]:
    lo, hi = math.log10(_BR_LR[0]), math.log10(_BR_LR[1])
    a = -5.0 + 15.0 * (math.log10(c["lr"]) - lo) / (hi - lo)
    b = 15.0 * c["momentum"] / 0.99
    return a, b


def _br_from_ab(a: float, b: float) -> dict[str, float]:
    lo, hi = math.log10(_BR_LR[0]), math.log10(_BR_LR[1])
    return {"lr": 10 ** (lo + (a + 5.0) / 15.0 * (hi - lo)), "momentum": 0.99 * b / 15.0}


#: the three global minimisers of Branin, in (a, b) coordinates
BRANIN_MINIMA = [(-math.pi, 12.275), (math.pi, 2.275), (3 * math.pi, 2.475)]


def _br_true(c: Config) -> float:
    q = max(_branin(*_br_to_ab(c)) - _BR_FSTAR, 0.0)  # >= 0 up to rounding
    return 0.2 + _sat(q / 40.0, 0.4)


def _br_sd(c: Config) -> float:
    return 0.005 + 0.015 * _sigmoid(2.0 * (math.log10(c["lr"]) + 3.0))


def branin_log() -> Problem:
    argmin = {**_br_from_ab(*BRANIN_MINIMA[1]), "label_smoothing": 0.1}
    return Problem(
        name="branin_log",
        description=(
            "Branin over (log10 lr in [1e-5, 1e-1], momentum in [0, 0.99]) rescaled to a loss "
            "in [0.2, 0.6); three global minima at 0.2 (lr 3.1e-5 / 1.5e-3 / 0.070 with momentum "
            "0.810 / 0.150 / 0.163); label_smoothing is irrelevant; noise grows with lr"
        ),
        space={
            "lr": ("log_uniform", *_BR_LR),
            "momentum": ("uniform", 0.0, 0.99),
            "label_smoothing": ("uniform", 0.0, 0.3),
        },
        true_fn=_br_true,
        noise_sd_fn=_br_sd,
        optimum=0.2,
        argmin=argmin,
    )


# --------------------------------------------------------------------------------------
# (m) four categoricals out of six: the categorical-dominated shape, a second instance


_CA_BLOCK = ["mlp", "conv", "attn"]
_CA_ACT = ["relu", "gelu", "tanh"]
_CA_POOL = ["mean", "max", "cls"]
_CA_INIT = ["xavier", "kaiming"]
_CA_MAIN = {"mlp": 0.05, "conv": 0.01, "attn": 0.02}
# pooling depends on the block: a class token only makes sense for attention
_CA_BLOCK_POOL = {
    "mlp": {"mean": 0.00, "max": 0.02, "cls": 0.06},
    "conv": {"mean": 0.02, "max": 0.00, "cls": 0.07},
    "attn": {"mean": 0.02, "max": 0.04, "cls": 0.00},
}
# kaiming initialisation suits relu, xavier suits tanh; gelu is indifferent
_CA_ACT_INIT = {
    "relu": {"xavier": 0.03, "kaiming": 0.00},
    "gelu": {"xavier": 0.01, "kaiming": 0.01},
    "tanh": {"xavier": 0.00, "kaiming": 0.04},
}
_CA_BLOCK_ACT = {
    "mlp": {"relu": 0.00, "gelu": 0.01, "tanh": 0.02},
    "conv": {"relu": 0.00, "gelu": 0.01, "tanh": 0.03},
    "attn": {"relu": 0.02, "gelu": 0.00, "tanh": 0.03},
}
# log10 lr centre and dropout centre per block
_CA_CENTRE = {"mlp": (-2.5, 0.3), "conv": (-2.0, 0.15), "attn": (-3.3, 0.1)}


def _ca_offset(c: Config) -> float:
    b, a, p, i = c["block"], c["activation"], c["pooling"], c["init"]
    return _CA_MAIN[b] + _CA_BLOCK_POOL[b][p] + _CA_ACT_INIT[a][i] + _CA_BLOCK_ACT[b][a]


def _ca_true(c: Config) -> float:
    lc, dc = _CA_CENTRE[c["block"]]
    u = math.log10(c["lr"]) - lc
    d = c["dropout"] - dc
    q = 0.25 * u * u + 1.5 * d * d
    return 0.20 + _ca_offset(c) + _sat(q) + _cliff(u - 1.2)


def _ca_sd(c: Config) -> float:
    lc, _ = _CA_CENTRE[c["block"]]
    return 0.005 + 0.012 * _sigmoid(2.0 * (math.log10(c["lr"]) - lc))


def cat_arch() -> Problem:
    # Optimum by enumeration: the continuous part is zero at the (in-bounds) centre.
    combos = [
        {"block": b, "activation": a, "pooling": p, "init": i}
        for b in _CA_BLOCK
        for a in _CA_ACT
        for p in _CA_POOL
        for i in _CA_INIT
    ]
    cat = min(combos, key=_ca_offset)
    lc, dc = _CA_CENTRE[cat["block"]]
    argmin = {**cat, "lr": 10**lc, "dropout": dc}
    return Problem(
        name="cat_arch",
        description=(
            "4 unordered categoricals of 6 parameters (block x3, activation x3, pooling x3, "
            "init x2) + log lr + dropout; pooling depends on the block, init on the "
            "activation; lr and dropout centres shift with the block; optimum at "
            f"{tuple(cat.values())}; noise grows with lr"
        ),
        space={
            "block": ("choice", list(_CA_BLOCK)),
            "activation": ("choice", list(_CA_ACT)),
            "pooling": ("choice", list(_CA_POOL)),
            "init": ("choice", list(_CA_INIT)),
            "lr": ("log_uniform", 1e-5, 1e-1),
            "dropout": ("uniform", 0.0, 0.5),
        },
        true_fn=_ca_true,
        noise_sd_fn=_ca_sd,
        optimum=_ca_true(argmin),
        argmin=argmin,
    )


# --------------------------------------------------------------------------------------
# registry and self-check


PROBLEM_FACTORIES: dict[str, Callable[[], Problem]] = {
    "optimizer_lr_wd": optimizer_lr_wd,
    "width_depth_batch": width_depth_batch,
    "transformer_shape": transformer_shape,
    "sgd_momentum": sgd_momentum,
    "high_dim_irrelevant": high_dim_irrelevant,
    "hetero_noise_trap": hetero_noise_trap,
    "schedule_linear_constraint": schedule_linear_constraint,
    "transformer_schedule": transformer_schedule,
    "multimodal_lr_wd": multimodal_lr_wd,
    "cat_heavy": cat_heavy,
    "conditional_narrow": conditional_narrow,
    "high_dim_16": high_dim_16,
    "branin_log": branin_log,
    "cat_arch": cat_arch,
}


def _real_problem(name: str) -> Callable[[], Problem]:
    """Lazy factory for a REAL (scikit-learn) problem of ``real_problems.py``.

    scikit-learn is a benchmark-only dependency, so it is imported only when such a problem
    is built.
    """

    def factory() -> Problem:
        import importlib

        module = (
            importlib.import_module(".real_problems", __package__)
            if __package__
            else importlib.import_module("real_problems")
        )
        return module.REAL_FACTORIES[name]()

    factory.__name__ = name
    return factory


#: Problems whose ``true`` is a real (cached) model fit: far slower than the synthetic ones.
REAL_PROBLEMS = ("svc_digits", "gbm_cv")
PROBLEM_FACTORIES.update({name: _real_problem(name) for name in REAL_PROBLEMS})


def get_problem(name: str) -> Problem:
    try:
        return PROBLEM_FACTORIES[name]()
    except KeyError:
        raise KeyError(f"unknown problem {name!r}; known: {sorted(PROBLEM_FACTORIES)}") from None


def all_problems() -> list[Problem]:
    return [f() for f in PROBLEM_FACTORIES.values()]


def _perturb(
    space: Mapping[str, Any], cfg: dict[str, Any], rng: np.random.Generator, scale: float
) -> dict[str, Any]:
    out = dict(cfg)
    for name, spec in space.items():
        if name not in out:
            continue
        kind = spec_kind(spec)
        if kind == "uniform":
            lo, hi = spec[1], spec[2]
            v = out[name] + scale * (hi - lo) * rng.standard_normal()
            out[name] = float(np.clip(v, lo, hi))
        elif kind == "log_uniform":
            lo, hi = math.log(spec[1]), math.log(spec[2])
            v = math.log(out[name]) + scale * (hi - lo) * rng.standard_normal()
            out[name] = float(math.exp(np.clip(v, lo, hi)))
        elif kind in ("int", "log_int"):
            out[name] = int(np.clip(out[name] + rng.integers(-2, 3), spec[1], spec[2]))
        elif kind in ("choice", "ordered") and rng.random() < 0.2:
            out[name] = spec[1][int(rng.integers(len(spec[1])))]
    return out


def check_problem(
    problem: Problem, n_random: int = 50_000, n_local: int = 20_000, seed: int = 0
) -> dict[str, Any]:
    """Verify ``optimum``: the argmin attains it; no random/perturbed feasible config beats it."""
    rng = np.random.default_rng(seed)
    at_argmin = problem.true(problem.argmin)
    best_seen = math.inf
    best_cfg: dict[str, Any] | None = None
    n_feasible = 0
    for i in range(n_random + n_local):
        if i < n_random:
            cfg = sample_config(problem.space, rng)
        else:
            scale = 10 ** rng.uniform(-4, -1)
            cfg = _perturb(problem.space, problem.argmin, rng, scale)
            cfg = active_config(problem.space, cfg)
        if not problem.feasible(cfg):
            continue
        n_feasible += 1
        v = problem.true(cfg)
        if v < best_seen:
            best_seen, best_cfg = v, cfg
    return {
        "problem": problem.name,
        "optimum": problem.optimum,
        "true_at_argmin": at_argmin,
        "argmin_feasible": problem.feasible(problem.argmin),
        "best_sampled": best_seen,
        "best_sampled_config": best_cfg,
        "feasible_fraction": n_feasible / (n_random + n_local),
        "ok": abs(at_argmin - problem.optimum) < 1e-9 and best_seen >= problem.optimum - 1e-6,
    }


if __name__ == "__main__":  # python benchmarks/problems.py : self-check every problem
    for p in all_problems():
        # real problems: each true() is a fresh CV run (~0.2 s), so a much smaller check
        r = check_problem(p, 150, 100) if p.name in REAL_PROBLEMS else check_problem(p)
        print(
            f"{r['problem']:28s} ok={r['ok']} optimum={r['optimum']:.6f} "
            f"true(argmin)={r['true_at_argmin']:.6f} best_sampled={r['best_sampled']:.6f} "
            f"feasible={r['feasible_fraction']:.2f} argmin={p.argmin}"
        )
