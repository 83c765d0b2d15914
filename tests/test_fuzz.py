"""Fuzzing with malformed input: a seeded generator of a few hundred bad search spaces,
constraint and rule strings, experiment files and command lines.

Every case must end in a ``bo_hpo.BoHpoError`` subclass from the Python API, or in exit
code 2 from the CLI (4 when the store cannot be used), with an ``error:`` line and no
traceback, within seconds, and without writing a file anywhere but the case's own folder.
The generator is ``random.Random`` with fixed seeds: the same cases every run.
"""

from __future__ import annotations

import contextlib
import faulthandler
import json
import math
import os
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from bo_hpo import BoHpoError, Choice, Fixed, Float, Int, SearchSpace, SearchSpaceError
from bo_hpo.cli import main
from bo_hpo.experiment import load_experiment
from bo_hpo.space import Param, Rule

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
CASE_SECONDS = 10.0  # the most one case may take
WATCHDOG_SECONDS = 60.0  # past this, a case hangs: dump every stack and end the run
NAN, INF = math.nan, math.inf
MARK = "bo_hpo_fuzz_" + random.Random(7).randbytes(4).hex()  # a name no real file has
SECRET = "s3cretPW"  # a store password that must never be printed


# ----------------------------------------------------------------------------- helpers
_WATCHDOG = {"fd": 2}  # where a hang's stacks go: the terminal, not pytest's capture


@pytest.fixture(autouse=True, scope="module")
def _watchdog_stream(pytestconfig):
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        _WATCHDOG["fd"] = os.dup(2)
    yield
    os.close(_WATCHDOG["fd"])
    _WATCHDOG["fd"] = 2


@contextlib.contextmanager
def _deadline() -> Iterator[None]:
    """Fail a case that takes more than CASE_SECONDS; if one hangs, print every thread's
    stack and end the run (a hang inside one C call cannot be interrupted otherwise)."""
    faulthandler.dump_traceback_later(WATCHDOG_SECONDS, exit=True, file=_WATCHDOG["fd"])
    start = time.perf_counter()
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()
    elapsed = time.perf_counter() - start
    assert elapsed < CASE_SECONDS, f"the case took {elapsed:.1f} s"


def _refused(thunk: Callable[[], Any], kind: type[BoHpoError] = BoHpoError) -> BoHpoError:
    """``thunk()`` raises ``kind`` with a short, non-empty message. Any other exception
    (TypeError, KeyError, RecursionError, ...) propagates and fails the test."""
    with _deadline(), pytest.raises(BoHpoError) as info:
        thunk()
    err = info.value
    assert isinstance(err, kind), f"{type(err).__name__} is not a {kind.__name__}: {err}"
    message = str(err)
    assert message.strip() and len(message) < 5000, message[:300]
    return err


