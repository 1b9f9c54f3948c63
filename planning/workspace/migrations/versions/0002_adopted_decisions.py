"""Adopted plans and decisions: ``scenarios.adopted`` and the ``decisions`` table.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``scenarios.adopted`` (existing rows: not adopted) and the ``decisions`` table."""
    with op.batch_alter_table("scenarios") as batch:
        batch.add_column(sa.Column("adopted", sa.Boolean, nullable=False,
                                   server_default=sa.false()))
    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("project_id", sa.Integer,
                  sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
    )


def downgrade() -> None:
    """Drop ``decisions`` and ``scenarios.adopted``."""
    op.drop_table("decisions")
    with op.batch_alter_table("scenarios") as batch:
        batch.drop_column("adopted")
