"""Nightly tuning jobs, installed the platform's way: a crontab entry, a systemd user timer or a
Kubernetes CronJob, each running ``bo-hpo nightly EXPERIMENT.toml --store URL``.

Everything here builds plain text (pure functions) except the few ``install_*``, ``remove_*``
and ``read_*`` wrappers, which read and write a crontab or unit files. Bad input raises
:class:`~bo_hpo.errors.ConfigError` with a message naming the option or field at fault.

A crontab entry is two lines, a marker comment and the schedule line::

    # bo-hpo:mlp_fashion
    0 2 * * * cd /srv/tune && /usr/bin/python3 -m bo_hpo.cli nightly ... >> /srv/tune/log 2>&1

The store URL may carry a password. It is written into the entry (cron and systemd have
nowhere else to put it; the files are created mode 0600), but everything this module returns
for display (``list_crontab``, ``read_crontab_entries``, ``list_systemd``, ``display_entry``)
has passwords replaced by ``***``. The Kubernetes manifest reads the URL from a Secret instead.

Cron semantics are Vixie cron's (Debian's ``cron``): ``%`` in a command is escaped as ``\\%``,
a step needs ``*`` or a range (``5-59/10``, not ``5/10``), and when both day-of-month and
day-of-week are restricted (neither starts with ``*``) the job runs when EITHER matches, which
a systemd timer expresses with two ``OnCalendar=`` lines.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bo_hpo.errors import ConfigError
from bo_hpo.store.sql import _SECRET_QUERY, _passwords

CRON_MARKER = "# bo-hpo:"
UNIT_PREFIX = "bo-hpo-"
CRON_INSTALL_HINT = "install cron, e.g. apt-get install cron, or pass --crontab-file"

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_MAX_NAME = 100
_FIELD_NAMES = "minute hour day-of-month month day-of-week"
_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_SYSTEMD_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")  # systemd order, 1..7
_YAML_PLAIN_RE = re.compile(r"[A-Za-z][A-Za-z0-9._/-]*")
_YAML_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null"}
# A userinfo password in any URL: scheme://user:PASSWORD@host (SQLAlchemy's own grammar).
_URL_PASSWORD_RE = re.compile(r"(?P<pre>[A-Za-z][\w+.-]*://[^:/@\s]*:)(?P<pw>[^@\n]*)(?=@)")


@dataclass(frozen=True)
class _Field:
    label: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    name_base: int = 0

    @property
    def range_text(self) -> str:
        text = f"{self.low}-{self.high}"
        if self.names:
            text += f" (or {self.names[0]}-{self.names[-1]})"
        return text


_FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day-of-month", 1, 31),
    _Field("month", 1, 12, _MONTHS, 1),
    _Field("day-of-week", 0, 7, _CRON_DAYS, 0),
)


@dataclass(frozen=True)
class _Term:
    """One comma-separated item of a cron field: ``*``, ``n``, ``a-b``, each with a step."""

    start: int
    stop: int
    step: int
    star: bool

    def values(self) -> list[int]:
        return list(range(self.start, self.stop + 1, self.step))


# ------------------------------------------------------------------------------------ names
def check_name(name: str) -> str:
    """Return ``name`` if it is safe in a crontab marker, a unit name and a file name."""
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name) or len(name) > _MAX_NAME:
        raise ConfigError(
            f"name: {name!r} must be 1-{_MAX_NAME} letters, digits, '-', '_' or '.', "
            "starting with a letter or digit")
    return name


def _check_line(what: str, text: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"{what}: must not be empty")
    if "\n" in text or "\r" in text or "\0" in text:
        raise ConfigError(f"{what}: must be one line, got {text!r}")
    return text


# ------------------------------------------------------------------------------------- cron
def _croniter() -> Any:
    try:
        from croniter import croniter
    except ImportError as err:  # pragma: no cover
        raise ConfigError("--cron: needs the croniter package (pip install croniter)") from err
    return croniter


def _parse_value(token: str, spec: _Field, fail: Any) -> int:
    if token.isdigit():
        value = int(token)
    elif spec.names and token.lower() in spec.names:
        return spec.names.index(token.lower()) + spec.name_base
    elif spec.names:
        fail(f"is neither a number nor a name ({', '.join(spec.names)})", token)
    else:
        fail("is not a number", token)
    if not spec.low <= value <= spec.high:
        fail(f"is out of range {spec.range_text}", token)
    return value


def _parse_field(text: str, spec: _Field, expr: str) -> list[_Term]:
    """The terms of one cron field; ConfigError naming the field when one breaks a rule."""

    def fail(problem: str, token: str | None = None) -> None:
        if token is None or token == text:
            raise ConfigError(f"--cron: {spec.label} field '{text}' {problem} in '{expr}'")
        raise ConfigError(
            f"--cron: {spec.label} field '{text}': '{token}' {problem} in '{expr}'")

    terms = []
    for item in text.split(","):
        if not item:
            fail("has an empty list item")
        base, slash, step_text = item.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) == 0:
                fail(f"has step '{step_text}', which is not a positive whole number", item)
            step = int(step_text)
        if base == "*":
            terms.append(_Term(spec.low, spec.high, step, True))
            continue
        first, dash, last = base.partition("-")
        if not first or (dash and not last):
            fail("is not a number, name, range ('a-b'), list ('a,b') or step ('*/n')", item)
        start = _parse_value(first, spec, fail)
        stop = _parse_value(last, spec, fail) if dash else start
        if slash and not dash:
            fail(f"has a step on a single value; write '{first}-{spec.high}/{step}' "
                 f"or '*/{step}'", item)
        if stop < start:
            fail("is a range that goes backwards", item)
        terms.append(_Term(start, stop, step, False))
    return terms


def _parse_cron(expr: str) -> tuple[str, list[list[_Term]]]:
    if not isinstance(expr, str) or not expr.strip():
        raise ConfigError(f"--cron: empty expression; expected 5 fields ({_FIELD_NAMES})")
    text = " ".join(expr.split())
    if text.startswith("@"):
        macro = text.lower()
        if macro == "@reboot":
            raise ConfigError(
                "--cron: '@reboot' runs at boot, not on a schedule; give 5 fields "
                "such as '0 2 * * *'")
        if macro not in _MACROS:
            raise ConfigError(
                f"--cron: unknown macro '{text}'; use 5 fields ({_FIELD_NAMES}) or one of "
                f"{', '.join(_MACROS)}")
        text = _MACROS[macro]
    fields = text.split(" ")
    if len(fields) != 5:
        extra = " (a seconds or year field is not supported)" if len(fields) in (6, 7) else ""
        raise ConfigError(
            f"--cron: expected 5 fields ({_FIELD_NAMES}), got {len(fields)} in "
            f"'{expr.strip()}'{extra}")
    pairs = zip(fields, _FIELDS, strict=True)
    return text, [_parse_field(field, spec, text) for field, spec in pairs]


def validate_cron(expr: str) -> str:
    """Check a 5-field cron expression and return it with single spaces (a macro such as
    ``@daily`` comes back as its 5 fields). ConfigError names the field at fault."""
    text, _ = _parse_cron(expr)
    croniter = _croniter()
    if not croniter.is_valid(text):
        raise ConfigError(f"--cron: '{text}' is not a valid cron expression")
    try:
        croniter(text, datetime(2000, 1, 1)).get_next(datetime)
    except Exception as err:  # croniter's own errors: nothing in 50 years matches
        raise ConfigError(f"--cron: '{text}' never matches a date ({err})") from err
    return text


def next_runs(expr: str, n: int = 3, start: datetime | None = None) -> list[datetime]:
    """The next ``n`` times ``expr`` fires after ``start`` (default: now, local time)."""
    text = validate_cron(expr)
    if not isinstance(n, int) or n < 1:
        raise ConfigError(f"n: must be a positive whole number, got {n!r}")
    it = _croniter()(text, start if start is not None else datetime.now().astimezone())
    return [it.get_next(datetime) for _ in range(n)]


# ---------------------------------------------------------------------------- the command
def nightly_command(experiment_path: Path, store_url: str, workdir: Path, log_path: Path,
                    python: str = sys.executable) -> str:
    """The shell command line a scheduler runs: ``cd WORKDIR && PYTHON -m bo_hpo.cli nightly
    EXPERIMENT --store URL >> LOG 2>&1``, every piece quoted for ``/bin/sh``."""
    experiment = Path(experiment_path).expanduser().resolve()
    work = Path(workdir).expanduser().resolve()
    log = Path(log_path).expanduser().resolve()
    _check_line("--store", store_url)
    _check_line("python", python)
    for what, path in (("experiment", experiment), ("workdir", work), ("log", log)):
        _check_line(what, str(path))
    if not experiment.is_file():
        raise ConfigError(f"experiment: no such file: {experiment}")
    if not work.is_dir():
        raise ConfigError(f"workdir: no such directory: {work}")
    if not log.parent.is_dir():
        raise ConfigError(f"log: no such directory: {log.parent}")
    q = shlex.quote
    return (f"cd {q(str(work))} && {q(python)} -m bo_hpo.cli nightly {q(str(experiment))} "
            f"--store {q(store_url)} >> {q(str(log))} 2>&1")


def redact(text: str, store_url: str | None = None) -> str:
    """``text`` with the store URL's password, and any other ``scheme://user:PASSWORD@``
    password, replaced by ``***``."""
    if store_url:
        password, shown = None, None
        try:
            from sqlalchemy.engine import make_url

            url = make_url(store_url)
            password = url.password
            if url.render_as_string(hide_password=False) == store_url:  # else it re-encodes
                shown = url.render_as_string(hide_password=True)
        except Exception:  # not an SQLAlchemy URL (or no SQLAlchemy): the regex below
            pass
        raw = _URL_PASSWORD_RE.search(store_url)
        if raw and raw.group("pw"):
            text = text.replace(store_url, shown or _URL_PASSWORD_RE.sub(r"\g<pre>***", store_url))
            text = text.replace(raw.group("pw"), "***")  # as written in the URL (%-encoded)
        if password:
            text = text.replace(str(password), "***")  # decoded
        for secret in sorted(_passwords(store_url), key=len, reverse=True):  # ?password=
            text = text.replace(secret, "***")
    text = _SECRET_QUERY.sub(r"\1***", text)
    return _URL_PASSWORD_RE.sub(lambda m: m.group("pre") + "***" if m.group("pw") else m[0],
                                text)


def display_entry(entry: dict[str, Any], store_url: str | None = None) -> str:
    """One line for a listing: ``NAME  SCHEDULE  COMMAND``, passwords hidden."""
    schedule = entry.get("cron") or entry.get("on_calendar") or ""
    return redact(f"{entry['name']}  {schedule}  {entry.get('command', '')}", store_url)


# ---------------------------------------------------------------------------------- crontab
def _cron_escape(command: str) -> str:
    if "\\%" in command:
        raise ConfigError(f"command: a backslash before '%' cannot be written to a crontab: "
                          f"{redact(command)!r}")
    return command.replace("%", "\\%")


def crontab_entry(name: str, cron: str, command: str, user: str | None = None) -> str:
    """The two lines (newline-terminated) of an entry: ``# bo-hpo:NAME`` and ``CRON COMMAND``.
    ``user`` adds the user field of a system crontab (``/etc/crontab``, ``/etc/cron.d``)."""
    check_name(name)
    schedule = validate_cron(cron)
    _check_line("command", command)
    if user is not None and not _NAME_RE.fullmatch(user):
        raise ConfigError(f"user: {user!r} is not a user name")
    who = f" {user}" if user else ""
    return f"{CRON_MARKER}{name}\n{schedule}{who} {_cron_escape(command)}\n"


def _lines(text: str) -> list[str]:
    """Lines with their ``\\n`` kept, so joining them gives ``text`` back byte for byte."""
    return [line for line in re.split(r"(?<=\n)", text) if line]


def _marker_name(line: str) -> str | None:
    stripped = line.rstrip("\r\n")
    if stripped.startswith(CRON_MARKER):
        rest = stripped[len(CRON_MARKER):].strip()
        return rest or None
    return None


def _is_job_line(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def _crontab_items(text: str) -> list[tuple[str | None, list[str]]]:
    """``(name, lines)`` for each bo-hpo entry (marker plus its job line, if any) and
    ``(None, [line])`` for every foreign line."""
    lines = _lines(text)
    items: list[tuple[str | None, list[str]]] = []
    i = 0
    while i < len(lines):
        name = _marker_name(lines[i])
        if name is None:
            items.append((None, [lines[i]]))
            i += 1
            continue
        block = [lines[i]]
        if i + 1 < len(lines) and _is_job_line(lines[i + 1]):
            block.append(lines[i + 1])
        items.append((name, block))
        i += len(block)
    return items


def add_to_crontab(text: str, name: str, cron: str, command: str,
                   user: str | None = None) -> str:
    """``text`` with the entry ``name`` added at the end, or replacing an entry of that name in
    place; every other line is kept byte for byte."""
    entry = crontab_entry(name, cron, command, user)
    out: list[str] = []
    placed = False
    for item_name, block in _crontab_items(text):
        if item_name == name:
            if not placed:
                if out and not out[-1].endswith("\n"):
                    out[-1] += "\n"
                out.append(entry)
                placed = True
            continue
        out.extend(block)
    if not placed:
        if out and not out[-1].endswith("\n"):
            out[-1] += "\n"
        out.append(entry)
    return "".join(out)


def crontab_has(text: str, name: str) -> bool:
    """Whether ``text`` holds a bo-hpo entry called ``name``."""
    return any(item_name == name for item_name, _ in _crontab_items(text))


def remove_from_crontab(text: str, name: str) -> str:
    """``text`` without the entry ``name`` (unchanged when it has none; see ``crontab_has``)."""
    if not crontab_has(text, name):
        return text
    return "".join("".join(block) for item_name, block in _crontab_items(text)
                   if item_name != name)


def list_crontab(text: str, system: bool = False) -> list[dict[str, str]]:
    """The bo-hpo entries of ``text`` as ``{"name", "cron", "command"}`` (plus ``"user"`` for a
    ``system`` crontab), in file order; passwords in commands are shown as ``***``."""
    entries = []
    for name, block in _crontab_items(text):
        if name is None or len(block) < 2:
            continue
        line = block[1].strip()
        n_fields = 1 if line.startswith("@") else 5
        parts = line.split(None, n_fields + (1 if system else 0))
        entry = {"name": name, "cron": " ".join(parts[:n_fields])}
        rest = parts[n_fields:]
        if system:
            entry["user"] = rest.pop(0) if rest else ""
        entry["command"] = redact(rest[0].replace("\\%", "%") if rest else "")
        entries.append(entry)
    return entries


def _crontab_binary() -> str:
    binary = shutil.which("crontab")
    if binary is None:
        raise ConfigError(f"crontab: the crontab command is not installed; {CRON_INSTALL_HINT}")
    return binary


def _run_crontab(args: list[str], stdin: str | None = None) -> subprocess.CompletedProcess:
    try:
        return subprocess.run([_crontab_binary(), *args], input=stdin, capture_output=True,
                              text=True, env={**os.environ, "LC_ALL": "C"}, timeout=60)
    except FileNotFoundError as err:  # pragma: no cover  (removed between which() and run)
        raise ConfigError(f"crontab: {err}; {CRON_INSTALL_HINT}") from err


def _read_user_crontab() -> str:
    done = _run_crontab(["-l"])
    if done.returncode == 0:
        return done.stdout
    if "no crontab" in done.stderr.lower():
        return ""
    raise ConfigError(f"crontab -l failed: {done.stderr.strip() or done.returncode}")


def _write_user_crontab(text: str) -> None:
    done = _run_crontab(["-"], stdin=text)
    if done.returncode != 0:
        raise ConfigError(f"crontab - failed: {redact(done.stderr.strip()) or done.returncode}")


def _write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file in the same folder and ``os.replace``; a new file gets mode
    0600 (it may hold a password), an existing one keeps its mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o7777 if path.exists() else 0o600
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_crontab(crontab_file: Path | None) -> str:
    if crontab_file is None:
        return _read_user_crontab()
    path = Path(crontab_file)
    return path.read_text(encoding="utf-8") if path.exists() else ""


def _write_crontab(text: str, crontab_file: Path | None) -> None:
    if crontab_file is None:
        _write_user_crontab(text)
    else:
        _write_atomic(Path(crontab_file), text)


def install_crontab(name: str, cron: str, command: str, crontab_file: Path | None = None,
                    user: str | None = None) -> None:
    """Add or replace the entry ``name`` in the user's crontab (``crontab -l``/``crontab -``),
    or in ``crontab_file`` (created if missing) when given."""
    crontab_entry(name, cron, command, user)  # check everything before touching the crontab
    text = _read_crontab(crontab_file)
    _write_crontab(add_to_crontab(text, name, cron, command, user), crontab_file)


def remove_crontab(name: str, crontab_file: Path | None = None) -> bool:
    """Remove the entry ``name``; False (and nothing written) when there was none."""
    check_name(name)
    text = _read_crontab(crontab_file)
    if not crontab_has(text, name):
        return False
    _write_crontab(remove_from_crontab(text, name), crontab_file)
    return True


def read_crontab_entries(crontab_file: Path | None = None,
                         system: bool = False) -> list[dict[str, str]]:
    """``list_crontab`` of the user's crontab, or of ``crontab_file`` (empty if missing)."""
    return list_crontab(_read_crontab(crontab_file), system=system)


