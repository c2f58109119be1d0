"""A source's failures as an operator sees them: one log line when a failure starts and one when its kind
changes (auth after connect, 429 after 5xx), a summary at most once per interval while it lasts, one line when
it ends; the current and the last failure for `/health` and `shipper status` (Source.last_error; failing_sources
gathers them from a pipeline), and metrics:
gauge shipper_source_failing{source} (1 while any part fails) and shipper_source_last_error_timestamp{source,kind}.

A source may fail in several independent parts (the http_poll source's services): each part (`scope`) has its
own state, so one part recovering does not hide another still failing."""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from shipper import metrics


@dataclass
class _Scope:
    kind: str
    message: str
    since: float
    count: int
    logged: float  # monotonic time of the last line logged for this failure
    said: bool  # whether its start was logged (then its end is too)


class SourceFailures:
    """`SourceFailures(logger, source, interval=60.0)`: a source's failures, said as an operator wants
    them (this module's note): `failed(kind, message, scope="")` when a read fails, `recovered(message,
    scope="")` when it works again, `failing(scope="")` whether it fails now, and `report()` for the
    source's `last_error()`. `scope` names an independent part (a service, a container)."""

    def __init__(self, logger: logging.Logger, source: str, interval: float = 60.0):
        self.log = logger
        self.source = source
        self.interval = interval
        self._lock = threading.Lock()
        self._scopes: dict[str, _Scope] = {}
        # (scope, kind) → monotonic time its start was last logged: a failure flapping (on, off, on; or
        # between two kinds) logs each kind's start once per interval, not once per flap
        self._said: dict[tuple[str, str], float] = {}
        self._last: dict[str, Any] | None = None
        self._gauge = metrics.source_failing.labels(source)
        self._gauge.set(0)

    def failed(self, kind: str, message: str, scope: str = "", level: int = logging.WARNING, **fields) -> None:
        """A read of `scope` failed: `kind` a short word (connect, auth, timeout, http_5xx…), `message` the
        operator's line (never a secret). Logged at `level` when the failure starts or changes kind, then
        summarised at most once per interval; counted in the metrics. `fields` go to the log line."""
        now, mono = time.time(), time.monotonic()
        extra = {"source": self.source, "kind": kind, **({"scope": scope} if scope else {}), **fields}
        with self._lock:
            cur = self._scopes.get(scope)
            if cur is None or cur.kind != kind:
                if cur is not None:
                    extra["previous_kind"] = cur.kind
                said = self._said.get((scope, kind))
                say = said is None or mono - said >= self.interval
                cur = self._scopes[scope] = _Scope(kind, message, now, 1, mono, say or (cur is not None and cur.said))
                line = None
                if say:
                    self._said[(scope, kind)] = mono
                    line = message if "previous_kind" not in extra else f"{message} (failure changed from {extra['previous_kind']})"
            else:
                cur.count += 1
                cur.message = message
                line = None
                if mono - cur.logged >= self.interval:
                    cur.logged = mono
                    line = f"still failing since {time.strftime('%H:%M:%S', time.gmtime(cur.since))}Z: {message}"
                    extra["failures"] = cur.count
            self._last = {"kind": kind, "message": message, "scope": scope or None, "at": now, "since": cur.since,
                          "failing": True}
            self._gauge.set(1)
        metrics.source_last_error.labels(self.source, kind).set(now)
        if line is not None:
            self.log.log(level, line, extra=extra)

    def recovered(self, message: str, scope: str = "", **fields) -> None:
        """`scope` works again: one line (only if its failure was logged), and the gauge drops when no part fails."""
        with self._lock:
            cur = self._scopes.pop(scope, None)
            if cur is None:
                return
            said = cur.said
            if self._last is not None and (self._last.get("scope") or "") == scope:
                self._last = {**self._last, "failing": False}
            if not self._scopes:
                self._gauge.set(0)
        if not said:  # a flap whose start went unsaid ends unsaid too
            return
        self.log.info(message, extra={"source": self.source, "kind": cur.kind, "failures": cur.count,
                                      **({"scope": scope} if scope else {}), **fields})

    def failing(self, scope: str = "") -> bool:
        """Whether `scope` is failing now."""
        with self._lock:
            return scope in self._scopes

    def report(self) -> dict[str, Any] | None:
        """The last failure ({kind, message, scope, at, since, failing}) and every part failing now."""
        with self._lock:
            if self._last is None:
                return None
            doc = dict(self._last)
            doc["failing_now"] = {s or "source": {"kind": c.kind, "message": c.message, "since": c.since}
                                  for s, c in self._scopes.items()}
            doc["failing"] = bool(self._scopes)
            return doc


def source_last_error(source) -> dict[str, Any] | None:
    """The source's last_error(), or what its failure to answer was."""
    try:
        return source.last_error()
    except Exception as e:  # a plugin's hook must not break the endpoint
        return {"kind": "status_error", "message": f"{type(e).__name__}: {e}", "failing": False}


def failing_sources(pipeline) -> dict[str, dict[str, Any]]:
    """Sources failing to read now, with their last error (for /health and the status snapshot: the agent runs,
    its input does not)."""
    out = {}
    for name, r in list(pipeline.runners.items()):
        if r.error is not None and r.finished.is_set():  # its run() ended with the error: it reads no more
            out[name] = {"kind": "stopped", "message": f"the source stopped with an error (it reads nothing until "
                         f"the agent is restarted): {type(r.error).__name__}: {r.error}", "failing": True}
            continue
        err = source_last_error(r.source)
        if err and err.get("failing"):
            out[name] = err
    return out
