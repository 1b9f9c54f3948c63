"""Initial workspace schema: projects, dataset versions, ledger snapshots, scenarios, audit log.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from planning.workspace.schema import Geom

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the version-1 tables (and the PostGIS extension on PostgreSQL)."""
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table(
        "projects",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
    )
    op.create_table(
        "dataset_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("project_id", sa.Integer,
                  sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("token", sa.String(32), nullable=False),
        sa.Column("meta", sa.Text, nullable=False),
        sa.Column("mapping", sa.Text, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.UniqueConstraint("project_id", "number", name="uq_dataset_version_number"),
    )
    op.create_table(
        "features",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("dataset_version_id", sa.Integer,
                  sa.ForeignKey("dataset_versions.id", ondelete="CASCADE"), nullable=False),
        sa.Column("layer", sa.String(32), nullable=False),
        sa.Column("row_no", sa.Integer, nullable=False),
        sa.Column("props", sa.Text, nullable=False),
        sa.Column("geom", Geom, nullable=True),
    )
    op.create_index("ix_features_dataset_version_id", "features", ["dataset_version_id"])
    if postgres:
        op.create_index("ix_features_geom", "features", ["geom"], postgresql_using="gist")
    op.create_table(
        "ledger_snapshots",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("project_id", sa.Integer,
                  sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
        sa.Column("report_date", sa.Date, nullable=False),
        sa.Column("dataset_version_id", sa.Integer, sa.ForeignKey("dataset_versions.id"),
                  nullable=True),
        sa.Column("source", sa.String(300), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.UniqueConstraint("project_id", "report_date", name="uq_snapshot_date"),
    )
    op.create_table(
        "ledger_counts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("snapshot_id", sa.Integer,
                  sa.ForeignKey("ledger_snapshots.id", ondelete="CASCADE"), nullable=False),
        sa.Column("unit_id", sa.String(64), nullable=False),
        sa.Column("patients", sa.Integer, nullable=True),
        sa.Column("patients_served", sa.Integer, nullable=True),
        sa.Column("eligible", sa.Integer, nullable=True),
        sa.Column("extra", sa.Text, nullable=False),
    )
    op.create_index("ix_ledger_counts_snapshot_id", "ledger_counts", ["snapshot_id"])
    op.create_table(
        "scenarios",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("project_id", sa.Integer,
                  sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("district", sa.String(100), nullable=True),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("kpis", sa.Text, nullable=False),
        sa.Column("objective", sa.Float, nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("dataset_token", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.UniqueConstraint("project_id", "name", name="uq_scenario_name"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", _TS, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("project", sa.String(200), nullable=True),
        sa.Column("target", sa.String(300), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )


def downgrade() -> None:
    """Drop every version-1 table."""
    for name in ("audit_log", "scenarios", "ledger_counts", "ledger_snapshots", "features",
                 "dataset_versions", "projects"):
        op.drop_table(name)
