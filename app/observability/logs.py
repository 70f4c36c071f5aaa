"""The service's logs: one JSON object a line on standard error (XINZHENG_LOG_FORMAT=json, the
default), or lines for a person at a terminal (`console`).

`xinzheng serve` hands `logging_config` to uvicorn (its `log_config`), which applies it in the
server process and in every worker before the app is loaded: uvicorn's own lines and the
service's (loggers `xinzheng.*`) come out alike. Every line logged while a request runs carries
its `requestId` (`bind_request_id`, called as the request arrives). Each request ends in one
line of its own (app/observability/request.py). A caller's fault is told in that line, by its
codes, never with a traceback; a traceback is logged only for a fault of ours.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
from typing import Any

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("xinzheng_request_id", default=None)

# Set by the logging call (`extra`), not read from the record: uvicorn's own extras and the
# record's attributes never reach the line.
FIELDS = "fields"


def bind_request_id(request_id: str) -> None:
    """Lines logged from here on in this request (its task, and the tasks it starts) carry its id."""
    _request_id.set(request_id)


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "requestId"):
            record.requestId = _request_id.get()
        return True


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = getattr(record, FIELDS, None)
    if isinstance(fields, dict):
        return fields
    request_id = getattr(record, "requestId", None)
    return {"requestId": request_id} if request_id else {}


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC), level, logger, message, the line's fields, and for a
    fault of ours its traceback as `exception`."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str, separators=(",", ":"))


class ConsoleFormatter(logging.Formatter):
    """`12:00:01.123 INFO    xinzheng.request request requestId=... outcome=SERVED ...`"""

    def __init__(self) -> None:
        super().__init__("%(asctime)s.%(msecs)03d %(levelname)-7s %(name)s %(message)s", datefmt="%H:%M:%S")

    def formatMessage(self, record: logging.LogRecord) -> str:
        text = super().formatMessage(record)
        pairs = " ".join(f"{k}={v}" for k, v in _fields(record).items() if v is not None and v != [])
        return f"{text} {pairs}" if pairs else text


def logging_config(log_format: str) -> dict[str, Any]:
    """A `logging.config.dictConfig` dictionary (as uvicorn's `log_config` takes it)."""
    formatter = JsonFormatter if log_format == "json" else ConsoleFormatter
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": f"{__name__}.RequestIdFilter"}},
        "formatters": {"line": {"()": f"{__name__}.{formatter.__name__}"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "line",
                "filters": ["request_id"],
            }
        },
        "loggers": {
            "xinzheng": {"level": "INFO"},
            # Start, stop and connection trouble; each request has its own line (no access log).
            "uvicorn": {"level": "INFO"},
        },
        "root": {"level": "WARNING", "handlers": ["stderr"]},
    }
