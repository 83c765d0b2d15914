"""Space versions keep the values that carry older trials into them.

A compatible change that adds a parameter carries the earlier trials into the new space
with a value for it (the baseline's, or the value it used to be fixed at). Those values
were only known to the run that made the change, so a later `load`, `ask`, or a run
without the same baseline could not read the earlier trials. Rows written before this
revision have none (NULL): readers fall back to the experiment's baseline.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("bo_hpo_space_versions", sa.Column("defaults", sa.Text))  # JSON


def downgrade() -> None:
    with op.batch_alter_table("bo_hpo_space_versions") as batch:
        batch.drop_column("defaults")
