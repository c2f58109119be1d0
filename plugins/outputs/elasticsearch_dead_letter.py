"""Dead-letter file: events Elasticsearch rejected for good (mapping errors and other 4xx), one JSON
object per line with the error, written and fsynced before the batch is acknowledged."""
from __future__ import annotations

import os
import threading
import time

import orjson


class DeadLetterFile:
    def __init__(self, path: str):
        self.path = path
        self._lock = threading.Lock()

    def write(self, entries: list[dict]) -> None:
        """Append entries; raises OSError if they are not on disk (the caller must not ack then)."""
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        data = b"".join(orjson.dumps({"@timestamp": now, **e}, default=str) + b"\n" for e in entries)
        with self._lock:
            os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)  # events may hold personal data
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)
