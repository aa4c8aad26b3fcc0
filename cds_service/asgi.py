"""The ASGI entry point uvicorn imports in each worker: `uvicorn cds_service.asgi:app`."""

from cds_service.app import create_app
from cds_service.logs import configure_logging
from cds_service.settings import get_settings

configure_logging(get_settings().log_level)
app = create_app()