# ---------------------------------------------------------------------------------- systemd
def _calendar_field(terms: list[_Term], spec: _Field) -> str:
    values = {v for term in terms for v in term.values()}
    if values >= set(range(spec.low, spec.high + 1)):
        return "*"
    parts = []
    for term in terms:
        if term.star:
            parts.append(f"{spec.low:02d}/{term.step}")
        elif term.step > 1:
            parts.extend(f"{v:02d}" for v in term.values())
        elif term.start == term.stop:
            parts.append(f"{term.start:02d}")
        else:
            parts.append(f"{term.start:02d}..{term.stop:02d}")
    return ",".join(parts)


def _weekdays(days: set[int]) -> str:
    """systemd weekday names for cron days (0 and 7 are Sunday); runs of 3+ as ``Mon..Fri``."""
    numbers = sorted({7 if d == 0 else d for d in days})  # systemd order: Mon=1 .. Sun=7
    runs: list[list[int]] = []
    for number in numbers:
        if runs and number == runs[-1][-1] + 1:
            runs[-1].append(number)
        else:
            runs.append([number])
    parts = []
    for run in runs:
        names = [_SYSTEMD_DAYS[d - 1] for d in run]
        parts.append(f"{names[0]}..{names[-1]}" if len(run) >= 3 else ",".join(names))
    return ",".join(parts)


