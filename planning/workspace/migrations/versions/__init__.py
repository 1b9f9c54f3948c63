"""Alembic revisions, oldest first: 0001 initial, 0002 adopted plans and decisions."""
