"""Nightly-job scheduling: cron validation names the bad field, crontab edits keep foreign
lines byte for byte, commands survive shell, cron and systemd quoting, cron schedules convert
to systemd calendars that fire at the same times, and no display or manifest shows a password.

The real ``crontab`` and ``systemd-analyze`` are used only where installed; the user's crontab
is saved first and restored exactly.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bo_hpo import schedule
from bo_hpo.errors import ConfigError
from bo_hpo.schedule import (
    CRON_MARKER,
    add_to_crontab,
    cron_to_oncalendar,
    cron_to_oncalendars,
    crontab_entry,
    crontab_has,
    display_entry,
    install_crontab,
    install_systemd,
    k8s_name,
    kubernetes_cronjob,
    list_crontab,
    list_systemd,
    next_runs,
    nightly_command,
    read_crontab_entries,
    redact,
    remove_crontab,
    remove_from_crontab,
    remove_systemd,
    systemctl_hint,
    systemd_units,
    validate_cron,
)

URL = "postgresql+psycopg://u:s3cret@127.0.0.1/db"
FOREIGN = ('MAILTO=""\n'
           "# nightly backup, do not touch\n"
           "*/5  *  * * *   /usr/bin/backup --note 'a\\%b'  \n"
           "\n"
           "17 3 * * 0 /bin/true\n")


# ---------------------------------------------------------------------------- validate_cron
@pytest.mark.parametrize("expr, expected", [
    ("0 2 * * *", "0 2 * * *"),
    ("  0   2 *  * *  ", "0 2 * * *"),
    ("*/15 * * * *", "*/15 * * * *"),
    ("30 1 * * 1-5", "30 1 * * 1-5"),
    ("0 0 1,15 jan-jun mon,WED", "0 0 1,15 jan-jun mon,WED"),
    ("5-50/15 1,3 1-5 * 7", "5-50/15 1,3 1-5 * 7"),
    ("@daily", "0 0 * * *"),
    ("@HOURLY", "0 * * * *"),
    ("@weekly", "0 0 * * 0"),
])
def test_validate_cron_accepts_and_normalises(expr, expected):
    assert validate_cron(expr) == expected


@pytest.mark.parametrize("expr, pieces", [
    ("0 25 * * *", ["hour field '25'", "out of range 0-23", "'0 25 * * *'"]),
    ("60 2 * * *", ["minute field '60'", "out of range 0-59"]),
    ("0 2 * * * *", ["expected 5 fields", "got 6"]),
    ("0 2 * *", ["expected 5 fields", "got 4"]),
    ("every night at two", ["expected 5 fields", "got 4"]),
    ("a b c d e", ["minute field 'a'", "not a number"]),
    ("0 0 * * 8", ["day-of-week field '8'", "out of range 0-7"]),
    ("0 0 1 13 *", ["month field '13'", "out of range 1-12"]),
    ("0 0 0 * *", ["day-of-month field '0'", "out of range 1-31"]),
    ("1,99 * * * *", ["minute field '1,99'", "'99' is out of range"]),
    ("0 0 * * xyz", ["day-of-week field 'xyz'", "neither a number nor a name"]),
    ("5/10 * * * *", ["minute field '5/10'", "'5-59/10'"]),
    ("*/0 * * * *", ["minute field '*/0'", "step '0'"]),
    ("0 0 * * 5-1", ["day-of-week field '5-1'", "backwards"]),
    ("0 0 L * *", ["day-of-month field 'L'"]),
    ("0 0 30 2 *", ["never matches"]),
    ("@reboot", ["'@reboot'", "5 fields"]),
    ("@fortnightly", ["unknown macro '@fortnightly'", "@daily"]),
    ("", ["empty"]),
])
def test_validate_cron_rejects_naming_the_field(expr, pieces):
    with pytest.raises(ConfigError) as caught:
        validate_cron(expr)
    message = str(caught.value)
    assert message.startswith("--cron: ")
    for piece in pieces:
        assert piece in message


def test_next_runs_follow_the_expression():
    start = datetime(2026, 3, 6, 12, 0)  # a Friday
    assert next_runs("30 1 * * 1-5", n=3, start=start) == [
        datetime(2026, 3, 9, 1, 30), datetime(2026, 3, 10, 1, 30), datetime(2026, 3, 11, 1, 30)]
    runs = next_runs("@hourly", n=2)
    assert runs[0].tzinfo is not None and runs[1] - runs[0] == timedelta(hours=1)
    with pytest.raises(ConfigError, match="hour field"):
        next_runs("0 24 * * *")
    with pytest.raises(ConfigError, match="n: "):
        next_runs("0 2 * * *", n=0)


# ------------------------------------------------------------------------------ names, redact
@pytest.mark.parametrize("name", ["bad name", "a/b", "../x", "x;rm", "", "-x", "é"])
def test_unsafe_names_are_refused(name):
    with pytest.raises(ConfigError) as caught:
        crontab_entry(name, "0 2 * * *", "true")
    assert str(caught.value).startswith("name: ") and repr(name) in str(caught.value)
    with pytest.raises(ConfigError, match="^name: "):
        systemd_units(name, "0 2 * * *", "true")


def test_redact_hides_the_password():
    assert redact(f"--store {URL} ok", URL) == "--store postgresql+psycopg://u:***@127.0.0.1/db ok"
    assert redact("password was s3cret", URL) == "password was ***"
    odd = "postgresql://u:p'w%40x@h/db"  # a quote (shell-quoted below) and an encoded '@'
    for text in (odd, f"--store {shlex.quote(odd)}"):
        shown = redact(text, odd)
        assert "p'w" not in shown and "%40x" not in shown and "p@x" not in shown and "***" in shown
    assert redact("sqlite:///tmp/x.db and u@example.org", "sqlite:///tmp/x.db") == \
        "sqlite:///tmp/x.db and u@example.org"
    assert redact(f"a {URL}") == "a postgresql+psycopg://u:***@127.0.0.1/db"  # no URL given
    query = "postgresql+psycopg://u@127.0.0.1/db?host=/tmp&password=s3cret&sslpassword=pw2"
    for shown in (redact(f"--store {query}", query), redact(f"--store {query}")):
        assert shown == "--store postgresql+psycopg://u@127.0.0.1/db?host=/tmp&password=***" \
            "&sslpassword=***"


# ------------------------------------------------------------------------- nightly_command
def _fake_python(tmp_path: Path) -> str:
    """An executable standing in for Python: writes its argv as JSON to stdout."""
    script = tmp_path / "fake python"
    script.write_text("#!/bin/sh\nexec " + shlex.quote(sys.executable)
                      + " -c 'import json, sys; print(json.dumps(sys.argv[1:]))' \"$@\"\n")
    script.chmod(0o755)
    return str(script)


@pytest.fixture
def job(tmp_path):
    """Paths with spaces and a store URL full of shell metacharacters and a '%'."""
    work = tmp_path / "work dir"
    work.mkdir()
    experiment = work / "my exp.toml"
    experiment.write_text("name = 'x'\n")
    url = "postgresql://u:p'a$s%25w&rd;@127.0.0.1/db?x=1&y=$HOME"
    log = work / "logs" / "night ly.log"
    log.parent.mkdir()
    command = nightly_command(experiment, url, work, log, python=_fake_python(tmp_path))
    return {"work": work, "experiment": experiment, "url": url, "log": log, "command": command}


def _run_and_read_argv(command: str, log: Path) -> list[str]:
    log.unlink(missing_ok=True)
    subprocess.run(["/bin/sh", "-c", command], check=True, timeout=60)
    return json.loads(log.read_text())


def test_nightly_command_survives_the_shell(job):
    assert job["command"].startswith(f"cd {shlex.quote(str(job['work']))} && ")
    assert job["command"].endswith(f">> {shlex.quote(str(job['log']))} 2>&1")
    argv = _run_and_read_argv(job["command"], job["log"])
    assert argv == ["-m", "bo_hpo.cli", "nightly", str(job["experiment"]), "--store", job["url"]]


def test_nightly_command_refuses_missing_paths(tmp_path):
    exp = tmp_path / "e.toml"
    with pytest.raises(ConfigError, match="^experiment: "):
        nightly_command(exp, URL, tmp_path, tmp_path / "log")
    exp.write_text("")
    with pytest.raises(ConfigError, match="^log: "):
        nightly_command(exp, URL, tmp_path, tmp_path / "nope" / "log")
    with pytest.raises(ConfigError, match="^--store: "):
        nightly_command(exp, "", tmp_path, tmp_path / "log")
    relative = nightly_command(exp, URL, tmp_path, tmp_path / "log", python="python3")
    assert f" nightly {exp.resolve()} " in relative


# ------------------------------------------------------------------------------ crontab text
def test_crontab_entry_is_marker_plus_schedule_line():
    assert crontab_entry("mlp", "0  2 * * *", "echo 100%") == \
        f"{CRON_MARKER}mlp\n0 2 * * * echo 100\\%\n"
    assert crontab_entry("mlp", "@daily", "true", user="root") == \
        f"{CRON_MARKER}mlp\n0 0 * * * root true\n"
    with pytest.raises(ConfigError, match="^command: "):
        crontab_entry("mlp", "0 2 * * *", "echo a\necho b")
    with pytest.raises(ConfigError, match="hour field"):
        crontab_entry("mlp", "0 24 * * *", "true")


def test_add_replace_remove_keep_foreign_lines_byte_for_byte():
    one = add_to_crontab(FOREIGN, "mlp", "0 2 * * *", f"run --store {URL} 50%")
    assert one.startswith(FOREIGN)
    assert one[len(FOREIGN):] == f"{CRON_MARKER}mlp\n0 2 * * * run --store {URL} 50\\%\n"
    two = add_to_crontab(one, "cnn", "30 1 * * 1-5", "run cnn")
    two += "# trailing foreign comment\n"
    replaced = add_to_crontab(two, "mlp", "15 4 * * *", "run mlp v2")
    assert [e["name"] for e in list_crontab(replaced)] == ["mlp", "cnn"]  # replaced in place
    assert "0 2 * * *" not in replaced and replaced.count(f"{CRON_MARKER}mlp\n") == 1
    assert crontab_has(replaced, "cnn") and not crontab_has(replaced, "nope")
    assert remove_from_crontab(remove_from_crontab(replaced, "mlp"), "cnn") == \
        FOREIGN + "# trailing foreign comment\n"
    assert remove_from_crontab(FOREIGN, "mlp") == FOREIGN


def test_add_to_crontab_terminates_an_unterminated_last_line_and_drops_duplicates():
    text = f"{CRON_MARKER}a\n1 1 * * * old-a\n0 0 * * * foreign\n{CRON_MARKER}a\n2 2 * * * dup"
    out = add_to_crontab(text, "a", "3 3 * * *", "new-a")
    assert out == f"{CRON_MARKER}a\n3 3 * * * new-a\n0 0 * * * foreign\n"
    assert add_to_crontab("0 0 * * * x", "b", "0 1 * * *", "y") == \
        f"0 0 * * * x\n{CRON_MARKER}b\n0 1 * * * y\n"


def test_list_crontab_parses_unescapes_and_redacts():
    text = add_to_crontab(FOREIGN, "mlp", "0 2 * * *", f"run --store {URL} 50%")
    text += f"{CRON_MARKER}orphan\n\n"  # a marker whose job line was deleted by hand
    shown = "run --store postgresql+psycopg://u:***@127.0.0.1/db 50%"
    assert list_crontab(text) == [{"name": "mlp", "cron": "0 2 * * *", "command": shown}]
    system = add_to_crontab("", "sys", "0 2 * * *", "run", user="tuner")
    assert list_crontab(system, system=True) == [
        {"name": "sys", "cron": "0 2 * * *", "user": "tuner", "command": "run"}]
    line = display_entry(list_crontab(text)[0], URL)
    assert line.startswith("mlp  0 2 * * *  run --store ") and "s3cret" not in line


# ---------------------------------------------------------------------------- crontab files
def test_crontab_file_round_trip(tmp_path):
    path = tmp_path / "cron.d" / "bo-hpo"
    assert read_crontab_entries(path) == [] and not path.exists()
    install_crontab("mlp", "0 2 * * *", f"run --store {URL}", crontab_file=path)
    assert path.stat().st_mode & 0o777 == 0o600  # holds a password
    path.write_text(FOREIGN + path.read_text())
    install_crontab("mlp", "0 3 * * *", f"run --store {URL}", crontab_file=path)
    install_crontab("cnn", "@daily", "run cnn", crontab_file=path)
    assert [(e["name"], e["cron"]) for e in read_crontab_entries(path)] == \
        [("mlp", "0 3 * * *"), ("cnn", "0 0 * * *")]
    assert "s3cret" in path.read_text() and "s3cret" not in str(read_crontab_entries(path))
    assert remove_crontab("mlp", crontab_file=path) is True
    assert remove_crontab("mlp", crontab_file=path) is False
    assert remove_crontab("cnn", crontab_file=path) is True
    assert path.read_text() == FOREIGN
    assert [p.name for p in path.parent.iterdir()] == ["bo-hpo"]  # no temporary file left


def test_crontab_binary_missing_gives_an_install_hint(monkeypatch):
    monkeypatch.setattr(schedule.shutil, "which", lambda _name: None)
    with pytest.raises(ConfigError, match="apt-get install cron, or pass --crontab-file"):
        read_crontab_entries()
    with pytest.raises(ConfigError, match="apt-get install cron"):
        install_crontab("mlp", "0 2 * * *", "true")


def test_user_crontab_through_a_fake_crontab_command(tmp_path, monkeypatch):
    """``crontab -l`` failing with 'no crontab for' is an empty crontab; other failures and a
    rejected ``crontab -`` are ConfigErrors."""
    store = tmp_path / "stored"
    fake = tmp_path / "bin" / "crontab"
    fake.parent.mkdir()
    fake.write_text(f"""#!/bin/sh
