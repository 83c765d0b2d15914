"""Constraint strings and rule strings, parsed with :mod:`ast` and never ``eval``'d.

Two constraint forms are understood:

* linear inequalities over numeric parameters: ``"warmup_frac + decay_frac <= 0.9"``,
  ``"2*a - b >= 0.1"``. Ax enforces these during generation.
* divisibility: ``"hidden_dim % num_heads == 0"`` (or a constant divisor,
  ``"hidden_dim % 8 == 0"``). Ax cannot express it, so the translator reparametrises the
  dividend to make every proposal feasible by construction.

Rules (``invalid_if`` in experiment files) are boolean expressions over the config:
comparisons, ``and``/``or``/``not``, arithmetic, numbers and quoted strings.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bo_hpo.errors import SearchSpaceError
from bo_hpo.space.params import show

#: How far past its bound a linear constraint may be and still hold (relative to the bound,
#: at least 1): Ax accepts 1e-8 absolute, and BoTorch's optimiser returns points on the
#: boundary that overshoot by a few 1e-9. A tighter check turned those proposals, often the
#: best ones, into random fallbacks (2 to 7 of 50 proposals on the benchmark's
#: ``schedule_linear_constraint``).
LINEAR_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Linear:
    """``sum(coefficients[name] * name) <= bound`` (``>=`` forms are negated on parsing)."""

    text: str
    coefficients: Mapping[str, float]
    bound: float

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.coefficients)

    def holds(self, config: Mapping[str, Any], tol: float = LINEAR_TOLERANCE) -> bool:
        total = sum(c * float(config[n]) for n, c in self.coefficients.items())
        return total <= self.bound + tol * max(1.0, abs(self.bound))


@dataclass(frozen=True)
class Divisible:
    """``dividend % divisor == 0``; ``divisor`` is a parameter name or a positive int."""

    text: str
    dividend: str
    divisor: str | int

    @property
    def names(self) -> tuple[str, ...]:
        return (self.dividend,) + ((self.divisor,) if isinstance(self.divisor, str) else ())

    def holds(self, config: Mapping[str, Any]) -> bool:
        d = self.divisor if isinstance(self.divisor, int) else config[self.divisor]
        return int(config[self.dividend]) % int(d) == 0


Constraint = Linear | Divisible


#: Longest constraint or rule string, and deepest nesting of its expression, accepted. Real
#: constraints are a few terms; the limits keep a pathological string (50,000 terms) from
#: exhausting the parser's recursion.
MAX_EXPRESSION_CHARS = 2_000
MAX_EXPRESSION_DEPTH = 50


def _parse(text: str, what: str) -> ast.expr:
    if not isinstance(text, str) or not text.strip():
        raise SearchSpaceError(f"a {what} must be a non-empty string, got {show(text)}")
    if len(text) > MAX_EXPRESSION_CHARS:
        raise SearchSpaceError(
            f"{what} is {len(text):,} characters long; at most {MAX_EXPRESSION_CHARS:,} are "
            f"accepted (starts {text[:40]!r}...)"
        )
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as err:
        raise SearchSpaceError(f"{what} {text!r} is not a valid expression: {err.msg}") from None
    except ValueError as err:  # Python 3.10: a NUL byte in the source
        raise SearchSpaceError(f"{what} {text!r} is not a valid expression: {err}") from None
    except (RecursionError, MemoryError):
        raise SearchSpaceError(
            f"{what} is nested too deeply to parse; at most {MAX_EXPRESSION_DEPTH} levels are "
            f"accepted (starts {text[:40]!r}...)"
        ) from None
    if _depth(tree) > MAX_EXPRESSION_DEPTH:
        raise SearchSpaceError(
            f"{what} {text[:60]!r}{'...' if len(text) > 60 else ''} is nested more than "
            f"{MAX_EXPRESSION_DEPTH} levels deep; split it or simplify it"
        )
    return tree


def _depth(node: ast.AST) -> int:
    """Depth of an expression tree, without recursion (a deep tree must not overflow)."""
    deepest, stack = 0, [(node, 1)]
    while stack:
        current, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > MAX_EXPRESSION_DEPTH:
            break
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(current))
    return deepest


def parse_constraint(text: str) -> Constraint:
    """Parse one constraint string into a :class:`Linear` or :class:`Divisible`."""
    node = _parse(text, "constraint")
    if not isinstance(node, ast.Compare) or len(node.ops) != 1:
        raise SearchSpaceError(
            f"constraint {text!r}: expected one comparison such as 'a + b <= 1' or "
            f"'a % b == 0'"
        )
    left, op, right = node.left, node.ops[0], node.comparators[0]
    if isinstance(left, ast.BinOp) and isinstance(left.op, ast.Mod):
        if not isinstance(op, ast.Eq) or _constant(right) != 0:
            raise SearchSpaceError(
                f"constraint {text!r}: a divisibility constraint must read 'a % b == 0'"
            )
        if not isinstance(left.left, ast.Name):
            raise SearchSpaceError(
                f"constraint {text!r}: the dividend must be a parameter name, got "
                f"{ast.unparse(left.left)!r}"
            )
        divisor: str | int
        if isinstance(left.right, ast.Name):
            divisor = left.right.id
        else:
            value = _constant(left.right)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise SearchSpaceError(
                    f"constraint {text!r}: the divisor must be a parameter name or a positive "
                    f"integer, got {ast.unparse(left.right)!r}"
                )
            divisor = value
        if divisor == left.left.id:
            raise SearchSpaceError(f"constraint {text!r}: a parameter always divides itself")
        return Divisible(text=text, dividend=left.left.id, divisor=divisor)
    if isinstance(op, (ast.LtE, ast.Lt)):
        sign = 1.0
    elif isinstance(op, (ast.GtE, ast.Gt)):
        sign = -1.0
    else:
        raise SearchSpaceError(
            f"constraint {text!r}: linear constraints must use <=, <, >= or >; got "
            f"{type(op).__name__} (equalities are not supported by Ax)"
        )
    lhs = _linear(left, text)
    rhs = _linear(right, text)
    coefficients: dict[str, float] = {}
    for name in {**lhs, **rhs}:
        if name == "":
            continue
        c = sign * (lhs.get(name, 0.0) - rhs.get(name, 0.0))
        if c != 0.0:
            coefficients[name] = c
    bound = sign * (rhs.get("", 0.0) - lhs.get("", 0.0))
    if not coefficients:
        raise SearchSpaceError(f"constraint {text!r}: names no parameter")
    if not all(math.isfinite(v) for v in (bound, *coefficients.values())):
        raise SearchSpaceError(
            f"constraint {text!r}: coefficients and bound must be finite numbers, got "
            f"{dict(coefficients)} <= {bound!r}"
        )
    return Linear(text=text, coefficients=coefficients, bound=bound)


def _constant(node: ast.expr) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        value = _constant(node.operand)
        return -value if isinstance(value, (int, float)) else None
    return None


def _linear(node: ast.expr, text: str) -> dict[str, float]:
    """A linear expression as {name: coefficient, "": constant}; anything else is an error."""
    if isinstance(node, ast.Name):
        return {node.id: 1.0}
    value = _constant(node)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return {"": float(value)}
        except OverflowError:
            raise SearchSpaceError(
                f"constraint {text!r}: the number {show(value)} is too large"
            ) from None
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        sign = -1.0 if isinstance(node.op, ast.USub) else 1.0
        return {k: sign * v for k, v in _linear(node.operand, text).items()}
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
        a, b = _linear(node.left, text), _linear(node.right, text)
        sign = 1.0 if isinstance(node.op, ast.Add) else -1.0
        out = dict(a)
        for k, v in b.items():
            out[k] = out.get(k, 0.0) + sign * v
        return out
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mult, ast.Div)):
        a, b = _linear(node.left, text), _linear(node.right, text)
        a_const, b_const = set(a) == {""}, set(b) == {""}
        if isinstance(node.op, ast.Mult) and (a_const or b_const):
            k, expr = (a[""], b) if a_const else (b[""], a)
            return {n: k * v for n, v in expr.items()}
        if isinstance(node.op, ast.Div) and b_const:
            if b[""] == 0:
                raise SearchSpaceError(
                    f"constraint {text!r}: {ast.unparse(node)!r} divides by zero"
                )
            return {n: v / b[""] for n, v in a.items()}
    raise SearchSpaceError(
        f"constraint {text!r}: {ast.unparse(node)!r} is not linear in the parameters; "
        f"write non-linear rules as `is_valid` (or `invalid_if` in a TOML file)"
    )


_COMPARE: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
_ARITH: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Mod: operator.mod,
    ast.FloorDiv: operator.floordiv,
    ast.Pow: operator.pow,
}


@dataclass(frozen=True)
class Rule:
    """A boolean expression over config values, e.g. ``"optimizer == 'SGD' and lr < 1e-4"``.

    A name that is not in the config (an inactive conditional parameter) makes every
    comparison that uses it false.
    """

    text: str
    tree: ast.expr

    @classmethod
    def parse(cls, text: str) -> Rule:
        tree = _parse(text, "rule")
        for node in ast.walk(tree):
            allowed = (
                ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd,
                ast.Compare, ast.BinOp, ast.Name, ast.Load, ast.Constant, ast.List, ast.Tuple,
                *_COMPARE, *_ARITH,
            )
            if not isinstance(node, allowed):
                raise SearchSpaceError(
                    f"rule {text!r}: {type(node).__name__} is not allowed; use comparisons, "
                    f"and/or/not, arithmetic, numbers and quoted strings"
                )
            if isinstance(node, ast.Constant) and not (
                node.value is None or isinstance(node.value, (int, float, str))
            ):
                raise SearchSpaceError(
                    f"rule {text!r}: {ast.unparse(node)!r} is not allowed; use numbers, quoted "
                    f"strings, True, False or None"
                )
        _check_constant_parts(tree, text)
        for node in ast.walk(tree):
            if (isinstance(node, ast.BinOp) and isinstance(node.op, _DIVIDE)
                    and _names_nothing(node.right) and _divisor_is_zero(node.right)):
                raise SearchSpaceError(
                    f"rule {text!r}: {ast.unparse(node)[:60]!r} divides by zero"
                )
        return cls(text=text, tree=tree)

    @property
    def names(self) -> set[str]:
        return {n.id for n in ast.walk(self.tree) if isinstance(n, ast.Name)}

    def __call__(self, config: Mapping[str, Any]) -> bool:
        """Whether the rule holds for ``config``.

        Raises:
            SearchSpaceError: the rule cannot be evaluated for ``config`` (a division by
                zero, a comparison of a string with a number, a result too large).
        """
        try:
            return bool(_evaluate(self.tree, config))
        except _Inactive:
            return False
        except (ArithmeticError, TypeError, ValueError, MemoryError) as err:
            raise SearchSpaceError(
                f"rule {self.text!r} cannot be evaluated for {show(dict(config))}: "
                f"{type(err).__name__}: {err}"
            ) from None


class _Inactive(Exception):
    pass


def _evaluate(node: ast.expr, config: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id not in config:
            raise _Inactive(node.id)
        return config[node.id]
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_evaluate(e, config) for e in node.elts]
    if isinstance(node, ast.BoolOp):
        results = (_safe_bool(v, config) for v in node.values)
        return all(results) if isinstance(node.op, ast.And) else any(results)
    if isinstance(node, ast.UnaryOp):
        if isinstance(node.op, ast.Not):
            return not _safe_bool(node.operand, config)
        value = _evaluate(node.operand, config)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp):
        left, right = _evaluate(node.left, config), _evaluate(node.right, config)
        if isinstance(node.op, ast.Pow) and _huge_power(left, right):
            left = float(left)  # as a float, an overflow raises instead of running for hours
        if isinstance(node.op, ast.Mult) and _huge_repeat(left, right):
            raise ValueError(f"repeating a sequence more than {_MAX_REPEAT:,} items long")
        return _ARITH[type(node.op)](left, right)
    if isinstance(node, ast.Compare):
        left = _evaluate(node.left, config)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = _evaluate(comparator, config)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    raise SearchSpaceError(f"unsupported expression {ast.unparse(node)!r}")  # pragma: no cover


_DIVIDE = (ast.Div, ast.FloorDiv, ast.Mod)


def _names_nothing(node: ast.AST) -> bool:
    return not any(isinstance(n, ast.Name) for n in ast.walk(node))


def _divisor_is_zero(node: ast.expr) -> bool:
    try:
        return bool(_evaluate(node, {}) == 0)
    except (ArithmeticError, TypeError, ValueError, MemoryError):
        return False  # not a number: the rule fails when it is evaluated, saying why


def _check_constant_parts(tree: ast.expr, text: str) -> None:
    """Compute each arithmetic part of a rule that names no parameter, so that one which
    cannot be computed (``9 ** 9 ** 9``, ``'x' * 10**10``) is refused now, not mid-run."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.BinOp) and _names_nothing(node):
            try:
                if isinstance(_evaluate(node, {}), complex):
                    raise ValueError("the result is a complex number")
            except (ArithmeticError, TypeError, ValueError, MemoryError) as err:
                raise SearchSpaceError(
                    f"rule {text!r}: {ast.unparse(node)[:60]!r} cannot be computed: "
                    f"{type(err).__name__}: {err}"
                ) from None
            continue
        stack.extend(ast.iter_child_nodes(node))


_MAX_REPEAT = 10_000


def _huge_power(base: Any, exponent: Any) -> bool:
    """Whether ``base ** exponent`` of two ints would have more than 4,096 bits."""
    ints = all(isinstance(v, int) and not isinstance(v, bool) for v in (base, exponent))
    return ints and exponent > 0 and abs(base) > 1 and exponent * abs(base).bit_length() > 4096


def _huge_repeat(a: Any, b: Any) -> bool:
    """Whether ``a * b`` repeats a string or list into more than ``_MAX_REPEAT`` items."""
    for seq, n in ((a, b), (b, a)):
        if isinstance(seq, (str, list)) and isinstance(n, int):
            return len(seq) * n > _MAX_REPEAT
    return False


def _safe_bool(node: ast.expr, config: Mapping[str, Any]) -> bool:
    try:
        return bool(_evaluate(node, config))
    except _Inactive:
        return False
