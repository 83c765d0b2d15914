"""bo_hpo: Bayesian optimisation of deep-learning hyperparameters, on Ax and BoTorch.

Importing the package is cheap: Ax, torch, plotly and ray load only when a function needs
them.
"""

from bo_hpo.asktell import Experiment, Trial
from bo_hpo.budget import Budget
from bo_hpo.errors import (
    BoHpoError,
    ConfigError,
    LockedError,
    NotFoundError,
    SearchSpaceError,
    SpaceChangedError,
    StoreError,
    TrialFailed,
    TuningError,
)
from bo_hpo.evaluation import Evaluation
from bo_hpo.loop import load, tune
from bo_hpo.progress import report as report_step
from bo_hpo.result import TuningResult
from bo_hpo.space import Choice, Fixed, Float, Int, SearchSpace

__version__ = "0.1.0"

__all__ = [
    "BoHpoError", "Budget", "Choice", "ConfigError", "Evaluation", "Experiment", "Fixed",
    "Float", "Int", "Trial", "LockedError", "NotFoundError",
    "SearchSpace", "SearchSpaceError", "SpaceChangedError", "StoreError",
    "TrialFailed", "TuningError", "TuningResult", "load", "report_step", "tune",
]
