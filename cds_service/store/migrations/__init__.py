"""Alembic migrations of the store, shipped inside the package so an installed service can upgrade its database."""
