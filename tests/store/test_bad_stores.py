"""Stores that cannot be opened: each is a ``StoreError`` with a plain message, never another
exception type, never a changed file, never a password in what is shown.

SQLite-specific except the PostgreSQL ones: the unreachable server needs no server at all and
always runs; the real-server checks use ``$BO_HPO_TEST_POSTGRES_URL``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from bo_hpo.errors import StoreError
from bo_hpo.store import open_store

from .conftest import postgres_server_url

UNREACHABLE = "postgresql+psycopg://u:hunter2secret@127.0.0.1:1/db"
SQLITE_HEADER = b"SQLite format 3\x00"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_hidden(secret: str, err: BaseException, *shown: str) -> None:
    texts = [str(err), repr(err), *map(str, err.args), *shown]
    for text in texts:
        assert secret not in text, text


# ------------------------------------------------------------------ SQLite
def test_random_bytes_file_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    data = os.urandom(8192)
    if data.startswith(SQLITE_HEADER[:1]):  # keep it unmistakably not SQLite
        data = b"x" + data[1:]
    path.write_bytes(data)
    with pytest.raises(StoreError, match="not a SQLite database") as err:
        open_store(f"sqlite:///{path}")
    assert "corrupted" in str(err.value)
    assert path.read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.db"]  # no -wal, no -journal


def test_sqlite_header_with_garbage_is_reported_corrupted_untouched(tmp_path: Path) -> None:
    path = tmp_path / "broken.db"
    path.write_bytes(SQLITE_HEADER + os.urandom(8192))
    digest = sha256(path)
    with pytest.raises(StoreError, match="corrupted"):
        open_store(f"sqlite:///{path}")
    assert sha256(path) == digest


def test_directory_path_is_refused(tmp_path: Path) -> None:
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(StoreError, match="directory"):
        open_store(f"sqlite:///{tmp_path / 'dir.db'}")
    assert list((tmp_path / "dir.db").iterdir()) == []


@pytest.mark.parametrize("path", ["/proc/bo_hpo_test/x.db", "/proc/bo_hpo_test.db"])
def test_unwritable_location_is_a_store_error(path: str) -> None:
    # /proc refuses new files even to root, so this holds whoever runs the tests.
    with pytest.raises(StoreError) as err:
        open_store(f"sqlite:///{path}")
    assert path.rsplit("/", 1)[0] in str(err.value)
    assert not os.path.exists(path)


@pytest.mark.parametrize("url", [
    "nonsense://",
    "sqlite",
    "",
    42,
    "mysql://u:p@localhost/db",
])
def test_malformed_url_is_a_store_error(url: Any) -> None:
    with pytest.raises(StoreError):
        open_store(url)


@pytest.mark.parametrize("url", ["sqlite:///:memory:", "sqlite:///", "sqlite://"])
def test_an_in_memory_sqlite_store_is_refused(url: str) -> None:
    """It would keep nothing (and each pooled connection would see its own database)."""
    with pytest.raises(StoreError, match="names no file: an in-memory SQLite database"):
        open_store(url)


# ------------------------------------------------------------------ PostgreSQL
@pytest.mark.parametrize(("url", "fix"), [
    ("postgresql+psycopg2://u:hunter2secret@127.0.0.1:1/db", "write postgresql+psycopg://"),
    ("postgres://u:hunter2secret@127.0.0.1:1/db", "write postgresql+psycopg://"),
    ("postgresql+psycopg://u:hunter2secret@127.0.0.1:abc/db", "its port is not a number"),
    ("postgresql+psycopg://u:hunter2secret@127.0.0.1:1/db?bogusopt=1",
     'invalid connection option "bogusopt"'),
    ("postgresql+psycopg://u@127.0.0.1:1/db?password=hunter2secret", "?password=***"),
])
def test_a_wrong_postgres_url_says_what_to_write(url: str, fix: str) -> None:
    """Another driver's scheme, a bad port, an option libpq does not know (a traceback
    before) or a password in the query (printed before): a StoreError with the fix, and
    the password hidden."""
    with pytest.raises(StoreError) as err:
        open_store(url)
    assert fix in str(err.value)
    assert_hidden("hunter2secret", err.value)


def test_unreachable_postgres_is_a_store_error_without_the_password() -> None:
    with pytest.raises(StoreError) as err:
        open_store(UNREACHABLE)
    assert "***" in str(err.value)
    assert "127.0.0.1:1" in str(err.value)
    assert_hidden("hunter2secret", err.value)


@pytest.mark.postgres
def test_wrong_password_on_the_real_server_is_not_shown(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = make_url(postgres_server_url()).set(password="hunter2secret")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(StoreError) as err:
        open_store(url.render_as_string(hide_password=False))
    assert "***" in str(err.value)
    assert_hidden("hunter2secret", err.value, caplog.text)


@pytest.mark.postgres
def test_real_password_never_shown(caplog: pytest.LogCaptureFixture, postgres_url: str) -> None:
    password = make_url(postgres_url).password
    if not password:
        pytest.skip("the test server's URL has no password to leak")
    caplog.set_level(logging.DEBUG)

    store = open_store(postgres_url)  # a fresh database: migrated, and logged as such
    try:
        assert "***" in store.display_url
        assert password not in store.display_url and password not in repr(store.engine)
    finally:
        store.close()

    missing = make_url(postgres_url).set(database=f"bo_hpo_missing_{uuid.uuid4().hex}")
    with pytest.raises(StoreError) as err:
        open_store(missing.render_as_string(hide_password=False))
    assert "does not exist" in str(err.value)
    assert_hidden(password, err.value, caplog.text)
