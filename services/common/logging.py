"""Structured JSON logs, each line carrying the current request id."""

from __future__ import annotations

import json
import logging
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

_RESERVED = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}
#: a 12-digit personal identification number anywhere in a log line is masked (001******789): never logged in full
_ID_NUMBER = re.compile(r"(?<!\d)(\d{3})\d{6}(\d{3})(?!\d)")
#: drivers that log statements with their parameters at DEBUG, and libraries that chatter at INFO
_QUIET = ("aiosqlite", "sqlalchemy.engine", "asyncpg", "httpcore", "hpack", "multipart", "fontTools")


#: a cmi5 fetch URL's one-time secret (learning's ``FETCH_SECRET_PREFIX``), in a path, a query or percent-encoded
#: inside a launch URL (its characters are never encoded): masked wherever a line carries it
_CMI5_FETCH_SECRET = re.compile(r"cmi5f_[A-Za-z0-9_-]+")


def redact(text: str) -> str:
    return _ID_NUMBER.sub(r"\1******\2", _CMI5_FETCH_SECRET.sub("cmi5f_…", text))


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or request_id_var.get(),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and key not in entry:
                entry[key] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return redact(json.dumps(entry, ensure_ascii=False))


def configure_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in _QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
