"""The store's tables, as SQLAlchemy Core metadata.

The migrations under ``migrations/versions`` create exactly these tables (a test compares
them); change both together, in a new migration. Times are Unix seconds (floats), JSON is
stored as text so that SQLite and PostgreSQL hold the same bytes.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

#: The table Alembic keeps the schema revision in (not Alembic's default name, so that a
#: shared PostgreSQL database can hold other applications' migrations too).
VERSION_TABLE = "bo_hpo_schema"

metadata = MetaData()

experiments = Table(
    "bo_hpo_experiments", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("source", String(20), nullable=False),  # "python" or "file"
    Column("spec", Text, nullable=False),  # JSON: the spec as given
    Column("fingerprint", String(64), nullable=False),
    Column("space_version", Integer, nullable=False),
    Column("versions", Text, nullable=False),  # JSON: package versions
    Column("device", String(100)),
    Column("seed", Integer),
    Column("minimize", Boolean, nullable=False),
    Column("status", String(20), nullable=False),
    Column("seconds_spent", Float, nullable=False),
    Column("summary", Text),  # JSON: the last recommendation, a cache rebuilt from trials
)

space_versions = Table(
    "bo_hpo_space_versions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("experiment_id", Integer, ForeignKey("bo_hpo_experiments.id", ondelete="CASCADE"),
           nullable=False, index=True),
    Column("version", Integer, nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("space", Text, nullable=False),  # JSON
    Column("change", Text),  # what changed from the previous version
    Column("defaults", Text),  # JSON: values that carry older trials into this version
    Column("created_at", Float, nullable=False),
    UniqueConstraint("experiment_id", "version", name="uq_space_version"),
)

trials = Table(
    "bo_hpo_trials", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("experiment_id", Integer, ForeignKey("bo_hpo_experiments.id", ondelete="CASCADE"),
           nullable=False, index=True),
    Column("number", Integer, nullable=False),
    Column("status", String(20), nullable=False),
    Column("config", Text, nullable=False),  # JSON
    Column("is_baseline", Boolean, nullable=False),
    Column("mean", Float),
    Column("sem", Float),
    Column("metrics", Text),  # JSON
    Column("meta", Text),  # JSON: the evaluation's metadata
    Column("reason", String(100)),
    Column("detail", Text),
    Column("generator", String(50), nullable=False),
    Column("fallback", Text),
    Column("proposal_seconds", Float),
    Column("eval_seconds", Float),
    Column("started_at", Float),
    Column("ended_at", Float),
    Column("heartbeat_at", Float),
    Column("owner", String(200)),
    Column("night", Integer),
    Column("retry_of", Integer),
    Column("predicted_mean", Float),
    Column("predicted_sem", Float),
    Column("worker", String(200)),
    Column("space_version", Integer),
    UniqueConstraint("experiment_id", "number", name="uq_trial_number"),
)

trial_steps = Table(
    "bo_hpo_trial_steps", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("trial_id", Integer, ForeignKey("bo_hpo_trials.id", ondelete="CASCADE"),
           nullable=False, index=True),
    Column("step", Integer, nullable=False),
    Column("value", Float),
    Column("recorded_at", Float, nullable=False),
    UniqueConstraint("trial_id", "step", name="uq_trial_step"),
)

nights = Table(
    "bo_hpo_nights", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("experiment_id", Integer, ForeignKey("bo_hpo_experiments.id", ondelete="CASCADE"),
           nullable=False, index=True),
    Column("number", Integer, nullable=False),
    Column("status", String(20), nullable=False),  # running, done, stopped, interrupted
    Column("started_at", Float, nullable=False),
    Column("ended_at", Float),
    Column("n_trials", Integer),
    Column("best_before", Float),
    Column("best_after", Float),
    Column("improvement", Float),
    Column("recommended_trial", Integer),
    Column("recommended_config", Text),  # JSON
    Column("predicted_mean", Float),
    Column("predicted_sem", Float),
    Column("recommendation_changed", Boolean),
    Column("detail", Text),
    UniqueConstraint("experiment_id", "number", name="uq_night_number"),
)

leases = Table(
    "bo_hpo_leases", metadata,
    Column("experiment_id", Integer, ForeignKey("bo_hpo_experiments.id", ondelete="CASCADE"),
           primary_key=True),
    Column("owner", String(200)),
    Column("host", String(200)),
    Column("pid", Integer),
    Column("acquired_at", Float),
    Column("heartbeat_at", Float),
)
