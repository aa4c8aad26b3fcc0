"""The service's only state, in one SQL database: card feedback, cards shown, and the JWT replay table.

`schema` holds the tables, `migrations/` the Alembic history that makes them, `migrate` runs it at start-up.
"""

from cds_service.store import migrate
from cds_service.store.feedback import FeedbackStore, open_engine
from cds_service.store.migrate import SchemaError
from cds_service.store.schema import MAX_CARD_ID, MAX_TIMESTAMP

__all__ = ["MAX_CARD_ID", "MAX_TIMESTAMP", "FeedbackStore", "SchemaError", "migrate", "open_engine"]
