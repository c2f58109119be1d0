"""The agent's own logs: structured (logfmt or JSON) on stderr, for journald."""
from __future__ import annotations

import logging
import sys
import threading
import time

import orjson

from shipper.secrets import redact, redact_obj

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


def _logfmt_value(v) -> str:
    s = redact(str(v))  # a dsn or URL in a message or an error keeps its password
    if s == "" or any(c in s for c in ' "=\n\t'):
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return s


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        parts = [f"level={record.levelname.lower()}", f"logger={record.name}", f"msg={_logfmt_value(record.getMessage())}"]
        for k, v in record.__dict__.items():
            if k not in _RESERVED and not k.startswith("_"):
                parts.append(f"{k}={_logfmt_value(v)}")
        if record.exc_info:
            parts.append(f"exc={_logfmt_value(self.formatException(record.exc_info))}")
        return " ".join(parts)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {"level": record.levelname.lower(), "logger": record.name, "msg": record.getMessage()}
        for k, v in record.__dict__.items():
            if k not in _RESERVED and not k.startswith("_"):
                doc[k] = v
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(redact_obj({k: v if isinstance(v, (str, int, float, bool, type(None), dict, list))
                                        else str(v) for k, v in doc.items()})).decode()


def setup(level: str = "info", fmt: str = "logfmt") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else LogfmtFormatter())
    root = logging.getLogger("shipper")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


class Throttled:
    """First failure logged at once, then at most one summary per interval: no log storm in an outage."""

    def __init__(self, logger: logging.Logger, interval: float = 60.0):
        self.logger = logger
        self.interval = interval
        self._lock = threading.Lock()
        self._failing = False
        self._count = 0
        self._last = 0.0

    def failure(self, msg: str, _exc_info: BaseException | None = None, **fields) -> None:
        now = time.monotonic()
        with self._lock:
            self._count += 1
            if not self._failing:
                self._failing, self._last = True, now
                self.logger.warning(msg, extra=fields, exc_info=_exc_info)
            elif now - self._last >= self.interval:
                self.logger.warning(f"still failing: {msg}", extra={**fields, "failures": self._count})
                self._last = now

    def recovered(self, msg: str, **fields) -> None:
        with self._lock:
            if self._failing:
                self.logger.info(msg, extra={**fields, "failures": self._count})
            self._failing, self._count = False, 0
