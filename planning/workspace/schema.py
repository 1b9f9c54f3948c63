"""The workspace schema at head, as SQLAlchemy Core tables (one schema, two backends).

Geometry is a PostGIS ``geometry(Geometry, 4326)`` column on PostgreSQL and WKB in a BLOB on
SQLite (:class:`Geom`); everything else is portable SQL types. The Alembic revisions in
``planning/workspace/migrations/versions`` build exactly these tables; a test checks that the
migrated database and this module agree.

Tables
------
``projects``
    Named planning projects with an optimistic-lock ``version``.
``dataset_versions`` / ``features``
    Numbered versions of a project's layers (districts, units, facilities) with the import
    mapping used; one row per feature, attributes as JSON, geometry in ``geom``.
``ledger_snapshots`` / ``ledger_counts``
    Dated ledger summaries: township counts only (never patient rows), stored unsuppressed.
``scenarios``
    Saved siting runs: model, parameters, KPIs and the full result document; ``adopted`` marks
    the plan the project adopted.
``decisions``
    Decisions and notes.
``audit_log``
    Who did what to which project and when, including refusals. No patient data.
"""

from __future__ import annotations

from typing import Any

import shapely
from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

SRID = 4326


class Geom(TypeDecorator):
    """A shapely geometry: PostGIS ``geometry(Geometry, 4326)`` or WKB bytes on SQLite."""

    impl = LargeBinary
    cache_ok = True
    spatial_index = False  # the migration creates the GiST index itself
    use_N_D_index = False

    def load_dialect_impl(self, dialect: Any) -> Any:
        """Choose the column type: PostGIS ``GEOMETRY`` on PostgreSQL, a WKB blob elsewhere."""
        if dialect is None:  # geoalchemy2's DDL hooks probe the type without a dialect
            return LargeBinary()
        if getattr(dialect, "name", None) == "postgresql":
            return dialect.type_descriptor(
                Geometry(geometry_type="GEOMETRY", srid=SRID, spatial_index=False))
        return dialect.type_descriptor(LargeBinary())

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        """Encode a shapely geometry (EPSG:4326) as WKB for the database."""
        if value is None:
            return None
        wkb = shapely.to_wkb(value)
        if dialect.name == "postgresql":
            return WKBElement(wkb, srid=SRID)
        return wkb

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        """Decode a stored geometry (WKB bytes, hex text or a PostGIS element) to shapely."""
        if value is None:
            return None
        if isinstance(value, WKBElement):
            data = value.data
            return shapely.from_wkb(bytes.fromhex(data) if isinstance(data, str) else bytes(data))
        if isinstance(value, str):
            return shapely.from_wkb(bytes.fromhex(value))
        return shapely.from_wkb(bytes(value))


metadata = MetaData()

projects = Table(
    "projects", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("description", Text, nullable=False, default=""),
    Column("version", Integer, nullable=False, default=1),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(200), nullable=False),
)

dataset_versions = Table(
    "dataset_versions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project_id", Integer, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("name", String(200), nullable=False),
    Column("token", String(32), nullable=False),
    Column("meta", Text, nullable=False),  # JSON: synthetic, sources, data_date, layer dtypes
    Column("mapping", Text, nullable=False, default="{}"),  # JSON: import mapping used
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(200), nullable=False),
    UniqueConstraint("project_id", "number", name="uq_dataset_version_number"),
)

features = Table(
    "features", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dataset_version_id", Integer,
           ForeignKey("dataset_versions.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("layer", String(32), nullable=False),
    Column("row_no", Integer, nullable=False),
    Column("props", Text, nullable=False),
    Column("geom", Geom, nullable=True),
)

ledger_snapshots = Table(
    "ledger_snapshots", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project_id", Integer, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("report_date", Date, nullable=False),
    Column("dataset_version_id", Integer, ForeignKey("dataset_versions.id"), nullable=True),
    Column("source", String(300), nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(200), nullable=False),
    UniqueConstraint("project_id", "report_date", name="uq_snapshot_date"),
)

ledger_counts = Table(
    "ledger_counts", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("snapshot_id", Integer, ForeignKey("ledger_snapshots.id", ondelete="CASCADE"),
           nullable=False, index=True),
    Column("unit_id", String(64), nullable=False),
    Column("patients", Integer, nullable=True),
    Column("patients_served", Integer, nullable=True),
    Column("eligible", Integer, nullable=True),
    Column("extra", Text, nullable=False, default="{}"),  # JSON: other township counts
)

scenarios = Table(
    "scenarios", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project_id", Integer, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("model", String(64), nullable=False),
    Column("district", String(100), nullable=True),
    Column("params", Text, nullable=False),  # JSON
    Column("kpis", Text, nullable=False),  # JSON {indicator: {before, after}}
    Column("objective", Float, nullable=True),
    Column("status", String(32), nullable=False),
    Column("document", Text, nullable=False),  # the full portable scenario document (JSON)
    Column("dataset_token", String(32), nullable=False, default=""),
    Column("version", Integer, nullable=False, default=1),
    Column("adopted", Boolean, nullable=False, default=False),  # revision 0002
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("updated_by", String(200), nullable=False),
    UniqueConstraint("project_id", "name", name="uq_scenario_name"),
)

decisions = Table(  # revision 0002
    "decisions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project_id", Integer, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("text", Text, nullable=False),
    Column("kind", String(32), nullable=False, default="note"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(200), nullable=False),
)

audit_log = Table(
    "audit_log", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("role", String(32), nullable=False),
    Column("action", String(64), nullable=False),
    Column("project", String(200), nullable=True),
    Column("target", String(300), nullable=False, default=""),
    Column("outcome", String(32), nullable=False),
    Column("detail", Text, nullable=False, default=""),
)