def cron_to_oncalendars(expr: str) -> list[str]:
    """The ``OnCalendar=`` values equal to a cron expression: one, or two when day-of-month
    and day-of-week are both restricted (cron then runs when either matches)."""
    text = validate_cron(expr)
    fields = text.split(" ")
    _, (minute, hour, dom, month, dow) = _parse_cron(text)
    clock = f"{_calendar_field(hour, _FIELDS[1])}:{_calendar_field(minute, _FIELDS[0])}:00"
    months = _calendar_field(month, _FIELDS[3])
    days = _calendar_field(dom, _FIELDS[2])
    week = {v % 7 for term in dow for v in term.values()}
    weekdays = "" if len(week) == 7 else _weekdays(week) + " "
    if fields[2].startswith("*") or fields[4].startswith("*"):  # Vixie cron: both must match
        return [f"{weekdays}*-{months}-{days} {clock}"]
    if days == "*" or not weekdays:  # either matches, and one of them matches every day
        return [f"*-{months}-* {clock}"]
    return [f"*-{months}-{days} {clock}", f"{weekdays}*-{months}-* {clock}"]


def cron_to_oncalendar(expr: str) -> str:
    """The systemd calendar expression equal to a cron expression, e.g. ``30 1 * * 1-5`` ->
    ``Mon..Fri *-*-* 01:30:00``. ConfigError when it takes two (see ``cron_to_oncalendars``)."""
    values = cron_to_oncalendars(expr)
    if len(values) > 1:
        raise ConfigError(
            f"--cron: '{validate_cron(expr)}' restricts both day-of-month and day-of-week, so "
            f"cron runs when either matches; systemd needs two OnCalendar= lines: "
            f"{' and '.join(values)}")
    return values[0]