def _deep_list(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


def _deep_dict(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth):
        value = {"a": value}
    return value


class _BadRepr:
    """A value whose repr fails: an error message must not."""

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


# ==================================================== 1. malformed search-space specs
RANGE_KINDS = ["uniform", "log_uniform", "int", "log_int"]
FILLERS = [
    ("ok_lr", ("log_uniform", 1e-5, 1e-1)), ("ok_drop", ("uniform", 0.0, 0.5)),
    ("ok_opt", ("choice", ["sgd", "adam"])), ("ok_bs", ("ordered", [32, 64, 128])),
    ("ok_layers", ("int", 1, 8)), ("ok_epochs", 10),
]
JUNK = ["0", "1e-3", None, [0], (0,), b"0", True, False, 1j, "nan", Ellipsis, {0, 1},
        object()]


def _ident(rng: random.Random) -> str:
    return f"p{rng.randint(0, 999)}"


def _embed(rng: random.Random, items: list[tuple[Any, Any]]) -> dict:
    """``items`` among a few valid parameters, in a random order."""
    fillers = rng.sample(FILLERS, rng.randint(0, 3))
    out = list(fillers)
    for item in items:
        out.insert(rng.randint(0, len(out)), item)
    return dict(out)


def _space(spec: Any, constraints: Any = ()) -> Callable[[], Any]:
    return lambda: SearchSpace(spec, constraints=constraints)


def s_kind(rng):
    kind = rng.choice(["unifrom", "float", "categorical", "", "UNIFORM", "log", "range",
                       "Choice", "int ", "loguniform", "normal"])
    return _space(_embed(rng, [(_ident(rng), (kind, 0, 1))]))


def s_arity(rng):
    kind = rng.choice(RANGE_KINDS)
    args = [rng.randint(1, 9) * (i + 1) for i in range(rng.choice([0, 1, 3, 4]))]
    return _space(_embed(rng, [(_ident(rng), (kind, *args))]))


def s_low_not_below_high(rng):
    kind = rng.choice(RANGE_KINDS)
    if kind.endswith("int"):
        low = rng.randint(1, 100)
        high = low - rng.randint(0, 5)
    else:
        low = rng.uniform(0.1, 10)
        high = low * rng.choice([1.0, 0.5, 0.1])
    return _space(_embed(rng, [(_ident(rng), (kind, low, high))]))


def s_log_not_positive(rng):
    kind = rng.choice(["log_uniform", "log_int"])
    low = rng.choice([0, -1, -rng.randint(1, 10**6)] + ([0.0, -0.0, -rng.random()]
                                                        if kind == "log_uniform" else []))
    return _space(_embed(rng, [(_ident(rng), (kind, low, rng.randint(1, 100)))]))


def s_bound_type(rng):
    kind, junk = rng.choice(RANGE_KINDS), rng.choice(JUNK)
    bounds = (junk, 10) if rng.random() < 0.5 else (1, junk)
    return _space(_embed(rng, [(_ident(rng), (kind, *bounds))]))


def s_not_finite(rng):
    kind, bad = rng.choice(RANGE_KINDS), rng.choice([NAN, INF, -INF])
    bounds = (bad, 10) if rng.random() < 0.5 else (1, bad)
    return _space(_embed(rng, [(_ident(rng), (kind, *bounds))]))


def s_int_fraction(rng):
    kind = rng.choice(["int", "log_int"])
    bounds = ((rng.randint(1, 5) + 0.5, 10) if rng.random() < 0.5
              else (1, rng.randint(2, 9) + 0.25))
    return _space(_embed(rng, [(_ident(rng), (kind, *bounds))]))


def s_huge(rng):
    entry = rng.choice([
        ("uniform", 0, 10 ** rng.randint(309, 500)),
        ("uniform", -(10 ** 400), 0),
        ("uniform", -1.7e308, 1.7e308),
        ("log_uniform", 1e-3, 10 ** rng.randint(309, 400)),
        ("int", 0, 2 ** rng.randint(54, 200)),
        ("int", -(2 ** rng.randint(54, 100)), 0),
        ("log_int", 1, 10 ** rng.randint(17, 400)),
        ("choice", [1, 2 ** rng.randint(54, 300)]),
        ("ordered", [1.0, 10 ** 400]),
    ])
    return _space(_embed(rng, [(_ident(rng), entry)]))


def s_empty_choice(rng):
    entry = (rng.choice(["choice", "ordered"]), rng.choice([[], (), range(0)]))
    return _space(_embed(rng, [(_ident(rng), entry)]))


def s_duplicate_choice(rng):
    kind = rng.choice(["choice", "ordered"])
    v = rng.randint(0, 99)
    values = rng.choice([
        [v, v + 1, v], [v / 4, v / 4 + 0.5, v / 4], [f"x{v}", f"y{v}", f"x{v}"],
        [True, False, True], [None, None], [1, 1.0], [0, 0.0, -0.0], [v, np.int64(v)],
    ])
    return _space(_embed(rng, [(_ident(rng), (kind, values))]))


def s_choice_not_a_list(rng):
    kind = rng.choice(["choice", "ordered"])
    entry = rng.choice([(kind, rng.choice(["abc", "", 5, 1.5, None, {"a": 1}, b"ab", True])),
                        (kind, [1], [2]), (kind,)])
    return _space(_embed(rng, [(_ident(rng), entry)]))


def s_choice_junk_value(rng):
    kind = rng.choice(["choice", "ordered"])
    junk = rng.choice([[1], (1,), {"a": 1}, b"x", object(), 1j, NAN, INF, -INF, {1},
                       Ellipsis])
    values = [1, 2, 3]
    values.insert(rng.randint(0, 3), junk)
    return _space(_embed(rng, [(_ident(rng), (kind, values))]))


def s_ordered_mixed(rng):
    values = rng.choice([[1, "a"], ["small", 2.5, "large"], [0, None, "x"]])
    return _space(_embed(rng, [(_ident(rng), ("ordered", values))]))


def s_fixed(rng):
    entry = rng.choice([("fixed",), ("fixed", 1, 2), ("fixed", [1]), ("fixed", (1,)),
                        ("fixed", b"x"), ("fixed", object()), ("fixed", 1j), ("fixed", NAN),
                        ("fixed", {1}), NAN])
    return _space(_embed(rng, [(_ident(rng), entry)]))


def s_entry_junk(rng):
    entry = rng.choice([None, b"x", object(), {1, 2}, frozenset(), [], (), [1, 2],
                        (0.0, 1.0), [None, 1], 1j, Ellipsis, range(3), bytearray(b"x")])
    return _space(_embed(rng, [(_ident(rng), entry)]))


def s_table(rng):
    entry = rng.choice([
        {"kind": "uniform"}, {"kind": "uniform", "low": 0},
        {"kind": "uniform", "low": 0, "high": 1, "step": 0.1},
        {"kind": "choice", "values": "abc"}, {"kind": "choice"}, {"kind": "fixed"}, {},
        {"kind": ["uniform"]}, {"kind": {"x": 1}}, {"type": "nope", "low": 0, "high": 1},
        {"kind": "uniform", "low": 0, "high": 1, "when": 5},
        {"kind": "int", "low": 0.5, "high": 3}, {"kind": "uniform", "low": 1, "high": 0},
        {"kind": "ordered", "values": []}, {"kind": "fixed", "value": [1]},
        {1: 2, "kind": "uniform", "low": 0, "high": 1},
    ])
    return _space(_embed(rng, [(_ident(rng), entry)]))


def s_options(rng):
    entry = rng.choice([
        ("uniform", 0, 1, {"bogus": 1}),
        ("uniform", 0, 1, {"when": {"ok_opt": ["sgd"]}, "extra": 2}),
        ("uniform", 0, 1, {1: 2, "a": 3}),
        ("uniform", 0, 1, {"when": {}}, {"when": {}}),
        ("choice", ["a", "b"], {"when": 5}),
    ])
    return _space(_embed(rng, [(_ident(rng), entry)]))


def s_name(rng):
    name = rng.choice(["1a", "a b", "a-b", "", "a.b", " a", "a\n", "a__b", "__init__", "x__",
                       "__", "lr__log", 1, None, b"a", ("a",), 1.5, True, frozenset()])
    return _space(_embed(rng, [(name, ("uniform", 0, 1))]))


def s_when(rng):
    parent = ("b", ("choice", ["x", "y"]))
    child = _ident(rng)
    specs = [
        [(child, ("uniform", 0, 1, {"when": {"zz": ["x"]}}))],
        [("b", ("uniform", 0, 1)), (child, ("uniform", 0, 1, {"when": {"b": [0.5]}}))],
        [("b", 5), (child, ("uniform", 0, 1, {"when": {"b": [5]}}))],
        [parent, (child, ("uniform", 0, 1, {"when": {"b": ["z"]}}))],
        [parent, (child, ("uniform", 0, 1, {"when": {"b": [1]}}))],
        [parent, (child, ("uniform", 0, 1, {"when": {"b": []}}))],
        [parent, (child, ("uniform", 0, 1, {"when": rng.choice(["b", ["b"], 5, True])}))],
        [parent, (child, ("uniform", 0, 1, {"when": {"b": rng.choice(
            [[["x"]], {"x": 1}, b"x", None, {"x"}])}}))],
        [("a", ("choice", ["x"], {"when": {"b": ["x"]}})),
         ("b", ("choice", ["x"], {"when": {"a": ["x"]}}))],
        [("a", ("choice", ["x"], {"when": {"b": ["x"]}})),
         ("b", ("choice", ["x"], {"when": {"c": ["x"]}})),
         ("c", ("choice", ["x"], {"when": {"a": ["x"]}}))],
        [("a", ("choice", ["x", "y"], {"when": {"a": ["x"]}}))],
    ]
    return _space(_embed(rng, rng.choice(specs)))


def s_spec_junk(rng):
    spec = rng.choice([None, 1, "abc", b"x", [1], [None], {}, [], set(), object(), 1.5,
                       ("uniform", 0, 1), [("lr", ("uniform", 0, 1))], ["lr"]])
    return _space(spec)


def s_deep(rng):
    depth = rng.choice([10_000, 100_000])
    make = rng.choice([
        lambda: {"p": _deep_list(depth)}, lambda: {"p": _deep_dict(depth)},
        lambda: {"p": ("choice", _deep_list(depth))},
        lambda: {"p": ("choice", [1, _deep_list(depth)])},
        lambda: {"p": ("fixed", _deep_list(depth))},
        lambda: {"p": ("uniform", 0, 1, {"when": _deep_dict(depth)})},
        lambda: {"p": ("uniform", _deep_list(depth), 1)},
        lambda: {"p": {"kind": _deep_list(depth)}},
    ])
    return lambda: SearchSpace(make())


def s_bad_repr(rng):
    entry = rng.choice([("uniform", _BadRepr(), 1), ("choice", [_BadRepr()]),
                        ("fixed", _BadRepr()), _BadRepr(), ("int", 0, 5, _BadRepr())])
    return _space(_embed(rng, [(_ident(rng), entry)]))


def s_typed(rng):
    return rng.choice([
        lambda: SearchSpace([Param("a")]),
        lambda: SearchSpace({"a": Param("a")}),
        lambda: SearchSpace([Float("a", 0, 1, log="yes")]),
        lambda: SearchSpace([Int("a", 1, 5, log=1)]),
        lambda: SearchSpace([Choice("a", [1, 2], ordered="x")]),
        lambda: SearchSpace({"b": Float("a", 0, 1)}),
        lambda: SearchSpace([Float("a", 0, 1), Float("a", 0, 2)]),
        lambda: SearchSpace([Float(5, 0, 1)]),
        lambda: SearchSpace([Float("a", 0, 1), 5]),
        lambda: SearchSpace([Fixed("a", [1])]),
        lambda: SearchSpace([Choice("a", None)]),
        lambda: SearchSpace([Int("a", 1, 5, when=5)]),
        lambda: SearchSpace([Float("a__b", 0, 1)]),
        lambda: SearchSpace([Choice("a", ["x"], when={"a": ["x"]})]),
    ])


def s_constraints_argument(rng):
    junk = rng.choice([None, 1, 1.5, True, object(), [1], [None], b"ok_drop <= 1",
                       {"ok_drop": 1}, [b"ok_drop <= 1"], [["ok_drop <= 1"]], [_BadRepr()]])
    return _space({"ok_drop": ("uniform", 0.0, 0.5)}, junk)


SPACE_MUTATORS = [
    s_kind, s_arity, s_low_not_below_high, s_log_not_positive, s_bound_type, s_not_finite,
    s_int_fraction, s_huge, s_empty_choice, s_duplicate_choice, s_choice_not_a_list,
    s_choice_junk_value, s_ordered_mixed, s_fixed, s_entry_junk, s_table, s_options, s_name,
    s_when, s_spec_junk, s_deep, s_bad_repr, s_typed, s_constraints_argument,
]


def _space_cases(n: int = 168, seed: int = 1) -> list:
    rng = random.Random(seed)
    cases = []
    for i in range(n):
        mutator = SPACE_MUTATORS[i % len(SPACE_MUTATORS)]
        cases.append(pytest.param(mutator(rng), id=f"{i:03d}-{mutator.__name__[2:]}"))
    return cases


SPACE_CASES = _space_cases()

#: Legal, if unusual, specs: the fuzz cases above must fail for their fault, not for these.
VALID_SPACES = [
    ({"learning_rate": ("log_uniform", 1e-5, 1e-1), "batch_size": ("ordered", [32, 64, 128]),
      "optimizer": ("choice", ["SGD", "Adam"]),
      "momentum": ("uniform", 0.0, 0.99, {"when": {"optimizer": ["SGD"]}}), "epochs": 10}, ()),
    ({"lr": ("log_uniform", 1e-320, 1.0)}, ()),
    ({"n": ("int", -(2 ** 53), 2 ** 53)}, ()),
    ({"only": ("choice", ["one"])}, ()),
    ({"lambda_": ("uniform", np.float32(0), np.float64(1))}, ()),
    ({"o": ("choice", ["a", "b"]),
      "t": {"kind": "uniform", "low": 0, "high": 1, "when": {"o": "a"}}}, ()),
    ({"size": ("ordered", ["small", "large"])}, ()),
    ({"a": ("uniform", 0, 1), "b": ("uniform", 0, 1)}, ["(((a))) + b <= 1  # a comment"]),
    ({"hidden_dim": ("int", 1, 2 ** 40), "num_heads": ("ordered", [1, 2, 3, 8])},
     ["hidden_dim % num_heads == 0"]),
    ({"x": ("uniform", -1.0e300, 1.0e300)}, ()),
]


MIXED_TYPES = "ignore:.*choice values of mixed types:UserWarning"  # expected, then refused


@pytest.mark.filterwarnings(MIXED_TYPES)
@pytest.mark.parametrize("thunk", SPACE_CASES)
def test_malformed_space_raises_search_space_error(thunk):
    _refused(thunk, SearchSpaceError)


@pytest.mark.parametrize(("spec", "constraints"), VALID_SPACES)
def test_legal_edge_spaces_construct(spec, constraints):
    with _deadline():
        space = SearchSpace(spec, constraints=constraints)
        space.sample(np.random.default_rng(0))


# ===================================================== 2. constraint and rule strings
CONSTRAINT_SPACE = {
    "a": ("uniform", 0.0, 1.0), "b": ("uniform", 0.0, 1.0), "n": ("int", 1, 64),
    "h": ("ordered", [1, 2, 4]), "o": ("choice", ["x", "y"]), "l": ("log_uniform", 1e-3, 1.0),
    "m": ("uniform", 0.0, 1.0, {"when": {"o": ["x"]}}), "f": 3,
}
CONSTRAINT_TEMPLATES = [
    "{x} + <= {k}", "{x} <= ", "<= {k}", "{x} {y} <= {k}", "({x} <= {k}", "{x} <= {k})",
    "{x} =< {k}", "{x} <== {k}", "abs({x}) <= {k}", "max({x}, {y}) <= {k}",
    "__import__('os').system('touch MARKER') <= {k}", "open('MARKER', 'w') <= {k}",
    "{x}.real <= {k}", "().__class__.__bases__[0] <= {k}", "(lambda: {x})() <= {k}",
    "sum([{x} for _ in range(3)]) <= {k}", "f'{{{x}}}' <= {k}", "({x} := {k}) <= {k}",
    "import os", "from os import system", "exec('import os')",
    "SUM50000", "DEEP_PARENS", "-" * 60 + "{x} <= {k}", "(1 + " * 60 + "{x}" + ")" * 60 + " <= 1",
    "zz{j} <= {k}", "{x} + zz <= {k}", "{x} * {y} <= {k}", "{x} ** 2 <= {k}", "1 / {x} <= {k}",
    "{x} * {x} <= {k}", "{x} // 2 <= {k}", "{x} % 2 <= {k}", "{x} / 0 <= {k}",
    "{x} / (1 - 1) <= {k}", "{x} / 0.0 <= {k}", "n % 0 == 0", "n % -{j} == 0",
    "n % {j}.5 == 0", "n % True == 0", "n % h == 1", "n % h != 0", "n % n == 0",
    "{j} % n == 0", "(n + 1) % h == 0", "n % (h + 1) == 0", "n % zz == 0", "o % 2 == 0",
    "n % a == 0", "a % 2 == 0", "n % 2 == 0 == 0", "f % h == 0", "{x} == {k}", "{x} != {k}",
    "0 <= {x} <= 1", "{x} <= {k} and {y} <= {k}", "not {x}", "{x}", "{k}", "{x} in [1]",
    "{x} is {k}", "{x} <= 1e999", "{x} <= -1e999", "{x} * 1e400 <= {k}",
    "1e308 * {x} + 1e308 * {x} <= 1", "{x} <= " + "9" * 400, "{x} * " + "7" * 400 + " <= 1",
    "o <= {k}", "l <= {k}", "m <= {k}", "f <= {k}", "h <= {k}", "{x} + {y} >= 5",
    "{x} <= -5", "{x} - {x} <= {k}", "0 <= 1", "{x} <= 'text'", "{x} <= True",
    "{x} <= None", "{x} <= [1]", "", "   ", "\x00", "{x} <= 1\x00", "{x} <= 1; import os",
    "{x} <= 1\n{y} <= 1", "{x} <= {k}" + " " * 2100, "{x} <= {k} # " + "c" * 2100,
]
NOT_STRINGS = [None, 5, 1.5, b"a <= 1", ["a <= 1"], ("a <= 1",), {"a": 1}, _BadRepr()]


def _fill(template: str, rng: random.Random) -> str:
    x, y = rng.sample(["a", "b"], 2)
    if template == "SUM50000":
        return " + ".join([x] * 50_000) + " <= 1"
    if template == "DEEP_PARENS":
        return "(" * 3000 + x + ")" * 3000 + " <= 1"
    return template.format(x=x, y=y, k=rng.choice([1, 0.5, 2]), j=rng.randint(2, 9))


def _constraint_cases(seed: int = 2) -> list:
    rng = random.Random(seed)
    cases = [pytest.param(_fill(t, rng), id=f"c{i:03d}")
             for i, t in enumerate(CONSTRAINT_TEMPLATES)]
    cases += [pytest.param(v, id=f"c-not-a-string-{i}") for i, v in enumerate(NOT_STRINGS)]
    return cases


RULE_TEMPLATES = [
    "{x} +", "{x} >", "and {x}", "{x} and", "({x} > 1", "{x} > 1)", "{x} === 1", "{x} <> 1",
    "f({x})", "abs({x}) > 1", "__import__('os').system('touch MARKER')", "open('MARKER', 'w')",
    "print({x})", "{x}.real > 0", "().__class__", "{x}.__class__.__bases__",
    "(lambda: {x})()", "lambda: 1", "[{x} for _ in [1]]", "{{{x} for _ in [1]}}",
    "any({x} > 1 for _ in [1])", "f'{{{x}}}' == 'x'", "({x} := 1)", "import os",
    "from os import path", "SUM50000", "DEEP_PARENS", "not " * 60 + "{x}", "-" * 60 + "{x} > 1",
    "{x}[0] > 1", "{x}[1:2]", "{{'{x}': 1}}", "{{{x}}}", "{x} if {y} else 1", "{x} is None",
    "{x} is not None", "{x} << 1 > 0", "~{x} > 0", "{x} & 1", "{x} | 1", "{x} ^ 1",
    "{x} @ {y}", "...", "b'x' == {x}", "{x} == 1j", "{x} / 0 > 1", "{x} % 0 == 1",
    "{x} // 0 > 1", "{x} / 0.0 > 1", "{x} % (2 - 2) == 0", "9 ** 9 ** 9 > {x}",
    "{x} ** 10 ** 10 ** 10 > 1", "'x' * 10 ** 10 == {x}", "[1] * 10 ** 9 == {x}",
    "(-8) ** 0.5 > {x}", "", "  ", "\x00", "{x} > 1; import os", "{x} > 1\n{y} > 1",
    "await {x}", "yield {x}", "*{x}", "{x} > 1 # " + "c" * 2100,
]


def _rule_cases(seed: int = 3) -> list:
    rng = random.Random(seed)
    cases = [pytest.param(_fill(t, rng).replace(" <= 1", " > 1"), id=f"r{i:03d}")
             for i, t in enumerate(RULE_TEMPLATES)]
    cases += [pytest.param(v, id=f"r-not-a-string-{i}") for i, v in enumerate(NOT_STRINGS)]
    return cases


CONSTRAINT_CASES = _constraint_cases()
RULE_CASES = _rule_cases()

#: Rules that parse (their names are only known with the space) but that no experiment
#: file may hold: unknown names, or no answer for the file's baseline.
RULES_REFUSED_ON_LOADING = [
    "zz > 1", "lr > 1 and zz", "not zz", "lr / (dropout - dropout) > 1",
    "dropout % (lr - lr) > 1", "(lr - lr) ** -1 > 1", "optimizer < 1", "optimizer + 1 > 1",
    "-optimizer > 1", "lr in 5", "optimizer * 100000 == 'x'", "2 ** (10 ** 4 * lr) > 0",
]


@pytest.mark.parametrize("text", CONSTRAINT_CASES)
def test_malformed_constraint_raises_search_space_error(text, tmp_path):
    if isinstance(text, str):
        text = text.replace("MARKER", str(tmp_path / "marker"))
    _refused(lambda: SearchSpace(CONSTRAINT_SPACE, constraints=[text]), SearchSpaceError)
    assert not (tmp_path / "marker").exists()


@pytest.mark.parametrize("text", RULE_CASES)
def test_malformed_rule_raises_search_space_error(text, tmp_path):
    if isinstance(text, str):
        text = text.replace("MARKER", str(tmp_path / "marker"))
    _refused(lambda: Rule.parse(text), SearchSpaceError)
    assert not (tmp_path / "marker").exists()


@pytest.mark.parametrize("rule", RULES_REFUSED_ON_LOADING)
def test_rule_that_parses_is_refused_by_the_experiment_file(rule, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(TESTS))
    Rule.parse(rule)  # the parser alone cannot know
    data = _base_experiment()
    data["invalid_if"] = [rule]
    path = tmp_path / "rule.toml"
    path.write_text(_toml(data), encoding="utf-8")
    _refused(lambda: load_experiment(path), SearchSpaceError)


# ======================================================== 3. malformed experiment files
def _base_experiment() -> dict:
    return {
        "name": "fuzz_base", "evaluator": "objectives:slow", "seed": 0, "constraints": [],
        "invalid_if": ["optimizer == 'sgd' and lr < 1e-4"],
        "space": {"lr": ["log_uniform", 1e-5, 1e-1], "dropout": ["uniform", 0.0, 0.5],
                  "optimizer": ["choice", ["sgd", "adam"]]},
        "baseline": {"lr": 1e-2, "dropout": 0.1, "optimizer": "sgd"},
        "budget": {"max_trials": 2}, "nightly": {"max_trials": 1},
        "evaluator_settings": {"trial_timeout": 30},
        "variants": {"small": {"budget": {"max_trials": 1}}},
    }


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {_toml_value(v)}"
                               for k, v in value.items()) + "}"
    raise TypeError(value)  # pragma: no cover - a mistake in this file


