"""A GP whose observation noise varies with the inputs, for objectives without a SEM.

When the objective returns a bare float, Ax's GP infers one noise level for the whole
space. Training noise is rarely like that: a high learning rate, a small batch, a short
schedule all make a run's final loss scatter more. One noise level then either smooths
away the structure where runs are repeatable or trusts lucky draws where they are not.

``HeteroNoiseGP`` is BoTorch's ``SingleTaskGP`` with one change: where no SEM was
observed, its likelihood's noise variance is log-linear in the (normalised) inputs,
``exp(b + w . (x - 1/2))``, or log-quadratic, ``+ v . 4(x - 1/2)^2`` (one curvature per
input, so noise can be low in the middle of a range and high at both ends, or flat and
then rising), with ``b``, ``w`` and ``v`` fitted by the marginal likelihood with the
other hyperparameters. A ``Normal(0, WEIGHT_PRIOR_SD)`` prior on each ``w`` and ``v``
keeps the noise flat unless the data says otherwise. Where SEMs were observed it is
``SingleTaskGP`` itself (the noise is then known). The kernel, the mean, the input and
outcome transforms are BoTorch's defaults, as Ax builds them.
"""

from __future__ import annotations

from typing import Any

import torch
from botorch.models import SingleTaskGP
from botorch.models.utils.gpytorch_modules import MIN_INFERRED_NOISE_LEVEL
from botorch.utils.types import DEFAULT
from gpytorch.likelihoods.gaussian_likelihood import _GaussianLikelihoodBase
from gpytorch.likelihoods.noise_models import Noise
from gpytorch.priors import NormalPrior
from linear_operator.operators import DiagLinearOperator
from torch import Tensor
from torch.nn import Parameter

#: Prior mean and sd of the log noise variance (of the standardised outcome) at the
#: centre of the input space: BoTorch's default noise prior, LogNormal(-4, 1), as a log.
BIAS_PRIOR = (-4.0, 1.0)

#: Prior sd of each input's slope of the log noise variance across its unit range: 3
#: lets the noise sd change ~20-fold across one input's range at a penalty of ~2 nats.
WEIGHT_PRIOR_SD = 3.0

#: Bounds on the log noise variance anywhere (exp(-9.2) is BoTorch's 1e-4 floor).
LOG_NOISE_BOUNDS = (-9.2, 3.0)


class LogLinearNoise(Noise):
    """Observation noise variance ``exp(b + w . (x - 1/2) [+ v . 4(x - 1/2)^2])`` at
    inputs ``x`` in the unit cube (a ``gpytorch`` noise model, called with the training or
    test inputs)."""

    def __init__(self, d: int, batch_shape: torch.Size | None = None,
                 quadratic: bool = False) -> None:
        super().__init__()
        batch_shape = torch.Size() if batch_shape is None else batch_shape
        self.register_parameter("bias", Parameter(torch.full((*batch_shape, 1),
                                                             BIAS_PRIOR[0])))
        self.register_parameter("weight", Parameter(torch.zeros(*batch_shape, d)))
        self.register_prior("bias_prior", NormalPrior(*BIAS_PRIOR), "bias")
        self.register_prior("weight_prior", NormalPrior(0.0, WEIGHT_PRIOR_SD), "weight")
        self.quadratic = quadratic
        if quadratic:
            self.register_parameter("curvature", Parameter(torch.zeros(*batch_shape, d)))
            self.register_prior("curvature_prior", NormalPrior(0.0, WEIGHT_PRIOR_SD),
                                "curvature")

    def log_noise(self, X: Tensor) -> Tensor:
        """``... x n`` log variances at ``... x n x d`` inputs."""
        centred = X - 0.5
        log = self.bias + (centred * self.weight.unsqueeze(-2)).sum(-1)
        if self.quadratic:
            log = log + (4 * centred**2 * self.curvature.unsqueeze(-2)).sum(-1)
        return log.clamp(*LOG_NOISE_BOUNDS)

    def forward(self, *params: Any, shape: torch.Size | None = None,
                **kwargs: Any) -> DiagLinearOperator:
        if "noise" in kwargs:
            return DiagLinearOperator(kwargs["noise"])
        X = params[0] if params and torch.is_tensor(params[0]) else None
        if X is None and params and isinstance(params[0], (list, tuple)):
            X = params[0][0]
        if X is not None and X.dim() >= 2 and X.shape[-1] == self.weight.shape[-1]:
            return DiagLinearOperator(MIN_INFERRED_NOISE_LEVEL + self.log_noise(X).exp())
        # no inputs to go by: the noise at the centre of the space
        n_shape = torch.Size([1]) if shape is None else shape
        flat = (MIN_INFERRED_NOISE_LEVEL + self.bias.clamp(*LOG_NOISE_BOUNDS).exp())
        return DiagLinearOperator(flat.expand(*n_shape[:-1], n_shape[-1]).contiguous()
                                  if shape is not None else flat)


class LogLinearNoiseLikelihood(_GaussianLikelihoodBase):
    """A Gaussian likelihood whose noise is ``LogLinearNoise``."""

    def __init__(self, d: int, batch_shape: torch.Size | None = None,
                 quadratic: bool = False) -> None:
        super().__init__(noise_covar=LogLinearNoise(d, batch_shape, quadratic))

    @property
    def noise(self) -> Tensor:
        """The noise variance at the centre of the space (for code that reads one)."""
        return MIN_INFERRED_NOISE_LEVEL + self.noise_covar.bias.clamp(*LOG_NOISE_BOUNDS).exp()


class HeteroNoiseGP(SingleTaskGP):
    """``SingleTaskGP`` with ``LogLinearNoiseLikelihood`` where no noise was observed."""

    quadratic = False

    def __init__(
        self,
        train_X: Tensor,
        train_Y: Tensor,
        train_Yvar: Tensor | None = None,
        likelihood: Any = None,
        covar_module: Any = None,
        mean_module: Any = None,
        outcome_transform: Any = DEFAULT,
        input_transform: Any = None,
    ) -> None:
        if train_Yvar is None and likelihood is None:
            batch_shape = train_X.shape[:-2]
            if train_Y.shape[-1] > 1:
                batch_shape = torch.Size([*batch_shape, train_Y.shape[-1]])
            likelihood = LogLinearNoiseLikelihood(train_X.shape[-1], batch_shape,
                                                  self.quadratic)
        super().__init__(train_X, train_Y, train_Yvar=train_Yvar, likelihood=likelihood,
                         covar_module=covar_module, mean_module=mean_module,
                         outcome_transform=outcome_transform,
                         input_transform=input_transform)


class HeteroNoiseQuadraticGP(HeteroNoiseGP):
    """``HeteroNoiseGP`` with log-quadratic noise."""

    quadratic = True
