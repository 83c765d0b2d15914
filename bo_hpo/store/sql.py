"""The store on SQLAlchemy 2: SQLite (a file, the default) and PostgreSQL (for teams).

Every write is a short transaction. On SQLite the file is in WAL mode with a long busy
timeout, and every transaction starts with ``BEGIN IMMEDIATE``, so that several processes
writing to one file queue for the write lock instead of failing with "database is locked"
(a reader that later wants to write cannot be refused half-way). The schema is migrated
with Alembic when the store is opened; a database of a newer schema is refused untouched.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import socket
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bo_hpo.errors import LockedError, StoreError
from bo_hpo.trial import FINAL_STATUSES, TrialRecord

logger = logging.getLogger(__name__)

#: Seconds after which a lease or running trial whose owner stopped heart-beating is stale.
STALE_AFTER = 60.0
#: Seconds between heartbeats of a running loop.
HEARTBEAT_INTERVAL = 10.0
#: SQLite: how long a writer waits for the lock before giving up (milliseconds).
SQLITE_BUSY_MS = 120_000


@dataclass(frozen=True)
class Owner:
    """Who holds a lease or runs a trial: this host and process, plus a random token so
    that two stores opened by one process stay apart."""

    host: str
    pid: int
    token: str

    @classmethod
    def current(cls) -> Owner:
        return cls(socket.gethostname(), os.getpid(), uuid.uuid4().hex[:12])

    def __str__(self) -> str:
        return f"{self.host}:{self.pid}:{self.token}"

    @staticmethod
    def parse(text: str | None) -> tuple[str | None, int | None]:
        if not text:
            return None, None
        host, _, rest = text.partition(":")
        pid, _, _token = rest.partition(":")
        try:
            return host, int(pid)
        except ValueError:
            return host, None


def owner_gone(host: str | None, pid: int | None, heartbeat_at: float | None,
               stale_after: float = STALE_AFTER, now: float | None = None) -> bool:
    """Whether the owner of a lease or trial is gone: its pid is dead on this host, or its
    heartbeat is older than ``stale_after`` seconds (the only test across hosts)."""
    now = time.time() if now is None else now
    if heartbeat_at is None or now - heartbeat_at > stale_after:
        return True
    if host == socket.gethostname() and pid is not None:
        return not _pid_alive(pid)
    return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    try:  # a zombie (killed, not yet reaped by its parent) is dead for our purposes
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


@dataclass
class ExperimentInfo:
    """One stored experiment, without its trials."""

    id: int
    name: str
    created_at: float
    updated_at: float
    source: str
    spec: dict[str, Any]
    fingerprint: str
    space_version: int
    versions: dict[str, Any]
    device: str | None
    seed: int | None
    minimize: bool
    status: str
    seconds_spent: float
    summary: dict[str, Any] | None


@dataclass
class NightInfo:
    number: int
    status: str
    started_at: float
    ended_at: float | None
    n_trials: int | None
    best_before: float | None
    best_after: float | None
    improvement: float | None
    recommended_trial: int | None
    recommended_config: dict[str, Any] | None
    predicted_mean: float | None
    predicted_sem: float | None
    recommendation_changed: bool | None
    detail: str | None


#: Query parameters that libpq reads as a password (``?password=...`` is as valid as ``u:pw@``).
_SECRET_QUERY = re.compile(r"([?&](?:ssl)?pass(?:word|wd)?=)[^&]*", re.IGNORECASE)


def redact(url: str) -> str:
    """The URL with its passwords replaced by ``***``; safe to print or log."""
    try:
        from sqlalchemy.engine import make_url

        return _SECRET_QUERY.sub(r"\1***", make_url(url).render_as_string(hide_password=True))
    except Exception:  # not a URL at all: show nothing that might be a secret
        return "<store URL>"


def _passwords(url: str) -> list[str]:
    """Every password the URL holds, in its user part or its query, to scrub from errors."""
    try:
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
    except Exception:
        return []
    found = [parsed.password] if parsed.password else []
    for key, value in parsed.query.items():
        if _SECRET_QUERY.match(f"?{key}="):
            found += [value] if isinstance(value, str) else list(value)
    return [str(v) for v in found if v]


def _dumps(value: Any) -> str:
    return json.dumps(value, default=_json_default, sort_keys=False)


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    return str(value)


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _num(value: Any) -> float | None:
    """A float for a Float column (NaN/inf kept out: PostgreSQL takes them, SQLite does
    not round-trip inf through every driver, and no caller needs them)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


