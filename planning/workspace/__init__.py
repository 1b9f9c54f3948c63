"""The planning workspace: projects, dataset versions, ledger summaries, scenarios, audit log.

What enters: validated datasets, ledger *summaries* (township counts), siting results and
notes, each with the :class:`~planning.roles.Actor` acting. What leaves: the same, read back
from a real database (SQLite by default, PostgreSQL/PostGIS by URL), versioned so that a stale
writer is refused. Nothing patient-level is ever stored.
"""
