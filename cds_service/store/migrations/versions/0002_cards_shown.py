"""Cards shown (for the committee's report) and a marker of feedback that still holds a free-text comment.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cards_shown",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("card_uuid", sa.String(200), nullable=False),
        sa.Column("service_id", sa.String(200), nullable=False),
        sa.Column("topic", sa.String(100), nullable=False),
        sa.Column("indicator", sa.String(10), nullable=False),
        sa.Column("shown_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_cards_shown_card_uuid", "cards_shown", ["card_uuid"])
    op.create_index("ix_cards_shown_shown_at", "cards_shown", ["shown_at"])
    with op.batch_alter_table("card_feedback") as batch:
        batch.add_column(sa.Column("has_user_comment", sa.Boolean, nullable=False, server_default=sa.false()))
    op.create_index("ix_card_feedback_received_at", "card_feedback", ["received_at"])
    # Feedback stored before this revision: mark the entries that carry a comment, so retention clears them too.
    feedback = sa.table("card_feedback", sa.column("id", sa.Integer), sa.column("override_reason", sa.JSON),
                        sa.column("has_user_comment", sa.Boolean))
    connection = op.get_bind()
    rows = connection.execute(sa.select(feedback.c.id, feedback.c.override_reason)
                              .where(feedback.c.override_reason.is_not(None))).all()
    commented = [row.id for row in rows
                 if isinstance(row.override_reason, dict) and row.override_reason.get("userComment")]
    for start in range(0, len(commented), 500):
        connection.execute(sa.update(feedback).where(feedback.c.id.in_(commented[start:start + 500]))
                           .values(has_user_comment=True))


def downgrade() -> None:
    op.drop_index("ix_card_feedback_received_at", "card_feedback")
    with op.batch_alter_table("card_feedback") as batch:
        batch.drop_column("has_user_comment")
    op.drop_table("cards_shown")
