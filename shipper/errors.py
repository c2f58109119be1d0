"""Failures an output names to the core, so the core can tell a refusal from an outage.

An output retries transient trouble itself (a server down, a dropped connection, a 503): that is
progress-in-waiting. A `PermanentRefusal` is different: the server answered, and said no in a way
that sending again unchanged will not fix (a wrong shared key or password, a certificate that does
not verify, a protocol or media type the server refuses, 401/403). The output worker logs it once
with its reason, shows it in /health and `shipper status`, retries it only with a long backoff (an
operator may fix the server side), and does not count those retries as progress for the watchdog.
"""
from __future__ import annotations


class PermanentRefusal(Exception):
    """The server refused us for a reason a retry will not fix. `str()` is the reason, written for the
    operator (what was refused, by whom, what to check), and never holds a secret."""

    def __init__(self, reason: str, *, server: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.server = server

    def __str__(self) -> str:
        return f"{self.server}: {self.reason}" if self.server else self.reason
