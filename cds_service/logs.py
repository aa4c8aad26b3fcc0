"""Structured (JSON-lines) logs that never carry tokens or patient data.

Only fields on `SAFE_FIELDS` are copied from a record's `extra`; anything else a caller attaches is dropped, so a
careless `extra={"patient": ...}` cannot leak.
"""

import logging
import sys
import time

import orjson

SAFE_FIELDS = frozenset({
    "service_id", "hook", "hook_instance", "status", "cards", "elapsed_ms", "prefetch_key", "reason", "count",
    "error", "method", "path", "version", "rows",
})


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in SAFE_FIELDS:
            if key in record.__dict__:
                entry[key] = record.__dict__[key]
        return orjson.dumps(entry, default=str).decode()


def configure_logging(level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("cds_service")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
    for chatty in ("httpx", "httpcore"):  # their debug/info lines carry request URLs, which carry patient ids
        logging.getLogger(chatty).setLevel(logging.WARNING)


def uvicorn_log_config(level: str = "info") -> dict:
    """uvicorn's own loggers (startup, access lines) in the same JSON-lines format."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "cds_service.logs.JsonFormatter"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
            "uvicorn.error": {"level": level.upper()},
            "uvicorn.access": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
        },
    }