def _toml(data: dict) -> str:
    """A TOML document: top-level values first, then one table per dict."""
    lines = [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in data.items()
             if not isinstance(v, dict)]
    for key, table in data.items():
        if isinstance(table, dict):
            lines.append(f"[{json.dumps(key)}]")
            lines += [f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


#: (path of the key to set, the bad value); a path of one key replaces a top-level value.
FILE_MUTATIONS: list[tuple[tuple[str, ...], Any]] = [
    *[(("name",), v) for v in [
        "", f"../../../tmp/{MARK}", f"../{MARK}", f"/tmp/{MARK}", f"a/{MARK}", "a\\b",
        ".hidden", "-x", "x" * 129, 5, 1.5, True, [], {}, "a..b", "a b", "ü", "\n"]],
    *[(("evaluator",), v) for v in [
        "nope", "", 5, [], {}, True, "no.such.module:f", ":f", "..x:f", ".objectives:slow",
        "objectives:", "objectives:nope", "objectives:slow:x", "math:pi", "objectives:os",
        " objectives:slow", "objectives :slow", "mlp_fashion ", "MLP_FASHION"]],
    *[(("seed",), v) for v in ["abc", 1.5, -1, True, [], {}, NAN, "0"]],
    *[(("constraints",), v) for v in [
        "lr <= 1", 5, {}, [1], [True], [[]], ["dropout +"], ["zz <= 1"],
        ["lr * dropout <= 1"], ["dropout >= 5"], ["dropout <= 1e999"], ["optimizer <= 1"],
        ["lr <= 0.01"]]],
    *[(("invalid_if",), v) for v in [
        "x", 5, [1], ["dropout +"], ["zz > 1"], ["f(lr)"], ["lr.real > 0"],
        ["optimizer < 1"], ["lr / 0 > 1"], ["9 ** 9 ** 9 > lr"], ["dropout > 0"],
        ["__import__('os').system('touch " + MARK + "')"]]],
    *[(("space",), v) for v in ["x", 5, [], {}, [1]]],
    *[(("space", "lr"), v) for v in [
        ["uniform", 2, 1], ["log_uniform", 0, 1], [], ["choice", []], {"kind": "nope"},
        ["uniform", 0, 1, {"when": {"zz": ["x"]}}], ["uniform", NAN, 1],
        ["int", 0, 2 ** 53 + 1], ["choice", [1, "1", 1.0]], ["fixed"]]],
    *[(("space", k), 1) for k in ["a__b", "1a", "a b"]],
    *[(("baseline",), v) for v in ["x", 5, [], {}]],
    *[(("baseline", k), v) for k, v in [
        ("lr", 1.0), ("zz", 1), ("lr", "abc"), ("lr", NAN), ("optimizer", "nope"),
        ("optimizer", 1), ("dropout", [0.1]), ("lr", 5e-5), ("dropout", {"a": 1})]],
    *[(("budget",), v) for v in ["x", 5, {}]],
    *[(("budget", k), v) for k, v in [
        ("max_trials", -1), ("max_trials", 0), ("max_trials", 1.5), ("max_trials", "2"),
        ("max_trials", True), ("max_seconds", 0), ("max_seconds", -1), ("max_seconds", NAN),
        ("max_seconds", INF), ("max_seconds", "10"), ("patience", 0), ("foo", 1),
        ("min_improvement", -1), ("min_improvement", NAN), ("max_device_hours", NAN)]],
    *[(("nightly",), v) for v in ["x", 5, []]],
    *[(("nightly", k), v) for k, v in [
        ("foo", 1), ("max_trials", 0), ("max_trials", -1), ("max_trials", 2.5),
        ("final_eval", "yes"), ("final_eval", 1), ("max_seconds", NAN), ("patience", 2)]],
    *[(("evaluator_settings",), v) for v in ["x", 5]],
    *[(("evaluator_settings", k), v) for k, v in [
        ("foo", 1), ("trial_timeout", -1), ("trial_timeout", 0), ("trial_timeout", NAN),
        ("trial_timeout", INF), ("trial_timeout", "10"), ("trial_timeout", True),
        ("device", "gpu"), ("device", 5), ("device", "cuda:x"), ("device", "CPU"),
        ("device", "cuda:"), ("data_dir", 5), ("data_dir", ["a"]), ("final_eval", 1),
        ("final_eval", "yes")]],
    *[(("variants",), v) for v in ["x", 5]],
    *[(("variants", k), v) for k, v in [
        ("small", 5), ("cpu", {"foo": 1}), ("cpu", {"space": {"lr": ["uniform", 2, 1]}}),
        ("cpu", {"variants": {}}), ("cpu", {"budget": {"max_trials": -1}}),
        ("cpu", {"seed": "x"}), ("cpu", {"name": "../x"}), ("cpu", [])]],
    *[(("description",), v) for v in [5, [], {}, True]],
    *[((k,), v) for k, v in [("foo", 1), ("Name", "x"), ("spaces", {}), ("budgets", {})]],
    (("evaluator",), None), (("space",), None),  # None: the key is removed
]


def _mutated(path: tuple[str, ...], value: Any) -> dict:
    data = _base_experiment()
    table = data
    for key in path[:-1]:
        table = table[key]
    if value is None:
        del table[path[-1]]
    else:
        table[path[-1]] = value
    return data


BASE_TEXT = _toml(_base_experiment())


def _text_cases(seed: int = 4) -> list[tuple[str, bytes]]:
    rng = random.Random(seed)
    cases = [(f"random-bytes-{i}", rng.randbytes(rng.randint(1, 400))) for i in range(4)]
    cases += [
        ("utf-16", BASE_TEXT.encode("utf-16")),
        ("utf-16-le", BASE_TEXT.encode("utf-16-le")),
        ("latin-1", (BASE_TEXT + 'description = "café"\n').encode("latin-1")),
        ("cut-utf-8", BASE_TEXT.encode() + "é".encode()[:1]),
        ("nul-byte", BASE_TEXT.encode() + b"\x00"),
        ("empty", b""),
        ("only-comments", b"# nothing here\n"),
        ("unclosed-table", BASE_TEXT.encode() + b"[[["),
        ("no-value", BASE_TEXT.replace('"seed" = 0', '"seed" =').encode()),
        ("unterminated-string", b'name = "fuzz\n' + BASE_TEXT.encode()),
        ("duplicate-key", BASE_TEXT.encode() + b'\n["budget"]\n"max_trials" = 3\n'),
        ("duplicate-table", BASE_TEXT.encode() + b'\n["nightly"]\n'),
        ("deep-arrays", BASE_TEXT.replace(
            '["space"]\n', '["space"]\n"deep" = ' + "[" * 3000 + "]" * 3000 + "\n").encode()),
        ("deep-tables", BASE_TEXT.replace(
            '["space"]\n', '["space"]\n"deep" = ' + "{a=" * 600 + "1" + "}" * 600 + "\n"
        ).encode()),
        ("date-in-space", BASE_TEXT.replace('["space"]\n', '["space"]\n"d" = 1979-05-27\n')
         .encode()),
        ("date-seed", BASE_TEXT.replace('"seed" = 0', '"seed" = 1979-05-27').encode()),
        ("time-budget", BASE_TEXT.replace('"max_trials" = 2', '"max_trials" = 07:32:00')
         .encode()),
        ("datetime-baseline", BASE_TEXT.replace('"lr" = 0.01', '"lr" = 1979-05-27T07:32:00Z')
         .encode()),
        ("int-over-64-bits", BASE_TEXT.replace('"seed" = 0', '"seed" = ' + "9" * 30).encode()),
    ]
    return cases


def _file_cases() -> list:
    cases = []
    for i, (path, value) in enumerate(FILE_MUTATIONS):
        data = _mutated(path, value)
        label = ".".join(path)
        cases.append(pytest.param(_toml(data).encode(), id=f"f{i:03d}-{label}"))
    for label, content in _text_cases():
        cases.append(pytest.param(content, id=f"text-{label}"))
    cases.append(pytest.param(  # the standard library holds no objectives
        _toml(_mutated(("evaluator",), "os:system")).encode(), id="evaluator-os-system"))
    return cases


FILE_CASES = _file_cases()


def _watched() -> set[str]:
    """Files a fuzz case might write by mistake outside its folder: anything named after
    MARK under /tmp, and the repository's reports/ entries named fuzz*."""
    found = {f"/tmp/{n}" for n in os.listdir("/tmp") if MARK in n}
    reports = REPO / "reports"
    if reports.is_dir():
        found |= {f"reports/{n}" for n in os.listdir(reports) if "fuzz" in n or MARK in n}
    return found


def _tree(root: Path) -> set[Path]:
    return {p.relative_to(root) for p in root.rglob("*")}


@pytest.fixture
def cli(tmp_path, monkeypatch):
    """Run ``bo-hpo ARGS`` in-process from an empty folder deep inside tmp_path (so a name
    like ../../x lands where we look), with its own HOME and store; returns a function
    ``(args, expected exit code, may_open_store) -> output`` that checks every rule."""
    monkeypatch.syspath_prepend(str(TESTS))
    cwd = tmp_path / "a" / "b" / "c" / "cwd"
    home = tmp_path / "home"
    cwd.mkdir(parents=True)
    home.mkdir()
    monkeypatch.chdir(cwd)
    store = tmp_path / "store" / "fuzz.db"
    env = {"BO_HPO_STORE": f"sqlite:///{store}", "BO_HPO_TEST_SLEEP": "0",
           "HOME": str(home)}
    runner = CliRunner()

    def invoke(args: list[str], expected: int = 2, opens_store: bool = False,
               extra_env: dict[str, str] | None = None) -> str:
        before, watched = _tree(tmp_path), _watched()
        with _deadline():
            result = runner.invoke(main, args, env={**env, **(extra_env or {})})
        output = result.output
        shown = f"bo-hpo {' '.join(map(repr, args))[:300]} -> {result.exit_code}:\n{output}"
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            f"{shown}\nraised {type(result.exception).__name__}: {result.exception}")
        assert result.exit_code == expected, shown
        assert "Traceback" not in output, shown
        assert "error:" in output.lower(), shown
        assert SECRET not in output, shown
        new = _tree(tmp_path) - before
        if opens_store:
            new = {p for p in new if p.parts[0] != "store"}
        assert not new, f"{shown}\nwrote {sorted(map(str, new))}"
        assert _watched() == watched, f"{shown}\nwrote {sorted(_watched() - watched)}"
        return output

    invoke.tmp = tmp_path  # type: ignore[attr-defined]
    return invoke