class SQLStore:
    """A bo_hpo store in a SQL database. Open with :func:`bo_hpo.store.open_store`.

    Args:
        url: ``sqlite:///path/to/file.db`` or ``postgresql+psycopg://user:pw@host/db``.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.display_url = redact(url)
        self._secrets = _passwords(url)
        self.backend = "sqlite" if url.startswith("sqlite") else "postgresql"
        self.engine = self._connect()
        from sqlalchemy.exc import DBAPIError

        try:
            self._migrate()
        except DBAPIError as err:  # the first connection: any database error here means the
            # store cannot be used (an unknown ?option=, a wrong database name), not a bug
            raise StoreError(self._describe(err)) from None

    # ------------------------------------------------------------------ opening
    def _connect(self) -> Any:
        try:
            from sqlalchemy import create_engine, event
        except ImportError as err:  # pragma: no cover - a core dependency
            raise StoreError(f"SQLAlchemy is needed for the store: {err}") from None
        if self.backend == "sqlite":
            self._check_sqlite_path(self._sqlite_path())
            try:
                engine = create_engine(
                    self.url, connect_args={"timeout": SQLITE_BUSY_MS / 1000,
                                            "check_same_thread": False},
                )
            except Exception as err:  # e.g. sqlite://file.db (two slashes, not three)
                raise StoreError(
                    f"store URL {self.display_url!r} is not usable ({self._scrub(err)}); a "
                    f"SQLite file is sqlite:///relative/path.db or sqlite:////absolute/path.db"
                ) from None

            @event.listens_for(engine, "connect")
            def _on_connect(dbapi_connection: Any, _record: Any) -> None:
                dbapi_connection.isolation_level = None  # transactions are ours (below)
                cursor = dbapi_connection.cursor()
                cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_MS}")
                cursor.execute("PRAGMA journal_mode = WAL")
                cursor.execute("PRAGMA synchronous = NORMAL")
                cursor.execute("PRAGMA foreign_keys = ON")
                cursor.close()

            @event.listens_for(engine, "begin")
            def _on_begin(connection: Any) -> None:
                connection.exec_driver_sql("BEGIN IMMEDIATE")

            return engine
        if not self.url.startswith(("postgresql", "postgres")):
            raise StoreError(
                f"store URL must start with sqlite:/// or postgresql+psycopg://, got "
                f"{self.display_url!r}"
            )
        try:
            return create_engine(self.url, pool_pre_ping=True,
                                 connect_args={"connect_timeout": 10})
        except Exception as err:  # no driver for the scheme: name the one bo_hpo installs
            scheme = self.url.split("://", 1)[0]
            hint = ("install it with pip install 'bo-hpo[postgres]'"
                    if scheme == "postgresql+psycopg" else
                    f"bo_hpo's driver is psycopg 3: write postgresql+psycopg:// instead of "
                    f"{scheme}:// (pip install 'bo-hpo[postgres]' installs it)")
            what = ("the PostgreSQL driver is not installed" if isinstance(err, ImportError)
                    else f"store URL {self.display_url!r} is not usable")
            raise StoreError(f"{what} ({self._scrub(err)}); {hint}") from None

    def _sqlite_path(self) -> Path:
        from sqlalchemy.engine import make_url

        url = make_url(self.url)
        if url.host:  # sqlite://tuning.db: the file name went into the host part
            raise StoreError(
                f"store URL {self.display_url!r}: a SQLite URL has three slashes before a "
                f"relative path (sqlite:///{url.host}{'/' + url.database if url.database else ''}"
                f") and four before an absolute one"
            )
        database = url.database
        if not database or database == ":memory:":  # each connection would get its own
            raise StoreError(
                f"store URL {self.display_url!r} names no file: an in-memory SQLite database "
                f"keeps nothing, so nothing could be resumed or reported; name a file "
                f"(sqlite:///tuning.db), or leave the store out to tune without one"
            )
        return Path(database)

    def _check_sqlite_path(self, path: Path) -> None:
        where = f"store {self.display_url!r}"
        if path.is_dir():
            raise StoreError(f"{where}: {str(path)!r} is a directory, not a database file")
        parent = path.parent if str(path.parent) else Path(".")
        if not parent.exists():
            try:
                parent.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise StoreError(f"{where}: cannot create the directory {str(parent)!r}: "
                                 f"{err.strerror}") from None
        if path.exists():
            with path.open("rb") as f:
                head = f.read(16)
            if head and head != b"SQLite format 3\x00":
                raise StoreError(
                    f"{where}: {str(path)!r} is not a SQLite database (corrupted, or another "
                    f"kind of file); nothing was changed. Restore it from a backup, or point "
                    f"--store at another file"
                )
            if not os.access(path, os.W_OK):
                raise StoreError(f"{where}: {str(path)!r} is read-only")
        elif not os.access(parent, os.W_OK):
            raise StoreError(f"{where}: the directory {str(parent)!r} is read-only; cannot "
                             f"create the database there")

    def _scrub(self, err: BaseException) -> str:
        text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text.replace(self.url, self.display_url)

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        """One short transaction; database errors become StoreError (password-free)."""
        from sqlalchemy.exc import DBAPIError, OperationalError

        try:
            with self.engine.begin() as conn:
                yield conn
        except OperationalError as err:
            raise StoreError(self._describe(err)) from None
        except DBAPIError as err:
            if "not a database" in str(err) or "malformed" in str(err):
                raise StoreError(self._describe(err)) from None
            raise

    def _describe(self, err: BaseException) -> str:
        text = self._scrub(getattr(err, "orig", None) or err)
        if self.backend == "sqlite" and ("not a database" in text or "malformed" in text):
            return (f"store {self.display_url!r} is corrupted ({text}); nothing was changed. "
                    f"Restore it from a backup, or point --store at another file")
        if self.backend == "sqlite" and "readonly" in text.replace("-", ""):
            return f"store {self.display_url!r} is read-only ({text})"
        if self.backend == "postgresql":
            return f"cannot use the store at {self.display_url!r}: {text}"
        return f"store {self.display_url!r}: {text}"

    def _migrate(self) -> None:
        from alembic import command
        from alembic.config import Config
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        from bo_hpo.store.schema import VERSION_TABLE

        location = str(Path(__file__).parent / "migrations")
        config = Config()
        config.set_main_option("script_location", location)
        script = ScriptDirectory.from_config(config)
        head = script.get_current_head()
        known = {rev.revision for rev in script.walk_revisions()}
        with self._tx() as conn:
            if self.backend == "postgresql":  # one migrator at a time
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(727172)")
            context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
            current = context.get_current_revision()
            if current == head:
                return
            if current is not None and current not in known:
                raise StoreError(
                    f"store {self.display_url!r} has schema revision {current!r}, newer than "
                    f"this bo_hpo knows (up to {head!r}); upgrade bo_hpo to use it. Nothing "
                    f"was changed"
                )
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
            logger.info("store %s migrated from %s to %s", self.display_url, current, head)

    def close(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------------ experiments
    def create_experiment(
        self, name: str, *, spec: Mapping[str, Any], fingerprint: str, source: str,
        minimize: bool, seed: int | None, device: str | None, versions: Mapping[str, Any],
        space: Mapping[str, Any], owner: Owner | None = None,
    ) -> ExperimentInfo:
        """Create the experiment, its first space version and its lease (held by ``owner``
        when given). Raises LockedError if another process created it first."""
        from sqlalchemy.exc import IntegrityError

        from bo_hpo.store.schema import experiments, leases, space_versions

        now = time.time()
        try:
            with self._tx() as conn:
                exp_id = conn.execute(experiments.insert().values(
                    name=name, created_at=now, updated_at=now, source=source,
                    spec=_dumps(spec), fingerprint=fingerprint, space_version=1,
                    versions=_dumps(versions), device=device, seed=seed, minimize=minimize,
                    status="created", seconds_spent=0.0, summary=None,
                )).inserted_primary_key[0]
                conn.execute(space_versions.insert().values(
                    experiment_id=exp_id, version=1, fingerprint=fingerprint,
                    space=_dumps(space), change=None, created_at=now,
                ))
                conn.execute(leases.insert().values(
                    experiment_id=exp_id,
                    owner=str(owner) if owner else None,
                    host=owner.host if owner else None, pid=owner.pid if owner else None,
                    acquired_at=now if owner else None, heartbeat_at=now if owner else None,
                ))
        except IntegrityError:
            raise LockedError(
                f"experiment {name!r} was created by another process at the same moment"
            ) from None
        info = self.get_experiment(name)
        assert info is not None
        return info

    def get_experiment(self, name: str) -> ExperimentInfo | None:
        from sqlalchemy import select

        from bo_hpo.store.schema import experiments

        with self._tx() as conn:
            row = conn.execute(select(experiments).where(experiments.c.name == name)).first()
        return None if row is None else self._experiment(row)

    @staticmethod
    def _experiment(row: Any) -> ExperimentInfo:
        m = row._mapping
        return ExperimentInfo(
            id=m["id"], name=m["name"], created_at=m["created_at"], updated_at=m["updated_at"],
            source=m["source"], spec=_loads(m["spec"]), fingerprint=m["fingerprint"],
            space_version=m["space_version"], versions=_loads(m["versions"]),
            device=m["device"], seed=m["seed"], minimize=bool(m["minimize"]),
            status=m["status"], seconds_spent=m["seconds_spent"] or 0.0,
            summary=_loads(m["summary"]),
        )

    def list_experiments(self) -> list[dict[str, Any]]:
        """Every experiment with its trial counts and best observed value."""
        from sqlalchemy import func, select

        from bo_hpo.store.schema import experiments, nights, trials

        with self._tx() as conn:
            rows = conn.execute(select(experiments).order_by(experiments.c.created_at)).all()
            counts = conn.execute(
                select(trials.c.experiment_id, trials.c.status, func.count())
                .group_by(trials.c.experiment_id, trials.c.status)
            ).all()
            n_nights = dict(conn.execute(
                select(nights.c.experiment_id, func.count()).group_by(nights.c.experiment_id)
            ).all())
            best = conn.execute(
                select(trials.c.experiment_id, func.min(trials.c.mean), func.max(trials.c.mean))
                .where(trials.c.status == "completed").group_by(trials.c.experiment_id)
            ).all()
        by_exp: dict[int, dict[str, int]] = {}
        for exp_id, status, n in counts:
            by_exp.setdefault(exp_id, {})[status] = n
        best_by = {e: (lo, hi) for e, lo, hi in best}
        out = []
        for row in rows:
            info = self._experiment(row)
            lo_hi = best_by.get(info.id)
            out.append({
                "name": info.name, "status": info.status, "created_at": info.created_at,
                "updated_at": info.updated_at, "trials": by_exp.get(info.id, {}),
                "nights": n_nights.get(info.id, 0), "minimize": info.minimize,
                "best_observed": None if lo_hi is None else (
                    lo_hi[0] if info.minimize else lo_hi[1]),
            })
        return out

    def update_experiment(self, exp_id: int, **values: Any) -> None:
        from bo_hpo.store.schema import experiments

        for key in ("spec", "summary", "versions"):
            if key in values and values[key] is not None:
                values[key] = _dumps(values[key])
        values["updated_at"] = time.time()
        with self._tx() as conn:
            conn.execute(experiments.update().where(experiments.c.id == exp_id).values(**values))

    def rename_experiment(self, exp_id: int, new_name: str) -> None:
        """Raises StoreError when ``new_name`` is taken."""
        from sqlalchemy.exc import IntegrityError

        from bo_hpo.store.schema import experiments

        try:
            with self._tx() as conn:
                conn.execute(experiments.update().where(experiments.c.id == exp_id).values(
                    name=new_name, updated_at=time.time()))
        except IntegrityError:
            raise StoreError(f"cannot rename to {new_name!r}: an experiment of that name "
                             f"exists") from None

    def add_seconds(self, exp_id: int, seconds: float) -> None:
        from bo_hpo.store.schema import experiments

        with self._tx() as conn:
            conn.execute(experiments.update().where(experiments.c.id == exp_id).values(
                seconds_spent=experiments.c.seconds_spent + float(seconds),
                updated_at=time.time()))

    def add_space_version(self, exp_id: int, *, fingerprint: str, space: Mapping[str, Any],
                          spec: Mapping[str, Any], change: str,
                          defaults: Mapping[str, Any] | None = None) -> int:
        """Record a new version of the experiment's space; ``defaults`` are the values that
        carry the earlier trials into it (for the parameters it adds)."""
        from sqlalchemy import func, select

        from bo_hpo.store.schema import experiments, space_versions

        now = time.time()
        with self._tx() as conn:
            version = (conn.execute(select(func.max(space_versions.c.version)).where(
                space_versions.c.experiment_id == exp_id)).scalar() or 0) + 1
            conn.execute(space_versions.insert().values(
                experiment_id=exp_id, version=version, fingerprint=fingerprint,
                space=_dumps(space), change=change, created_at=now,
                defaults=None if defaults is None else _dumps(defaults)))
            conn.execute(experiments.update().where(experiments.c.id == exp_id).values(
                fingerprint=fingerprint, space_version=version, spec=_dumps(spec),
                updated_at=now))
        return version

    def space_versions(self, exp_id: int) -> list[dict[str, Any]]:
        from sqlalchemy import select

        from bo_hpo.store.schema import space_versions

        with self._tx() as conn:
            rows = conn.execute(select(space_versions).where(
                space_versions.c.experiment_id == exp_id).order_by(
                space_versions.c.version)).all()
        return [{"version": r.version, "fingerprint": r.fingerprint, "space": _loads(r.space),
                 "change": r.change, "created_at": r.created_at,
                 "defaults": _loads(r.defaults) or {}} for r in rows]

    # ------------------------------------------------------------------ trials
    def add_trial(self, exp_id: int, record: TrialRecord, *, owner: Owner | None = None,
                  space_version: int | None = None) -> int:
        """Insert a trial (``running`` with a heartbeat, or already final such as
        ``invalid``). Its number is the record's, or the next free one when the record's
        is taken (several processes asking at once); returns the number used."""
        from sqlalchemy import func, select
        from sqlalchemy.exc import IntegrityError

        from bo_hpo.store.schema import trials

        values = self._trial_values(record)
        now = time.time()
        values.update(experiment_id=exp_id, owner=str(owner) if owner else None,
                      heartbeat_at=now if record.status == "running" else None,
                      space_version=space_version)
        number = record.trial
        for _ in range(50):
            try:
                with self._tx() as conn:
                    taken = conn.execute(select(func.max(trials.c.number)).where(
                        trials.c.experiment_id == exp_id)).scalar()
                    if taken is not None and number <= taken and conn.execute(
                        select(trials.c.id).where(trials.c.experiment_id == exp_id,
                                                  trials.c.number == number)
                    ).first() is not None:
                        number = taken + 1
                    conn.execute(trials.insert().values(number=number, **values))
                return number
            except IntegrityError:  # another process took the number between our two reads
                continue
        raise StoreError(f"could not insert a trial into {self.display_url!r}: trial numbers "
                         f"kept colliding")

    @staticmethod
    def _trial_values(r: TrialRecord) -> dict[str, Any]:
        return {
            "status": r.status, "config": _dumps(r.config), "is_baseline": bool(r.is_baseline),
            "mean": _num(r.mean), "sem": _num(r.sem),
            "metrics": _dumps(r.metrics) if r.metrics else None,
            "meta": _dumps(r.metadata) if r.metadata else None,
            "reason": r.reason, "detail": r.detail, "generator": r.generator,
            "fallback": r.fallback, "proposal_seconds": _num(r.proposal_seconds),
            "eval_seconds": _num(r.eval_seconds), "started_at": r.started_at,
            "ended_at": r.ended_at, "night": r.night, "retry_of": r.retry_of,
            "predicted_mean": _num(r.predicted_mean), "predicted_sem": _num(r.predicted_sem),
            "worker": r.worker,
        }

    def finish_trial(self, exp_id: int, record: TrialRecord) -> None:
        """Write a trial's final state (the moment it ends)."""
        from bo_hpo.store.schema import trials

        if record.status not in FINAL_STATUSES:
            raise ValueError(f"finish_trial needs a final status, got {record.status!r}")
        values = self._trial_values(record)
        values["heartbeat_at"] = None
        with self._tx() as conn:
            done = conn.execute(trials.update().where(
                trials.c.experiment_id == exp_id, trials.c.number == record.trial,
            ).values(**values)).rowcount
        if done != 1:
            raise StoreError(f"trial {record.trial} of experiment {exp_id} is not in the store")

    def set_predictions(self, exp_id: int, predictions: Mapping[int, tuple[float, float]]) -> None:
        from sqlalchemy import bindparam

        from bo_hpo.store.schema import trials

        if not predictions:
            return
        statement = trials.update().where(
            trials.c.experiment_id == exp_id, trials.c.number == bindparam("n"),
        ).values(predicted_mean=bindparam("pm"), predicted_sem=bindparam("ps"))
        with self._tx() as conn:
            conn.execute(statement, [{"n": n, "pm": _num(m), "ps": _num(s)}
                                     for n, (m, s) in predictions.items()])

    def heartbeat(self, exp_id: int, owner: Owner, numbers: list[int] | None = None) -> None:
        """Renew the lease held by ``owner`` and the heartbeat of its running trials."""
        from bo_hpo.store.schema import leases, trials

        now = time.time()
        with self._tx() as conn:
            conn.execute(leases.update().where(
                leases.c.experiment_id == exp_id, leases.c.owner == str(owner),
            ).values(heartbeat_at=now))
            conn.execute(trials.update().where(
                trials.c.experiment_id == exp_id, trials.c.owner == str(owner),
                trials.c.status == "running",
            ).values(heartbeat_at=now))

    def trials(self, exp_id: int) -> list[TrialRecord]:
        from sqlalchemy import select

        from bo_hpo.store.schema import trials

        with self._tx() as conn:
            rows = conn.execute(select(trials).where(trials.c.experiment_id == exp_id)
                                .order_by(trials.c.number)).all()
        return [self._record(row) for row in rows]

    @staticmethod
    def _record(row: Any) -> TrialRecord:
        m = row._mapping
        metrics = _loads(m["metrics"]) or {}
        return TrialRecord(
            trial=m["number"], config=_loads(m["config"]), status=m["status"],
            generator=m["generator"], is_baseline=bool(m["is_baseline"]), mean=m["mean"],
            sem=m["sem"], reason=m["reason"], detail=m["detail"],
            proposal_seconds=m["proposal_seconds"] or 0.0,
            eval_seconds=m["eval_seconds"] or 0.0, started_at=m["started_at"],
            ended_at=m["ended_at"],
            metrics={k: (v[0], v[1]) if isinstance(v, list) else v for k, v in metrics.items()},
            metadata=_loads(m["meta"]) or {}, fallback=m["fallback"], night=m["night"],
            retry_of=m["retry_of"], predicted_mean=m["predicted_mean"],
            predicted_sem=m["predicted_sem"], worker=m["worker"],
        )

    def running_trials(self, exp_id: int) -> list[dict[str, Any]]:
        from sqlalchemy import select

        from bo_hpo.store.schema import trials

        with self._tx() as conn:
            rows = conn.execute(select(trials.c.number, trials.c.owner, trials.c.heartbeat_at,
                                       trials.c.started_at).where(
                trials.c.experiment_id == exp_id, trials.c.status == "running")).all()
        return [{"trial": r.number, "owner": r.owner, "heartbeat_at": r.heartbeat_at,
                 "started_at": r.started_at} for r in rows]

    def interrupt_orphans(self, exp_id: int, stale_after: float = STALE_AFTER) -> list[int]:
        """Mark ``interrupted`` every running trial whose owner is gone; returns them."""
        from bo_hpo.store.schema import trials

        gone = []
        for t in self.running_trials(exp_id):
            if t["owner"] is None:  # asked from outside (ask/tell): nobody to outlive it
                continue
            host, pid = Owner.parse(t["owner"])
            if owner_gone(host, pid, t["heartbeat_at"], stale_after):
                gone.append(t)
        if not gone:
            return []
        now = time.time()
        with self._tx() as conn:
            for t in gone:
                conn.execute(trials.update().where(
                    trials.c.experiment_id == exp_id, trials.c.number == t["trial"],
                    trials.c.status == "running",
                ).values(status="interrupted", reason="interrupted", ended_at=now,
                         detail=f"its process ({t['owner']}) stopped while it ran",
                         heartbeat_at=None))
        return [t["trial"] for t in gone]

    # ------------------------------------------------------------------ steps
    def add_step(self, exp_id: int, number: int, step: int, value: float) -> None:
        """Record an intermediate value (a learning-curve point) of a trial."""
        from sqlalchemy import select

        from bo_hpo.store.schema import trial_steps, trials

        with self._tx() as conn:
            trial_id = conn.execute(select(trials.c.id).where(
                trials.c.experiment_id == exp_id, trials.c.number == number)).scalar()
            if trial_id is None:
                raise StoreError(f"trial {number} of experiment {exp_id} is not in the store")
            done = conn.execute(trial_steps.update().where(
                trial_steps.c.trial_id == trial_id, trial_steps.c.step == int(step),
            ).values(value=_num(value), recorded_at=time.time())).rowcount
            if not done:  # a step reported again (a resumed evaluator) keeps the latest value
                conn.execute(trial_steps.insert().values(
                    trial_id=trial_id, step=int(step), value=_num(value),
                    recorded_at=time.time()))

    def steps(self, exp_id: int, number: int) -> list[tuple[int, float | None]]:
        from sqlalchemy import select

        from bo_hpo.store.schema import trial_steps, trials

        with self._tx() as conn:
            rows = conn.execute(
                select(trial_steps.c.step, trial_steps.c.value)
                .join(trials, trials.c.id == trial_steps.c.trial_id)
                .where(trials.c.experiment_id == exp_id, trials.c.number == number)
                .order_by(trial_steps.c.step)).all()
        return [(r.step, r.value) for r in rows]

    # ------------------------------------------------------------------ nights
    def start_night(self, exp_id: int) -> int:
        from sqlalchemy import func, select

        from bo_hpo.store.schema import nights

        with self._tx() as conn:
            number = (conn.execute(select(func.max(nights.c.number)).where(
                nights.c.experiment_id == exp_id)).scalar() or 0) + 1
            conn.execute(nights.insert().values(experiment_id=exp_id, number=number,
                                                status="running", started_at=time.time()))
        return number

    def end_night(self, exp_id: int, number: int, *, status: str, **values: Any) -> None:
        from bo_hpo.store.schema import nights

        if values.get("recommended_config") is not None:
            values["recommended_config"] = _dumps(values["recommended_config"])
        for key in ("best_before", "best_after", "improvement", "predicted_mean",
                    "predicted_sem"):
            if key in values:
                values[key] = _num(values[key])
        with self._tx() as conn:
            conn.execute(nights.update().where(
                nights.c.experiment_id == exp_id, nights.c.number == number,
            ).values(status=status, ended_at=time.time(), **values))

    def interrupt_nights(self, exp_id: int) -> None:
        """Nights still ``running`` when a new run takes the lease were killed."""
        from bo_hpo.store.schema import nights

        with self._tx() as conn:
            conn.execute(nights.update().where(
                nights.c.experiment_id == exp_id, nights.c.status == "running",
            ).values(status="interrupted", detail="the process stopped before the night ended"))

    def nights(self, exp_id: int) -> list[NightInfo]:
        from sqlalchemy import select

        from bo_hpo.store.schema import nights

        with self._tx() as conn:
            rows = conn.execute(select(nights).where(nights.c.experiment_id == exp_id)
                                .order_by(nights.c.number)).all()
        out = []
        for r in rows:
            m = r._mapping
            out.append(NightInfo(
                number=m["number"], status=m["status"], started_at=m["started_at"],
                ended_at=m["ended_at"], n_trials=m["n_trials"], best_before=m["best_before"],
                best_after=m["best_after"], improvement=m["improvement"],
                recommended_trial=m["recommended_trial"],
                recommended_config=_loads(m["recommended_config"]),
                predicted_mean=m["predicted_mean"], predicted_sem=m["predicted_sem"],
                recommendation_changed=m["recommendation_changed"], detail=m["detail"],
            ))
        return out

    # ------------------------------------------------------------------ leases
    def acquire_lease(self, exp_id: int, owner: Owner, stale_after: float = STALE_AFTER) -> None:
        """Take the experiment's lease, or raise :class:`LockedError` naming the holder.

        A lease whose holder is gone (dead pid on this host, or no heartbeat for
        ``stale_after`` seconds) is taken over. The take-over is one conditional UPDATE, so
        of two processes racing for a stale lease exactly one wins.
        """
        from sqlalchemy import select

        from bo_hpo.store.schema import leases

        with self._tx() as conn:
            row = conn.execute(select(leases).where(leases.c.experiment_id == exp_id)).first()
            if row is None:
                conn.execute(leases.insert().values(experiment_id=exp_id))
                row = conn.execute(select(leases).where(leases.c.experiment_id == exp_id)).first()
        held_by = row.owner
        if held_by == str(owner):
            return
        if held_by is not None and not owner_gone(row.host, row.pid, row.heartbeat_at,
                                                  stale_after):
            raise LockedError(
                f"experiment is locked by another run (pid {row.pid} on {row.host}, "
                f"heartbeat {time.time() - (row.heartbeat_at or 0):.0f} s ago)",
                holder={"owner": held_by, "host": row.host, "pid": row.pid,
                        "heartbeat_at": row.heartbeat_at, "acquired_at": row.acquired_at},
            )
        now = time.time()
        condition = (leases.c.owner.is_(None) if held_by is None
                     else leases.c.owner == held_by)
        with self._tx() as conn:
            won = conn.execute(leases.update().where(
                leases.c.experiment_id == exp_id, condition,
            ).values(owner=str(owner), host=owner.host, pid=owner.pid, acquired_at=now,
                     heartbeat_at=now)).rowcount
        if won != 1:
            raise LockedError("experiment is locked: another run took the lease a moment ago")
        if held_by is not None:
            logger.warning("took over a stale lease from %s", held_by)

    def release_lease(self, exp_id: int, owner: Owner) -> None:
        from bo_hpo.store.schema import leases

        with self._tx() as conn:
            conn.execute(leases.update().where(
                leases.c.experiment_id == exp_id, leases.c.owner == str(owner),
            ).values(owner=None, host=None, pid=None, acquired_at=None, heartbeat_at=None))

    def lease(self, exp_id: int) -> dict[str, Any] | None:
        from sqlalchemy import select

        from bo_hpo.store.schema import leases

        with self._tx() as conn:
            row = conn.execute(select(leases).where(leases.c.experiment_id == exp_id)).first()
        if row is None or row.owner is None:
            return None
        return {"owner": row.owner, "host": row.host, "pid": row.pid,
                "acquired_at": row.acquired_at, "heartbeat_at": row.heartbeat_at,
                "alive": not owner_gone(row.host, row.pid, row.heartbeat_at)}
