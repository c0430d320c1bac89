"""Alembic migrations of the catalog (run through :mod:`db.migrate`, no alembic.ini needed)."""