@pytest.mark.filterwarnings(MIXED_TYPES)
@pytest.mark.parametrize("content", FILE_CASES)
def test_malformed_experiment_file_exits_2_for_check_and_run(content, cli):
    path = cli.tmp / "experiment.toml"
    path.write_bytes(content)
    out = cli.tmp / "out"
    cli(["check", str(path)])
    cli(["run", str(path), "--out", str(out)])
    assert not out.exists()


def test_the_base_experiment_file_is_valid(cli, tmp_path):
    """The control: the file every mutation starts from checks and runs."""
    path = tmp_path / "base.toml"
    path.write_text(BASE_TEXT, encoding="utf-8")
    runner = CliRunner()
    env = {"BO_HPO_STORE": f"sqlite:///{tmp_path / 'base.db'}", "BO_HPO_TEST_SLEEP": "0"}
    result = runner.invoke(main, ["check", str(path)], env=env)
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["run", str(path), "--trials", "1", "--out",
                                  str(tmp_path / "out")], env=env)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "trials.csv").exists()


# ============================================================ 4. malformed command lines
GOOD, FILE, DIR, OUT = "<GOOD>", "<FILE>", "<DIR>", "<OUT>"
PG = f"postgresql+psycopg://u:{SECRET}@127.0.0.1:1/db"
NUMBERS = {
    "--trials": ["0", "-1", "nan", "inf", "1.5", "abc", "", "1e3", "0x10", "-0"],
    "--seconds": ["0", "-1", "nan", "-inf", "inf", "abc", "", "-0", "1e400"],
    "--trial-timeout": ["0", "-1", "abc", "", "-inf", "-0"],
}
CRONS = ["bad", "* * * *", "61 * * * *", "* * 31 2 *", "", "@never", "* * * * * *",
         "*/0 * * * *", "0 2 * * *\n0 3 * * *", "0 2 * * * ; rm -rf /", "0 2 * * *\x00",
         "-1 * * * *", "1-0 * * * *", "0 24 * * *", "0 0 0 * *", "0 0 * 13 *", "0 0 * * 8",
         "0 0 * * mon-", "@daily extra"]


