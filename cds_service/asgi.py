"""The ASGI entry point uvicorn imports in each worker: `uvicorn cds_service.asgi:app`."""

import gc

from cds_service.app import create_app
from cds_service.logs import configure_logging
from cds_service.settings import get_settings

configure_logging(get_settings().log_level)
app = create_app()
# Modules, schemas and the knowledge base live as long as the worker. Frozen, they are left out of every later
# collection, so a large request that sets the collector off pays for its own objects, not for the whole heap.
gc.freeze()