def unit_names(name: str) -> tuple[str, str]:
    """``(service, timer)`` unit file names for the job ``name``."""
    check_name(name)
    return f"{UNIT_PREFIX}{name}.service", f"{UNIT_PREFIX}{name}.timer"


def _systemd_specifiers(text: str) -> str:
    return text.replace("%", "%%")


def _exec_quote(command: str) -> str:
    """``command`` as one double-quoted word of a systemd command line: C escapes for ``\\``
    and ``"``, ``%%`` for a specifier, ``$$`` against environment expansion."""
    escaped = command.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("%", "%%").replace("$", "$$") + '"'


def _exec_unquote(word: str) -> str:
    """Inverse of ``_exec_quote``."""
    body = word[1:-1] if len(word) >= 2 and word[0] == word[-1] == '"' else word
    return re.sub(r'\\(.)|%%|\$\$', lambda m: m.group(1) or m[0][0], body)


def systemd_units(name: str, cron: str, command: str,
                  description: str | None = None) -> dict[str, str]:
    """``{"bo-hpo-NAME.service": text, "bo-hpo-NAME.timer": text}``: a oneshot service running
    ``/bin/sh -c COMMAND`` and a persistent timer firing on the cron schedule."""
    service, timer = unit_names(name)
    schedule = validate_cron(cron)
    _check_line("command", command)
    description = _check_line("description",
                              description or f"bo-hpo nightly tuning ({name})")
    calendars = "".join(f"OnCalendar={value}\n" for value in cron_to_oncalendars(schedule))
    header = f"# Written by bo-hpo (cron: {schedule}).\n"
    return {
        service: (
            f"{header}[Unit]\nDescription={_systemd_specifiers(description)}\n\n"
            f"[Service]\nType=oneshot\nExecStart=/bin/sh -c {_exec_quote(command)}\n"),
        timer: (
            f"{header}[Unit]\nDescription=Schedule of {service}\n\n"
            f"[Timer]\n{calendars}Persistent=true\nUnit={service}\n\n"
            f"[Install]\nWantedBy=timers.target\n"),
    }


