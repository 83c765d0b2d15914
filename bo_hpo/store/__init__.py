"""Durable experiments: every trial, night and lease in a SQL database.

``open_store(url)`` opens (creating and migrating when needed) a store:

- ``sqlite:///path/file.db``: the embedded default, a file, no server;
- ``postgresql+psycopg://user:password@host/db``: for teams (``pip install 'bo-hpo[postgres]'``).

The trial records are the source of truth; the proposer's state is rebuilt from them on
resume. A URL's password is never printed: use :func:`redact` for anything shown.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from bo_hpo.errors import NotFoundError, StoreError
from bo_hpo.store.sql import (
    HEARTBEAT_INTERVAL,
    STALE_AFTER,
    ExperimentInfo,
    NightInfo,
    Owner,
    SQLStore,
    owner_gone,
    redact,
)

__all__ = [
    "DEFAULT_STORE", "ExperimentInfo", "Heartbeat", "NightInfo", "Owner", "SQLStore",
    "STALE_AFTER", "Store", "default_store_url", "open_store", "owner_gone", "redact",
]

Store = SQLStore

#: Where the command line keeps experiments unless ``--store`` or ``BO_HPO_STORE`` says.
DEFAULT_STORE = "sqlite:///reports/bo_hpo.db"


def default_store_url() -> str:
    return os.environ.get("BO_HPO_STORE") or DEFAULT_STORE


def open_store(url: str | SQLStore | None = None, *, create: bool = True) -> SQLStore:
    """Open the store at ``url`` (``None``: ``$BO_HPO_STORE`` or the default file).

    ``create=False`` (what only reads: status, list, report, load) refuses a SQLite file
    that does not exist instead of creating it and its directory.

    Raises:
        NotFoundError: the SQLite file is missing and ``create=False`` (a
            :class:`StoreError`).
        StoreError: the URL is malformed, the server unreachable, the file corrupted or
            read-only, or the schema newer than this bo_hpo (nothing is changed then).
    """
    if isinstance(url, SQLStore):
        return url
    if url is None:
        url = default_store_url()
    if not isinstance(url, str) or not url.strip():
        raise StoreError(f"store must be a non-empty URL string, got {url!r}"
                         if isinstance(url, str) else
                         f"store must be a URL string, got {type(url).__name__}")
    try:
        from sqlalchemy.engine import make_url

        make_url(url)
    except Exception as err:  # its text may hold the password: only the port's case is named
        why = " (its port is not a number)" if "int()" in str(err) else ""
        raise StoreError(
            f"store URL is malformed{why}; expected sqlite:///path/to/file.db or "
            "postgresql+psycopg://user:password@host:5432/database"
        ) from None
    missing = None if create else missing_sqlite_file(url)
    if missing is not None:
        raise NotFoundError(f"no store at {str(missing)!r}: nothing has run with this store "
                         f"yet (--store or $BO_HPO_STORE names another)")
    return SQLStore(url)


def missing_sqlite_file(url: str) -> Path | None:
    """The file of a SQLite ``url`` when it does not exist yet, else ``None`` (another
    backend, an in-memory database, or the file is there)."""
    if not url.startswith("sqlite"):
        return None
    try:
        from sqlalchemy.engine import make_url

        database = make_url(url).database
    except Exception:  # noqa: BLE001 - the store's own opening reports a bad URL
        return None
    if not database or database == ":memory:":
        return None
    path = Path(database)
    return None if path.exists() else path


def log_path(url: str, name: str) -> Path:
    """Where a scheduled job's log goes: next to a SQLite store, else under ``reports/``."""
    if url.startswith("sqlite"):
        from sqlalchemy.engine import make_url

        database = make_url(url).database
        if database and database != ":memory:":
            return Path(database).resolve().parent / "logs" / f"{name}.log"
    return Path("reports").resolve() / "logs" / f"{name}.log"


class Heartbeat:
    """A daemon thread that renews ``owner``'s lease and running trials every ``interval``
    seconds until stopped. A failed beat is logged, never raised: the run goes on and a
    later beat may succeed."""

    def __init__(self, store: SQLStore, exp_id: int, owner: Owner,
                 interval: float = HEARTBEAT_INTERVAL) -> None:
        self.store, self.exp_id, self.owner, self.interval = store, exp_id, owner, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bo_hpo-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        import logging

        while not self._stop.wait(self.interval):
            try:
                self.store.heartbeat(self.exp_id, self.owner)
            except Exception as err:  # noqa: BLE001 - logged; the next beat may succeed
                logging.getLogger(__name__).warning("heartbeat failed: %s", err)
