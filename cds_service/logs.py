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
    """One JSON object a line: UTC time to the second, level, logger, message, and the `SAFE_FIELDS` a record has.

    Every request passes through here (the service's call line, uvicorn's access line), so the per-record work is
    kept small: the time text is made once a second, not per line, and the safe fields are found with one set
    intersection in C instead of a Python loop over all of them.
    """

    _stamp: tuple[int, str] = (-1, "")  # (second, its text), replaced whole so threads never see half an update

    def format(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        stamp = self._stamp
        if stamp[0] != second:
            stamp = self._stamp = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
        entry = {
            "time": stamp[1],
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = record.__dict__
        for key in fields.keys() & SAFE_FIELDS:
            entry[key] = fields[key]
        return orjson.dumps(entry, default=str).decode()


def configure_logging(level: str = "info") -> None:
    # JsonFormatter writes none of a record's caller, thread, process or task fields, and filling them in is most
    # of what creating a record costs on every request: switch them off (the logging HOWTO's "Optimization").
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging.logAsyncioTasks = False  # Python 3.12+; harmless before
    logging._srcfile = None  # no caller lookup (file, line, function) per record
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