def install_systemd(name: str, units: dict[str, str], unit_dir: Path) -> list[Path]:
    """Write the unit files of ``systemd_units`` into ``unit_dir`` (created if missing; the
    user's is ``~/.config/systemd/user``); returns their paths. Then see ``systemctl_hint``."""
    expected = set(unit_names(name))
    if set(units) != expected:
        raise ConfigError(f"units: expected {sorted(expected)}, got {sorted(units)}")
    paths = []
    for filename in sorted(units):
        path = Path(unit_dir).expanduser() / filename
        _write_atomic(path, units[filename])
        paths.append(path)
    return paths


def remove_systemd(name: str, unit_dir: Path) -> list[Path]:
    """Delete the unit files of ``name`` from ``unit_dir``; returns those that existed."""
    removed = []
    for filename in unit_names(name):
        path = Path(unit_dir).expanduser() / filename
        if path.exists():
            path.unlink()
            removed.append(path)
    return removed


def _unit_values(path: Path, key: str) -> list[str]:
    if not path.is_file():
        return []
    prefix = f"{key}="
    return [line[len(prefix):] for line in path.read_text(encoding="utf-8").splitlines()
            if line.startswith(prefix)]


def list_systemd(unit_dir: Path) -> list[dict[str, str]]:
    """The bo-hpo units in ``unit_dir`` as ``{"name", "on_calendar", "command", "files"}``
    (``;``-separated where several); passwords in commands are shown as ``***``."""
    folder = Path(unit_dir).expanduser()
    if not folder.is_dir():
        return []
    names = sorted({path.stem[len(UNIT_PREFIX):] for path in folder.glob(f"{UNIT_PREFIX}*")
                    if path.suffix in (".service", ".timer")
                    and _NAME_RE.fullmatch(path.stem[len(UNIT_PREFIX):])})
    entries = []
    for name in names:
        service, timer = (folder / filename for filename in unit_names(name))
        commands = [_exec_unquote(value[len("/bin/sh -c "):])
                    if value.startswith("/bin/sh -c ") else value
                    for value in _unit_values(service, "ExecStart")]
        entries.append({
            "name": name,
            "on_calendar": "; ".join(_unit_values(timer, "OnCalendar")),
            "command": redact("; ".join(commands)),
            "files": "; ".join(str(p) for p in (service, timer) if p.exists()),
        })
    return entries


