"""Every table the service keeps, in one MetaData: the schema as the newest migration leaves it.

Migrations (migrations/versions) create and change these tables; nothing calls `create_all` at start-up. A new
column or table goes here and in a new migration; tests/test_migrations.py checks that the two agree.
"""

from sqlalchemy import JSON, Boolean, Column, DateTime, Float, Index, Integer, MetaData, String, Table, false

metadata = MetaData()

# Column sizes of what a client sends; the feedback request is held to them (protocol.feedback), so an entry that
# was accepted cannot then fail to store (PostgreSQL refuses longer values).
MAX_CARD_ID = 200
MAX_TIMESTAMP = 64

card_feedback = Table(
    "card_feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("entry_hash", String(64), nullable=False, unique=True),
    Column("service_id", String(200), nullable=False),
    Column("card_uuid", String(MAX_CARD_ID), nullable=False, index=True),
    Column("outcome", String(20), nullable=False),
    Column("accepted_suggestions", JSON, nullable=True),
    Column("override_reason", JSON, nullable=True),
    Column("outcome_timestamp", String(MAX_TIMESTAMP), nullable=True),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("entry", JSON, nullable=False),
    # Whether the entry still holds a free-text `overrideReason.userComment`: the comments to clear after
    # CDS_FEEDBACK_COMMENT_DAYS are found without reading every old entry.
    Column("has_user_comment", Boolean, nullable=False, server_default=false()),
)

# One row a card answered: what the committee's report counts as "shown". No patient data: the card's own uuid,
# which service answered, the card's topic (`source.topic.code`, a code the rules choose) and its indicator.
MAX_TOPIC = 100
cards_shown = Table(
    "cards_shown",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("card_uuid", String(MAX_CARD_ID), nullable=False, index=True),
    Column("service_id", String(200), nullable=False),
    Column("topic", String(MAX_TOPIC), nullable=False),
    Column("indicator", String(10), nullable=False),
    Column("shown_at", DateTime(timezone=True), nullable=False, index=True),
)
Index("ix_card_feedback_received_at", card_feedback.c.received_at)

seen_client_tokens = Table(
    "seen_client_tokens",
    metadata,
    Column("token_key", String(64), primary_key=True),  # sha256 of iss and jti: no token content is stored
    Column("forget_after", Float, nullable=False, index=True),
)
