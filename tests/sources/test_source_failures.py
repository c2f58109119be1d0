"""shipper.failures.SourceFailures: what an operator reads while a source fails, flaps and recovers."""
from __future__ import annotations

import logging

from shipper import metrics
from shipper.failures import SourceFailures


class Lines(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines: list[tuple[int, str]] = []

    def emit(self, record):
        self.lines.append((record.levelno, record.getMessage()))


def make(name: str, interval: float = 60.0) -> tuple[SourceFailures, Lines]:
    log = logging.getLogger(f"test.failures.{name}")
    log.propagate = False
    log.setLevel(logging.DEBUG)
    lines = Lines()
    log.addHandler(lines)
    return SourceFailures(log, name, interval), lines


def gauge(name: str) -> float:
    return metrics.REGISTRY.get_sample_value("shipper_source_failing", {"source": name})


def test_start_change_and_end_are_logged_once_each_and_reported():
    f, lines = make("a")
    for _ in range(5):
        f.failed("connect", "database unavailable")
    f.failed("auth", "authentication failed", level=logging.ERROR)
    f.failed("auth", "authentication failed", level=logging.ERROR)
    assert lines.lines == [(logging.WARNING, "database unavailable"),
                           (logging.ERROR, "authentication failed (failure changed from connect)")]
    assert gauge("a") == 1
    rep = f.report()
    assert rep["kind"] == "auth" and rep["failing"] and rep["failing_now"]["source"]["kind"] == "auth"
    f.recovered("reachable again")
    assert lines.lines[-1] == (logging.INFO, "reachable again")
    assert gauge("a") == 0 and f.report()["failing"] is False and f.report()["kind"] == "auth"


def test_a_flapping_failure_is_logged_once_per_interval():
    f, lines = make("b")
    for _ in range(20):  # fails, answers, fails, ... and switches kinds
        f.failed("http_5xx", "HTTP 503")
        f.failed("timeout", "timed out")
        f.recovered("answers again")
    assert lines.lines == [(logging.WARNING, "HTTP 503"),
                           (logging.WARNING, "timed out (failure changed from http_5xx)"),
                           (logging.INFO, "answers again")]


def test_a_lasting_failure_gets_a_summary_per_interval_and_scopes_are_apart():
    f, lines = make("c", interval=0.0)
    f.failed("http_5xx", "HTTP 500", scope="code-manager")
    f.failed("http_5xx", "HTTP 500", scope="code-manager")
    assert lines.lines[-1][1].startswith("still failing since")
    f.failed("auth", "HTTP 401", scope="rbac")
    f.recovered("answers again", scope="rbac")
    assert gauge("c") == 1  # code-manager still fails
    assert list(f.report()["failing_now"]) == ["code-manager"]
