"""The ASGI entry point uvicorn imports in each worker: `uvicorn cds_service.asgi:app`."""

from cds_service.cli import worker_app

app = worker_app()
