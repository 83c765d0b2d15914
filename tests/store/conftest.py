"""Fixtures of the store contract tests: one store URL per backend, a fresh database each.

``store_url`` runs every test on SQLite (a new file under ``tmp_path``) and on PostgreSQL
(a new database ``bo_hpo_test_<hex>`` on the server at ``$BO_HPO_TEST_POSTGRES_URL``, dropped
afterwards). Without that variable the PostgreSQL half is skipped, except under ``$CI``,
where a missing server is a failure: CI must never pass by skipping the second backend.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from bo_hpo.store import SQLStore, open_store

POSTGRES_ENV = "BO_HPO_TEST_POSTGRES_URL"


def postgres_server_url() -> str:
    """The test server's URL, or skip (fail under ``$CI``) when it is not configured."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        if os.environ.get("CI"):
            pytest.fail(f"{POSTGRES_ENV} is not set in CI")
        pytest.skip(f"{POSTGRES_ENV} is not set (eval \"$(bash .ci/postgres.sh)\")")
    return url


@pytest.fixture(scope="session")
def _postgres_admin() -> Iterator[Any]:
    """An AUTOCOMMIT engine on the server's ``postgres`` database (CREATE/DROP DATABASE)."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    url = make_url(postgres_server_url()).set(database="postgres")
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_url(_postgres_admin: Any) -> Iterator[str]:
    """The URL of a fresh, empty PostgreSQL database, dropped after the test."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    name = f"bo_hpo_test_{uuid.uuid4().hex}"
    with _postgres_admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(postgres_server_url()).set(database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with _postgres_admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=[
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
])
def store_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """A URL of an empty store: a new SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def store(store_url: str) -> Iterator[SQLStore]:
    """The store at ``store_url``, opened (and so migrated) and closed after the test."""
    st = open_store(store_url)
    try:
        yield st
    finally:
        st.close()
