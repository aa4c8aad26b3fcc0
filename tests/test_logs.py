"""The JSON-lines log format: the same fields as always, only safe ones, and a time that is right for every line."""

import io
import logging
import time
from collections.abc import Iterator

import orjson
import pytest

from cds_service.logs import JsonFormatter, configure_logging


def record(created: float, **extra: object) -> logging.LogRecord:
    made = logging.getLogger("cds_service.http").makeRecord(
        "cds_service.http", logging.INFO, "app.py", 1, "service call %s", ("answered",), None, extra=extra
    )
    made.created = created
    return made


def test_a_line_holds_time_level_logger_message_and_only_the_safe_fields():
    line = JsonFormatter().format(record(0.0, service_id="s", cards=2, elapsed_ms=0.5, patient="pt-1", token="t"))
    assert "\n" not in line
    assert orjson.loads(line) == {
        "time": "1970-01-01T00:00:00", "level": "info", "logger": "cds_service.http",
        "message": "service call answered", "service_id": "s", "cards": 2, "elapsed_ms": 0.5,
    }


def test_every_line_gets_the_time_of_its_own_second_even_out_of_order():
    formatter = JsonFormatter()
    now = time.time()
    for created in (now, now + 0.4, now + 1.2, now - 3600.5, now, 86_399.99):
        expected = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
        assert orjson.loads(formatter.format(record(created)))["time"] == expected


def test_values_json_cannot_hold_are_written_as_text():
    line = orjson.loads(JsonFormatter().format(record(0.0, reason=ValueError("bad"), count=2)))
    assert line["reason"] == "bad" and line["count"] == 2


@pytest.fixture
def configured(monkeypatch) -> Iterator[io.StringIO]:
    """`configure_logging` writing to a string, and the process's logging exactly as it was afterwards."""
    for name in ("logThreads", "logProcesses", "logMultiprocessing", "logAsyncioTasks", "_srcfile"):
        monkeypatch.setattr(logging, name, getattr(logging, name, True), raising=False)
    root = logging.getLogger("cds_service")
    handlers, propagate, level = root.handlers[:], root.propagate, root.level
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    configure_logging("info")
    try:
        yield stream
    finally:
        root.handlers[:], root.propagate = handlers, propagate
        root.setLevel(level)  # also forgets the levels cached meanwhile


def test_configured_logging_writes_one_json_line_per_record_without_caller_or_thread_fields(configured):
    logging.getLogger("cds_service.http").info("service call answered", extra={"cards": 1, "patient": "pt-1"})
    logging.getLogger("cds_service.http").debug("not written at info")
    lines = configured.getvalue().splitlines()
    assert len(lines) == 1
    assert orjson.loads(lines[0]).keys() == {"time", "level", "logger", "message", "cards"}
