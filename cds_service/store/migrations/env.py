"""Alembic's environment: always run on the connection `cds_service.store.migrate` opened (and locked)."""

from alembic import context

from cds_service.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
