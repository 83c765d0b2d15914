"""The first schema: experiments, space versions, trials, trial steps, nights, leases.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bo_hpo_experiments",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("spec", sa.Text, nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("space_version", sa.Integer, nullable=False),
        sa.Column("versions", sa.Text, nullable=False),
        sa.Column("device", sa.String(100)),
        sa.Column("seed", sa.Integer),
        sa.Column("minimize", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("seconds_spent", sa.Float, nullable=False),
        sa.Column("summary", sa.Text),
    )
    op.create_table(
        "bo_hpo_space_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("experiment_id", sa.Integer,
                  sa.ForeignKey("bo_hpo_experiments.id", ondelete="CASCADE"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("space", sa.Text, nullable=False),
        sa.Column("change", sa.Text),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.UniqueConstraint("experiment_id", "version", name="uq_space_version"),
    )
    op.create_index("ix_bo_hpo_space_versions_experiment_id", "bo_hpo_space_versions",
                    ["experiment_id"])
    op.create_table(
        "bo_hpo_trials",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("experiment_id", sa.Integer,
                  sa.ForeignKey("bo_hpo_experiments.id", ondelete="CASCADE"), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("config", sa.Text, nullable=False),
        sa.Column("is_baseline", sa.Boolean, nullable=False),
        sa.Column("mean", sa.Float),
        sa.Column("sem", sa.Float),
        sa.Column("metrics", sa.Text),
        sa.Column("meta", sa.Text),
        sa.Column("reason", sa.String(100)),
        sa.Column("detail", sa.Text),
        sa.Column("generator", sa.String(50), nullable=False),
        sa.Column("fallback", sa.Text),
        sa.Column("proposal_seconds", sa.Float),
        sa.Column("eval_seconds", sa.Float),
        sa.Column("started_at", sa.Float),
        sa.Column("ended_at", sa.Float),
        sa.Column("heartbeat_at", sa.Float),
        sa.Column("owner", sa.String(200)),
        sa.Column("night", sa.Integer),
        sa.Column("retry_of", sa.Integer),
        sa.Column("predicted_mean", sa.Float),
        sa.Column("predicted_sem", sa.Float),
        sa.Column("worker", sa.String(200)),
        sa.Column("space_version", sa.Integer),
        sa.UniqueConstraint("experiment_id", "number", name="uq_trial_number"),
    )
    op.create_index("ix_bo_hpo_trials_experiment_id", "bo_hpo_trials", ["experiment_id"])
    op.create_table(
        "bo_hpo_trial_steps",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("trial_id", sa.Integer,
                  sa.ForeignKey("bo_hpo_trials.id", ondelete="CASCADE"), nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("value", sa.Float),
        sa.Column("recorded_at", sa.Float, nullable=False),
        sa.UniqueConstraint("trial_id", "step", name="uq_trial_step"),
    )
    op.create_index("ix_bo_hpo_trial_steps_trial_id", "bo_hpo_trial_steps", ["trial_id"])
    op.create_table(
        "bo_hpo_nights",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("experiment_id", sa.Integer,
                  sa.ForeignKey("bo_hpo_experiments.id", ondelete="CASCADE"), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("ended_at", sa.Float),
        sa.Column("n_trials", sa.Integer),
        sa.Column("best_before", sa.Float),
        sa.Column("best_after", sa.Float),
        sa.Column("improvement", sa.Float),
        sa.Column("recommended_trial", sa.Integer),
        sa.Column("recommended_config", sa.Text),
        sa.Column("predicted_mean", sa.Float),
        sa.Column("predicted_sem", sa.Float),
        sa.Column("recommendation_changed", sa.Boolean),
        sa.Column("detail", sa.Text),
        sa.UniqueConstraint("experiment_id", "number", name="uq_night_number"),
    )
    op.create_index("ix_bo_hpo_nights_experiment_id", "bo_hpo_nights", ["experiment_id"])
    op.create_table(
        "bo_hpo_leases",
        sa.Column("experiment_id", sa.Integer,
                  sa.ForeignKey("bo_hpo_experiments.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("owner", sa.String(200)),
        sa.Column("host", sa.String(200)),
        sa.Column("pid", sa.Integer),
        sa.Column("acquired_at", sa.Float),
        sa.Column("heartbeat_at", sa.Float),
    )


def downgrade() -> None:
    for table in ("bo_hpo_leases", "bo_hpo_nights", "bo_hpo_trial_steps", "bo_hpo_trials",
                  "bo_hpo_space_versions", "bo_hpo_experiments"):
        op.drop_table(table)
