"""Alembic environment: migrations always run on the connection the store hands over
(``config.attributes["connection"]``), inside the store's own transaction and lock."""

from __future__ import annotations

from alembic import context

from bo_hpo.store.schema import VERSION_TABLE, metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - bo_hpo never runs migrations otherwise
    raise RuntimeError("bo_hpo migrations run through bo_hpo.store.open_store(), not the CLI")

context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copies the table
)
with context.begin_transaction():
    context.run_migrations()