def systemctl_hint(name: str, user: bool = True) -> str:
    """The commands that load and start the timer after ``install_systemd``."""
    _, timer = unit_names(name)
    ctl = "systemctl --user" if user else "systemctl"
    return f"{ctl} daemon-reload && {ctl} enable --now {timer}"


# ------------------------------------------------------------------------------- kubernetes
def k8s_name(name: str) -> str:
    """A DNS-1123 name for the CronJob of experiment ``name``: ``MLP_fashion`` ->
    ``bo-hpo-mlp-fashion``, at most 52 characters (Kubernetes appends 11 to its Jobs)."""
    check_name(name)
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    full = f"{UNIT_PREFIX}{slug}".rstrip("-")
    if len(full) > 52:
        digest = hashlib.sha1(name.encode()).hexdigest()[:8]
        full = f"{full[:43].rstrip('-')}-{digest}"
    return full


def _yaml_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    text = str(value)
    if _YAML_PLAIN_RE.fullmatch(text) and text.lower() not in _YAML_WORDS:
        return text
    return json.dumps(text)  # a JSON string is a YAML double-quoted scalar


def _yaml(value: Any, indent: int = 0) -> list[str]:
    """Block-style YAML of nested dicts, lists and scalars (keys are plain identifiers)."""
    pad = " " * indent
    lines = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                lines.append(f"{pad}{key}:")
                lines.extend(_yaml(item, indent + 2))
            elif isinstance(item, (dict, list)):
                lines.append(f"{pad}{key}: {'{}' if isinstance(item, dict) else '[]'}")
            else:
                lines.append(f"{pad}{key}: {_yaml_scalar(item)}")
    else:
        for item in value:
            if isinstance(item, (dict, list)) and item:
                sub = _yaml(item, indent + 2)
                lines.append(f"{pad}- {sub[0][indent + 2:]}")
                lines.extend(sub[1:])
            else:
                lines.append(f"{pad}- {_yaml_scalar(item)}")
    return lines


