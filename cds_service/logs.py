"""Structured (JSON-lines) logs that never carry tokens or patient data.

Only fields on `SAFE_FIELDS` are copied from a record's `extra`; anything else a caller attaches is dropped, so a
careless `extra={"patient": ...}` cannot leak. A record logged with `exc_info` carries its traceback: the frames
and the exception types, never the exceptions' messages (a KeyError's message is whatever key was missing, and in
a FHIR resource that can be a patient's identifier).
"""

import logging
import sys
import time
import traceback
from types import TracebackType
from typing import Any

import orjson

SAFE_FIELDS = frozenset({
    "service_id", "hook", "hook_instance", "status", "cards", "elapsed_ms", "prefetch_key", "reason", "count",
    "error", "method", "path", "version", "rows", "unavailable",
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
        if record.exc_info and record.exc_info[1] is not None:
            entry["traceback"] = traceback_without_messages(record.exc_info[1])
        return orjson.dumps(entry, default=str).decode()


def traceback_without_messages(exc: BaseException) -> str:
    """A traceback as Python prints it (causes first), with each exception's message left out."""
    chain: list[tuple[BaseException, str]] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    link = ""
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append((current, link))
        if current.__cause__ is not None:
            current, link = current.__cause__, "The above exception was the direct cause of the following exception:"
        elif current.__context__ is not None and not current.__suppress_context__:
            current, link = current.__context__, "During handling of the above exception, another exception occurred:"
        else:
            current = None
    parts: list[str] = []
    for error, next_link in reversed(chain):
        tb: TracebackType | None = error.__traceback__
        parts.append("Traceback (most recent call last):\n" + "".join(traceback.format_tb(tb)))
        module = type(error).__module__
        name = type(error).__qualname__ if module == "builtins" else f"{module}.{type(error).__qualname__}"
        parts.append(f"{name} (message not logged)\n")
        if next_link:
            parts.append(f"\n{next_link}\n\n")
    return "".join(parts).rstrip("\n")


def configure_logging(level: str = "info") -> None:
    # JsonFormatter writes none of a record's caller, thread, process or task fields, and filling them in is most
    # of what creating a record costs on every request: switch them off (the logging HOWTO's "Optimization").
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging.logAsyncioTasks = False  # type: ignore[attr-defined,unused-ignore]  # Python 3.12+; harmless before
    logging._srcfile = None  # no caller lookup (file, line, function) per record
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("cds_service")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
    for chatty in ("httpx", "httpcore"):  # their debug/info lines carry request URLs, which carry patient ids
        logging.getLogger(chatty).setLevel(logging.WARNING)


def uvicorn_log_config(level: str = "info") -> dict[str, Any]:
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
