"""Build parameters from the plain forms users write: tuples, tables (TOML) or typed objects.

Tuple form (the one ML people already write)::

    "learning_rate": ("log_uniform", 1e-5, 1e-1)
    "batch_size":    ("ordered", [32, 64, 128, 256])
    "optimizer":     ("choice", ["SGD", "Adam", "AdamW"])
    "momentum":      ("uniform", 0.0, 0.99, {"when": {"optimizer": ["SGD"]}})
    "epochs":        ("fixed", 10)          # or simply: "epochs": 10

Table form (handy in TOML)::

    [space.momentum]
    kind = "uniform"
    low = 0.0
    high = 0.99
    when = { optimizer = ["SGD"] }
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bo_hpo.errors import SearchSpaceError
from bo_hpo.space.params import Choice, Fixed, Float, Int, Param, show

KINDS = ("uniform", "log_uniform", "int", "log_int", "choice", "ordered", "fixed")
_RANGE_KINDS = {"uniform": (Float, False), "log_uniform": (Float, True),
                "int": (Int, False), "log_int": (Int, True)}
_OPTION_KEYS = {"when"}
_CLASSES = (Float, Int, Choice, Fixed)


def params_from_spec(spec: Mapping[str, Any] | Sequence[Param]) -> list[Param]:
    """Parameters from a spec mapping (name -> tuple/table/Param) or a list of Params."""
    if isinstance(spec, Mapping):
        out = []
        for name, entry in spec.items():
            if not isinstance(name, str):
                raise SearchSpaceError(
                    f"parameter names must be strings, got {name!r} of type "
                    f"{type(name).__name__}"
                )
            if isinstance(entry, Param):
                if not isinstance(entry, _CLASSES):
                    raise SearchSpaceError(
                        f"{name}: expected Float, Int, Choice or Fixed, got {show(entry)}"
                    )
                if entry.name != name:
                    raise SearchSpaceError(
                        f"{name}: the key and the parameter's name differ ({entry.name!r})"
                    )
                out.append(entry)
            else:
                out.append(param_from_entry(name, entry))
        return out
    if isinstance(spec, (str, bytes)) or not isinstance(spec, Sequence):
        raise SearchSpaceError(
            f"a search space must be a mapping of names to specs or a list of parameters, "
            f"got {type(spec).__name__}"
        )
    for p in spec:
        if not isinstance(p, _CLASSES):
            raise SearchSpaceError(
                f"expected a bo_hpo parameter object (Float, Int, Choice or Fixed), got "
                f"{show(p)}"
            )
    return list(spec)


def param_from_entry(name: str, entry: Any) -> Param:
    """One parameter from its tuple or table form."""
    if isinstance(entry, Mapping):
        return _from_table(name, entry)
    if isinstance(entry, (list, tuple)):
        if not entry or not isinstance(entry[0], str):
            raise SearchSpaceError(
                f"{name}: a spec must start with its kind, one of {list(KINDS)}, got "
                f"{show(entry)} (for a categorical write (\"choice\", [...]))"
            )
        return _from_tuple(name, entry)
    if isinstance(entry, (int, float, str, bool)):
        return Fixed(name, entry)
    raise SearchSpaceError(
        f"{name}: expected a tuple like (\"uniform\", 0.0, 1.0), a table with `kind`, or a "
        f"constant, got {show(entry)}"
    )


def _options(name: str, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise SearchSpaceError(
            f"{name}: options must be a mapping such as {{'when': ...}}, got {show(raw)}"
        )
    unknown = set(raw) - _OPTION_KEYS
    if unknown:
        raise SearchSpaceError(
            f"{name}: unknown option {show(sorted(unknown, key=str)[0])}; allowed: "
            f"{sorted(_OPTION_KEYS)}"
        )
    return dict(raw)


def _from_tuple(name: str, entry: Sequence[Any]) -> Param:
    kind, *args = entry
    options: dict[str, Any] = {}
    if args and isinstance(args[-1], Mapping):
        options = _options(name, args.pop())
    if kind in _RANGE_KINDS:
        cls, log = _RANGE_KINDS[kind]
        if len(args) != 2:
            raise SearchSpaceError(
                f"{name}: {kind} takes (low, high), got {len(args)} value(s): {show(tuple(args))}"
            )
        return cls(name, args[0], args[1], log=log, **options)
    if kind in ("choice", "ordered"):
        if len(args) != 1 or isinstance(args[0], (str, bytes)) or not isinstance(
            args[0], Sequence
        ):
            raise SearchSpaceError(
                f"{name}: {kind} takes one list of values, e.g. (\"{kind}\", [1, 2]), got "
                f"{show(tuple(args))}"
            )
        return Choice(name, tuple(args[0]), ordered=True if kind == "ordered" else None, **options)
    if kind == "fixed":
        if len(args) != 1:
            raise SearchSpaceError(f"{name}: fixed takes one value, got {show(tuple(args))}")
        return Fixed(name, args[0], **options)
    raise SearchSpaceError(f"{name}: unknown kind {show(kind)}; expected one of {list(KINDS)}")


def _from_table(name: str, table: Mapping[str, Any]) -> Param:
    kind = table.get("kind", table.get("type"))
    if kind not in KINDS:
        raise SearchSpaceError(
            f"{name}: `kind` must be one of {list(KINDS)}, got kind={show(kind)}"
        )
    allowed = {"kind", "type", "when"} | (
        {"low", "high"} if kind in _RANGE_KINDS else {"values"} if kind in ("choice", "ordered")
        else {"value"}
    )
    unknown = set(table) - allowed
    if unknown:
        raise SearchSpaceError(
            f"{name}: unknown key {show(sorted(unknown, key=str)[0])} for kind {kind!r}; allowed: "
            f"{sorted(allowed - {'type'})}"
        )
    options = {"when": table["when"]} if "when" in table else {}
    try:
        if kind in _RANGE_KINDS:
            cls, log = _RANGE_KINDS[kind]
            return cls(name, table["low"], table["high"], log=log, **options)
        if kind in ("choice", "ordered"):
            return Choice(name, table["values"], ordered=True if kind == "ordered" else None,
                          **options)
        return Fixed(name, table["value"], **options)
    except KeyError as err:
        raise SearchSpaceError(f"{name}: kind {kind!r} needs key {err.args[0]!r}") from None


def param_to_dict(p: Param) -> dict[str, Any]:
    """A parameter as plain, JSON-able data (what the store keeps); inverse of
    :func:`param_from_dict`."""
    out: dict[str, Any] = {"kind": p.kind}
    if isinstance(p, (Float, Int)):
        out.update(low=p.low, high=p.high)
    elif isinstance(p, Choice):
        out.update(values=list(p.values), ordered=p.ordered)
    elif isinstance(p, Fixed):
        out.update(value=p.value)
    if p.when:
        out["when"] = {k: list(v) for k, v in p.when.items()}
    return out


def param_from_dict(name: str, d: Mapping[str, Any]) -> Param:
    when = {k: tuple(v) for k, v in d.get("when", {}).items()}
    kind = d["kind"]
    if kind in _RANGE_KINDS:
        cls, log = _RANGE_KINDS[kind]
        return cls(name, d["low"], d["high"], log=log, when=when)
    if kind in ("choice", "ordered"):
        return Choice(name, tuple(d["values"]), ordered=d.get("ordered"), when=when)
    return Fixed(name, d["value"], when=when)
