"""The search-space spec: parameter kinds, conditions, constraints, loading."""

from bo_hpo.space.constraints import Divisible, Linear, Rule, parse_constraint
from bo_hpo.space.loading import KINDS, param_from_entry
from bo_hpo.space.params import Choice, Fixed, Float, Int, Param
from bo_hpo.space.space import SearchSpace

__all__ = [
    "KINDS", "Choice", "Divisible", "Fixed", "Float", "Int", "Linear", "Param", "Rule",
    "SearchSpace", "param_from_entry", "parse_constraint",
]
