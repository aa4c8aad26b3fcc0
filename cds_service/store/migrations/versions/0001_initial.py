"""The schema as it was before migrations: card feedback and the client-token replay table.

A database made then (by `create_all` at start-up) already has some of these tables: the feedback table always,
the replay table only once client authentication had been on. Tables that exist are kept with their rows, after a
check that their columns are the ones created then; the missing ones are created.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from cds_service.store.migrate import SchemaError

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

FEEDBACK_COLUMNS = {
    "id", "entry_hash", "service_id", "card_uuid", "outcome", "accepted_suggestions", "override_reason",
    "outcome_timestamp", "received_at", "entry",
}
TOKEN_COLUMNS = {"token_key", "forget_after"}


def _existing(inspector: sa.Inspector, table: str, expected: set[str]) -> bool:
    """Whether `table` is there already; refused when it is, but is not the table this revision describes."""
    if not inspector.has_table(table):
        return False
    found = {column["name"] for column in inspector.get_columns(table)}
    if found != expected:
        raise SchemaError(f"table {table} exists but its columns are not the service's ({', '.join(sorted(found))})")
    return True


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if not _existing(inspector, "card_feedback", FEEDBACK_COLUMNS):
        op.create_table(
            "card_feedback",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("entry_hash", sa.String(64), nullable=False, unique=True),
            sa.Column("service_id", sa.String(200), nullable=False),
            sa.Column("card_uuid", sa.String(200), nullable=False),
            sa.Column("outcome", sa.String(20), nullable=False),
            sa.Column("accepted_suggestions", sa.JSON, nullable=True),
            sa.Column("override_reason", sa.JSON, nullable=True),
            sa.Column("outcome_timestamp", sa.String(64), nullable=True),
            sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("entry", sa.JSON, nullable=False),
        )
        op.create_index("ix_card_feedback_card_uuid", "card_feedback", ["card_uuid"])
    if not _existing(inspector, "seen_client_tokens", TOKEN_COLUMNS):
        op.create_table(
            "seen_client_tokens",
            sa.Column("token_key", sa.String(64), primary_key=True),
            sa.Column("forget_after", sa.Float, nullable=False),
        )
        op.create_index("ix_seen_client_tokens_forget_after", "seen_client_tokens", ["forget_after"])


def downgrade() -> None:
    op.drop_table("seen_client_tokens")
    op.drop_table("card_feedback")