if [ "$1" = "-l" ]; then
    [ -f {store} ] || {{ echo "no crontab for $(id -un)" >&2; exit 1; }}
    exec cat {store}
fi
if [ "$1" = "-" ]; then
    cat > {store}.new
    if grep -q reject-me {store}.new; then echo '"-":1: bad minute' >&2; exit 1; fi
    exec mv {store}.new {store}
fi
exit 2
""")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:/usr/bin:/bin")
    assert read_crontab_entries() == []
    install_crontab("mlp", "0 2 * * *", f"run --store {URL}")
    assert store.read_text() == f"{CRON_MARKER}mlp\n0 2 * * * run --store {URL}\n"
    with pytest.raises(ConfigError, match="bad minute"):
        install_crontab("bad", "0 2 * * *", "reject-me")
    assert [e["name"] for e in read_crontab_entries()] == ["mlp"]
    assert remove_crontab("mlp") is True and store.read_text() == ""
    fake.write_text("#!/bin/sh\necho 'permission denied' >&2\nexit 1\n")
    with pytest.raises(ConfigError, match="permission denied"):
        read_crontab_entries()


@pytest.mark.skipif(shutil.which("crontab") is None, reason="no crontab binary")
def test_real_crontab_round_trip(job):
    saved = subprocess.run(["crontab", "-l"], capture_output=True, text=True,
                           env={"LC_ALL": "C", "PATH": "/usr/bin:/bin"})
    had_crontab = saved.returncode == 0
    if not had_crontab and "no crontab" not in saved.stderr.lower():
        pytest.skip(f"crontab -l does not work here: {saved.stderr.strip()}")
    name = "pytest-bo-hpo-roundtrip"
    try:
        before = saved.stdout if had_crontab else ""
        install_crontab(name, "0 2 * * *", job["command"])
        raw = subprocess.run(["crontab", "-l"], capture_output=True, text=True,
                             check=True).stdout
        assert raw.startswith(before) and f"{CRON_MARKER}{name}\n0 2 * * * cd " in raw
        assert "\\%25w" in raw and not re.search(r"[^\\]%", raw)  # cron cuts at a bare '%'
        listed = [e for e in read_crontab_entries() if e["name"] == name]
        assert len(listed) == 1 and listed[0]["cron"] == "0 2 * * *"
        assert "p'a" not in listed[0]["command"] and "***" in listed[0]["command"]
        # what cron hands to /bin/sh (its '\%' unescaped) still runs the job with exact args
        job_line = raw.split(f"{CRON_MARKER}{name}\n", 1)[1].splitlines()[0]
        as_cron_runs = job_line.split(None, 5)[5].replace("\\%", "%")
        argv = _run_and_read_argv(as_cron_runs, job["log"])
        assert argv[-2:] == ["--store", job["url"]]
        assert remove_crontab(name) is True
        after = subprocess.run(["crontab", "-l"], capture_output=True, text=True)
        assert (after.stdout if after.returncode == 0 else "") == before
    finally:
        if had_crontab:
            subprocess.run(["crontab", "-"], input=saved.stdout, text=True, check=True)
        else:
            subprocess.run(["crontab", "-r"], capture_output=True)
    restored = subprocess.run(["crontab", "-l"], capture_output=True, text=True)
    assert restored.returncode == saved.returncode and restored.stdout == saved.stdout


# ---------------------------------------------------------------------------------- systemd
@pytest.mark.parametrize("cron, calendar", [
    ("0 2 * * *", "*-*-* 02:00:00"),
    ("30 1 * * 1-5", "Mon..Fri *-*-* 01:30:00"),
    ("*/15 * * * *", "*-*-* *:00/15:00"),
    ("0 3 1 * *", "*-*-01 03:00:00"),
    ("0 */6 * * *", "*-*-* 00/6:00:00"),
    ("0 0 * * 0,6", "Sat,Sun *-*-* 00:00:00"),
    ("0 0 * * 7", "Sun *-*-* 00:00:00"),
    ("0 0 * * 0-2", "Mon,Tue,Sun *-*-* 00:00:00"),
    ("0 0 * * 0-7", "*-*-* 00:00:00"),
    ("5-50/15 9-17 * jan-mar *", "*-01..03-* 09..17:05,20,35,50:00"),
    ("0 12 1,15 */3 *", "*-01/3-01,15 12:00:00"),
    ("@weekly", "Sun *-*-* 00:00:00"),
])
def test_cron_to_oncalendar(cron, calendar):
    assert cron_to_oncalendar(cron) == calendar


def test_day_of_month_or_day_of_week_takes_two_calendars():
    assert cron_to_oncalendars("0 0 1 * 1") == ["*-*-01 00:00:00", "Mon *-*-* 00:00:00"]
    assert cron_to_oncalendars("0 0 1 * 0-6") == ["*-*-* 00:00:00"]  # either: every day
    assert cron_to_oncalendars("0 0 */2 * 1") == ["Mon *-*-01/2 00:00:00"]  # '*...': both
    with pytest.raises(ConfigError, match="two OnCalendar"):
        cron_to_oncalendar("0 0 1 * 1")


def _systemd_times(calendar: str, base: datetime, n: int) -> list[datetime]:
    done = subprocess.run(
        ["systemd-analyze", "calendar", f"--iterations={n}",
         f"--base-time={base:%Y-%m-%d %H:%M:%S} UTC", calendar],
        capture_output=True, text=True, env={"TZ": "UTC", "LC_ALL": "C", "PATH": "/usr/bin:/bin"},
        timeout=60)
    assert done.returncode == 0, done.stderr
    found = re.findall(r"(?:Next elapse|Iter\. #\d+): \w+ (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)",
                       done.stdout)
    return [datetime.strptime(t, "%Y-%m-%d %H:%M:%S") for t in found]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
@pytest.mark.parametrize("cron", [
    "0 2 * * *", "30 1 * * 1-5", "*/15 * * * *", "0 3 1 * *", "0 0 * * 0-2", "@weekly",
    "5-50/15 1,3 1-5 jan-mar sun", "0 0 1 * 1", "0 12 1,15 */3 *", "15 4 * 2-11/3 6",
])
def test_systemd_fires_when_cron_does(cron):
    base, n = datetime(2026, 1, 1, 0, 0, 0), 25
    fired = sorted({t for cal in cron_to_oncalendars(cron) for t in _systemd_times(cal, base, n)})
    assert fired[:n] == next_runs(cron, n=n, start=base)


def test_systemd_units_text():
    units = systemd_units("mlp", "30 1 * * 1-5", "cd /x && run --store 'a%b$c' \"q\"")
    service, timer = units["bo-hpo-mlp.service"], units["bo-hpo-mlp.timer"]
    assert set(units) == {"bo-hpo-mlp.service", "bo-hpo-mlp.timer"}
    assert "\nType=oneshot\n" in service
    assert "\nExecStart=/bin/sh -c \"cd /x && run --store 'a%%b$$c' \\\"q\\\"\"\n" in service
    assert "\nOnCalendar=Mon..Fri *-*-* 01:30:00\n" in timer
    assert "\nPersistent=true\n" in timer and "\nUnit=bo-hpo-mlp.service\n" in timer
    assert timer.endswith("[Install]\nWantedBy=timers.target\n")
    both = systemd_units("m", "0 0 1 * 1", "true")["bo-hpo-m.timer"]
    assert both.count("OnCalendar=") == 2
    assert "Description=50%% done\n" in systemd_units("m", "@daily", "t", "50% done")[
        "bo-hpo-m.service"]
    assert systemctl_hint("mlp") == \
        "systemctl --user daemon-reload && systemctl --user enable --now bo-hpo-mlp.timer"


def test_install_list_remove_systemd(tmp_path, job):
    unit_dir = tmp_path / "systemd" / "user"
    units = systemd_units("mlp", "0 2 * * *", job["command"])
    paths = install_systemd("mlp", units, unit_dir)
    assert sorted(p.name for p in paths) == ["bo-hpo-mlp.service", "bo-hpo-mlp.timer"]
    assert all(p.read_text() == units[p.name] for p in paths)
    (unit_dir / "other.service").write_text("[Service]\nExecStart=/bin/true\n")
    listed = list_systemd(unit_dir)
    assert [(e["name"], e["on_calendar"]) for e in listed] == [("mlp", "*-*-* 02:00:00")]
    assert listed[0]["command"] == redact(job["command"], job["url"])
    assert "p'a" not in listed[0]["command"] and "***" in listed[0]["command"]
    with pytest.raises(ConfigError, match="^units: "):
        install_systemd("cnn", units, unit_dir)
    assert sorted(p.name for p in remove_systemd("mlp", unit_dir)) == [p.name for p in paths]
    assert remove_systemd("mlp", unit_dir) == [] and list_systemd(unit_dir) == []
    assert (unit_dir / "other.service").exists()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_analyze_verify_accepts_the_units(tmp_path, job):
    paths = install_systemd("mlp", systemd_units("mlp", "0 0 1 * 1", job["command"],
                                                 "tuning at 100% & more"), tmp_path)
    done = subprocess.run(["systemd-analyze", "verify", *map(str, paths)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ExecStart" not in done.stderr and "quoting" not in done.stderr


def test_exec_start_round_trips_to_the_same_shell_command(tmp_path, job):
    """What list_systemd decodes from ExecStart (systemd's unescaping) runs the same job."""
    install_systemd("mlp", systemd_units("mlp", "0 2 * * *", job["command"]), tmp_path)
    value = (tmp_path / "bo-hpo-mlp.service").read_text().split("ExecStart=/bin/sh -c ")[1]
    decoded = schedule._exec_unquote(value.strip())
    assert decoded == job["command"]
    argv = _run_and_read_argv(decoded, job["log"])
    assert argv[-1] == job["url"]


# ------------------------------------------------------------------------------- kubernetes
def test_kubernetes_cronjob_manifest():
    manifest = kubernetes_cronjob("MLP_fashion", "0 2 * * *", "experiments/mlp_fashion.toml")
    assert "\n  name: bo-hpo-mlp-fashion\n" in manifest
    assert '\n  schedule: "0 2 * * *"\n' in manifest
    assert "\n  concurrencyPolicy: Forbid\n" in manifest
    assert "\n  startingDeadlineSeconds: 3600\n" in manifest
    assert "secretKeyRef:" in manifest and "name: bo-hpo-store" in manifest
    assert "restartPolicy: Never" in manifest and "backoffLimit: 0" in manifest
    assert "://" not in manifest and "s3cret" not in manifest
    assert '"$(BO_HPO_STORE)"' in manifest


def test_kubernetes_cronjob_parses_as_yaml():
    yaml = pytest.importorskip("yaml")
    doc = yaml.safe_load(kubernetes_cronjob("MLP_fashion", "@daily", "exp/a b.toml",
                                            image="reg.example/bo-hpo:1.0", time_zone="UTC"))
    assert doc["apiVersion"] == "batch/v1" and doc["kind"] == "CronJob"
    assert doc["spec"]["schedule"] == "0 0 * * *" and doc["spec"]["timeZone"] == "UTC"
    assert doc["spec"]["concurrencyPolicy"] == "Forbid"
    job = doc["spec"]["jobTemplate"]["spec"]
    assert job["backoffLimit"] == 0 and job["template"]["spec"]["restartPolicy"] == "Never"
    (container,) = job["template"]["spec"]["containers"]
    assert container["image"] == "reg.example/bo-hpo:1.0"
    assert container["command"] == ["bo-hpo", "nightly", "exp/a b.toml", "--store",
                                    "$(BO_HPO_STORE)"]
    assert container["env"] == [{"name": "BO_HPO_STORE", "valueFrom": {
        "secretKeyRef": {"name": "bo-hpo-store", "key": "url"}}}]


def test_k8s_names_are_dns_1123():
    dns = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
    assert k8s_name("MLP_fashion") == "bo-hpo-mlp-fashion"
    long = k8s_name("A" * 40 + "_" + "b" * 40)
    other = k8s_name("A" * 40 + "_" + "b" * 39 + "c")
    for name in (k8s_name("x..Y__z-"), long, other):
        assert dns.fullmatch(name) and len(name) <= 52
    assert long != other  # truncated names stay distinct
    with pytest.raises(ConfigError, match="^name: "):
        kubernetes_cronjob("bad name", "0 2 * * *", "e.toml")
    with pytest.raises(ConfigError, match="^store_secret: "):
        kubernetes_cronjob("ok", "0 2 * * *", "e.toml", store_secret="Bad_Secret")
    with pytest.raises(ConfigError, match="hour field"):
        kubernetes_cronjob("ok", "0 99 * * *", "e.toml")