def kubernetes_cronjob(name: str, cron: str, experiment_path: str, image: str = "bo-hpo:latest",
                       store_secret: str = "bo-hpo-store", secret_key: str = "url",
                       starting_deadline_seconds: int = 3600,
                       time_zone: str | None = None) -> str:
    """A ``batch/v1`` CronJob manifest running ``bo-hpo nightly EXPERIMENT --store URL`` with
    the URL taken from the Secret ``store_secret`` (key ``secret_key``), never inlined."""
    job = k8s_name(name)
    schedule = validate_cron(cron)
    _check_line("experiment", experiment_path)
    _check_line("image", image)
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?", store_secret):
        raise ConfigError(f"store_secret: {store_secret!r} is not a Kubernetes Secret name")
    if not re.fullmatch(r"[-._a-zA-Z0-9]+", secret_key):
        raise ConfigError(f"secret_key: {secret_key!r} is not a Secret key")
    if not isinstance(starting_deadline_seconds, int) or starting_deadline_seconds < 10:
        raise ConfigError(f"starting_deadline_seconds: must be a whole number >= 10, got "
                          f"{starting_deadline_seconds!r}")
    labels = {"app.kubernetes.io/name": "bo-hpo", "app.kubernetes.io/instance": job}
    container = {
        "name": "bo-hpo",
        "image": image,
        # $(VAR) is expanded by Kubernetes from the container's env; "$$(" keeps a literal "$(".
        "command": ["bo-hpo", "nightly", experiment_path.replace("$(", "$$("),
                    "--store", "$(BO_HPO_STORE)"],
        "env": [{"name": "BO_HPO_STORE",
                 "valueFrom": {"secretKeyRef": {"name": store_secret, "key": secret_key}}}],
    }
    spec: dict[str, Any] = {"schedule": schedule}
    if time_zone:
        spec["timeZone"] = _check_line("time_zone", time_zone)
    spec.update({
        "concurrencyPolicy": "Forbid",
        "startingDeadlineSeconds": starting_deadline_seconds,
        "successfulJobsHistoryLimit": 3,
        "failedJobsHistoryLimit": 3,
        "jobTemplate": {"spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"labels": labels},
                "spec": {"restartPolicy": "Never", "containers": [container]},
            },
        }},
    })
    manifest = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": job, "labels": labels},
        "spec": spec,
    }
    return "\n".join(_yaml(manifest)) + "\n"