def _cli_cases(seed: int = 5) -> list:
    rng = random.Random(seed)
    cases: list = []

    def add(args, code=2, opens_store=False, env=None, marks=()):
        cases.append(pytest.param(args, code, opens_store, env or {}, marks=marks,
                                  id=f"a{len(cases):03d}-{args[0]}"))

    for option, values in NUMBERS.items():
        for value in values:
            command = "run" if option != "--seconds" or rng.random() < 0.7 else "resume"
            target = GOOD if command == "run" else "fuzz_nothing"
            add([command, target, option, value, "--out", OUT], opens_store=command == "resume")
    for value in ["nan", "inf"]:
        add(["run", GOOD, "--trial-timeout", value, "--out", OUT])
    for args in [["run", GOOD, "--bogus"], ["run", GOOD, "--trials"], ["check", "--variant"],
                 ["--nope"], ["nope"], ["run"], ["check"], ["status"], ["resume"], ["nightly"],
                 ["list", "extra"], ["run", GOOD, GOOD], ["-vvvvv", "run"], ["run", "--out"],
                 ["run", GOOD, "--fresh=yes"], ["check", GOOD, "--trials", "3"]]:
        add(args)
    for device in ["gpu", "CPU", "", "cuda:0", "tpu", "cuda "]:
        add(["run", GOOD, "--device", device, "--out", OUT])
    add(["run", GOOD, "--data-dir", FILE, "--out", OUT])
    add(["run", GOOD, "--data-dir", f"{DIR}/missing", "--out", OUT])
    add(["run", GOOD, "--out", FILE])
    for command in ["run", "check", "nightly"]:
        add([command, GOOD, "--variant", rng.choice(["nope", "", "CPU", "small "])])
        add([command, DIR])
        add([command, f"{DIR}/missing.toml"])
    add(["run", ""])
    add(["check", GOOD, f"{DIR}/missing.toml"])
    for cron in CRONS:
        add(["schedule", GOOD, "--cron", cron, "--crontab-file", f"{DIR}/crontab",
             "--unit-dir", f"{DIR}/units"])
    add(["schedule", "--cron", "0 2 * * *", "--crontab-file", f"{DIR}/crontab"])
    for name in ["fuzz_nothing", "../x", "", "a" * 500, "x;rm -rf /"]:
        add([rng.choice(["status", "resume"]), name], opens_store=True)
    for args in [["list", "--store", "nonsense://"], ["list", "--store", ""],
                 ["run", GOOD, "--store", "sqlite:////proc/x/y.db", "--out", OUT],
                 ["run", GOOD, "--store", "nonsense://", "--out", OUT],
                 ["nightly", GOOD, "--store", "nonsense://"],
                 ["status", "x", "--store", PG], ["list", "--store", PG],
                 ["resume", "x", "--store", PG],
                 ["run", GOOD, "--store", PG, "--out", OUT],
                 ["status", "x", "--store", f"mysql://u:{SECRET}@h/db"],
                 # a password in the query, an option libpq does not know, another driver's
                 # scheme, a port that is not a number
                 ["list", "--store", f"postgresql+psycopg://u@127.0.0.1:1/db?password={SECRET}"],
                 ["status", "x", "--store", f"{PG}?bogusopt=1"],
                 ["list", "--store", PG.replace("+psycopg", "+psycopg2")],
                 ["list", "--store", PG.replace("postgresql+psycopg", "postgres")],
                 ["list", "--store", PG.replace(":1/", ":abc/")],
                 ["list", "--store", f"sqlite:///{FILE}"],
                 ["list", "--store", f"sqlite:///{DIR}"]]:
        add(args, code=4)
    add(["list"], code=4, env={"BO_HPO_STORE": PG})
    # reading a store that is not there: a wrong name (2), and nothing is created
    add(["status", "x", "--store", "sqlite:////proc/x/y.db"], code=2)
    return cases


CLI_CASES = _cli_cases()
GOOD_FILE = """name = "fuzz_good"
evaluator = "objectives:slow"
[space]
lr = ["log_uniform", 1e-5, 1e-1]
dropout = ["uniform", 0.0, 0.5]
optimizer = ["choice", ["sgd", "adam"]]
[baseline]
lr = 1e-2
dropout = 0.1
optimizer = "sgd"
[budget]
max_trials = 1
[variants.small]
budget = { max_trials = 1 }
"""


@pytest.mark.parametrize(("args", "code", "opens_store", "env"), CLI_CASES)
def test_malformed_command_line_exits_2_or_4(args, code, opens_store, env, cli):
    files = cli.tmp / "files"
    files.mkdir()
    (files / "good.toml").write_text(GOOD_FILE, encoding="utf-8")
    (files / "plain-file").write_text("not a database\n", encoding="utf-8")
    places = {GOOD: str(files / "good.toml"), FILE: str(files / "plain-file"),
              DIR: str(files), OUT: str(cli.tmp / "out")}
    real = []
    for arg in args:
        for placeholder, value in places.items():
            arg = arg.replace(placeholder, value)
        real.append(arg)
    env = {k: v.replace(DIR, str(files)) for k, v in env.items()}
    cli(real, expected=code, opens_store=opens_store, extra_env=env)
    assert not (cli.tmp / "out").exists()


def test_the_good_command_line_file_is_valid(cli, tmp_path):
    path = tmp_path / "good.toml"
    path.write_text(GOOD_FILE, encoding="utf-8")
    result = CliRunner().invoke(main, ["check", str(path), "--variant", "small"])
    assert result.exit_code == 0, result.output


# ----------------------------------------------------------------------------- counts
def test_there_are_a_few_hundred_cases():
    counts = {
        "search spaces": len(SPACE_CASES),
        "constraints": len(CONSTRAINT_CASES),
        "rules": len(RULE_CASES) + len(RULES_REFUSED_ON_LOADING),
        "experiment files": len(FILE_CASES),
        "command lines": len(CLI_CASES),
    }
    total = sum(counts.values())
    print("fuzz cases: " + ", ".join(f"{n} {what}" for what, n in counts.items())
          + f"; {total} in all, plus {len(VALID_SPACES) + 2} valid controls")
    assert counts["search spaces"] >= 150
    assert counts["constraints"] + counts["rules"] >= 100
    assert counts["experiment files"] >= 80
    assert counts["command lines"] >= 60
    assert total >= 300
