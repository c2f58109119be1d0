"""Black-box attack 11 (operator): logrotate `create 0600 nobody nogroup` (a wrong owner in the rotation's config)
makes a new live log the agent cannot read; 100 lines wait in it. The agent runs without the capabilities that
override file permissions (setpriv), as the shipper user would.

Found (by hand 6 of 6, /tmp/af/a9.py, a10.py, a11.py; and with this test): /health says `degraded` with the file
in `sources_failing`, and `shipper status` shows it unreadable with a lag of 4,400 bytes, but /metrics has no
`shipper_source_failing` nor `shipper_source_last_error_timestamp` sample at all (only their HELP and TYPE lines),
for the 60 s watched: an alert on them never fires. (`shipper_files_unreadable` and `shipper_file_lag_bytes` say 0
for the first ~10 s, then 1 and 4,400: late, not wrong.) And the failure's `since` in /health moves on at every scan
(`shipper status`: always "failing since 0s ago"), so how long it has lasted is lost.

Promised: README (source keys) "A source's current and last failure (kind, message, since) shows in /health
(sources_failing, status degraded), shipper status and the metrics shipper_source_failing,
shipper_source_last_error_timestamp"; docs/design.md "Unreadable files": "counted in shipper_files_unreadable".
Fixed: the file source sets those two metrics at each housekeeping walk, and an unreadable file keeps the time its
opens began to fail."""
from __future__ import annotations

import re
import time
import urllib.request

import pytest

from tests.tail.attack_agent import Agent, append_numbered, exactly_once, logrotate_of

pytestmark = pytest.mark.slow

NO_DAC = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]


def metric(agent: Agent, name: str, labels: str) -> float | None:
    with urllib.request.urlopen(f"http://127.0.0.1:{agent.port}/metrics", timeout=10) as r:
        text = r.read().decode()
    m = re.search(rf"^{name}\{{{labels}\}} ([0-9.e+-]+)$", text, re.M)
    return float(m.group(1)) if m else None


def failing(agent: Agent) -> dict:
    return (agent.get("/health")[1].get("sources_failing") or {}).get("app") or {}


def unreadable_live_log(tmp_path) -> tuple[Agent, str]:
    log = tmp_path / "app.log"
    append_numbered(log, 0, 100)
    agent = Agent(tmp_path, [log])
    agent.command_prefix = NO_DAC
    agent.start()
    try:
        assert agent.wait_delivered(range(100), 60), exactly_once(agent.seqs(), range(100))
        logrotate_of(tmp_path, log, "create 0600 nobody nogroup\nrotate 5", settle=0)()
        append_numbered(log, 100, 200)  # the writer (root here) writes on; the agent cannot read these
        deadline = time.monotonic() + 60
        while failing(agent).get("kind") != "unreadable" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert failing(agent).get("kind") == "unreadable", agent.get("/health")
    except BaseException:
        agent.stop()  # (a failed set-up left its agent running past the suite)
        raise
    return agent, str(log)


def test_metrics_show_an_unreadable_live_log(tmp_path):
    agent, log = unreadable_live_log(tmp_path)
    try:
        labels = 'source="app"'
        figures: dict = {}
        deadline = time.monotonic() + 30  # the figures may lag the health by a scan or a snapshot
        while time.monotonic() < deadline:
            figures = {"shipper_files_unreadable": metric(agent, "shipper_files_unreadable", labels),
                       "shipper_source_failing": metric(agent, "shipper_source_failing", '[^}]*source="app"[^}]*'),
                       "shipper_source_last_error_timestamp": metric(agent, "shipper_source_last_error_timestamp",
                                                                     '[^}]*source="app"[^}]*'),
                       "shipper_file_lag_bytes": metric(agent, "shipper_file_lag_bytes",
                                                        f'path="{re.escape(log)}",source="app"')}
            if (figures["shipper_files_unreadable"] == 1 and (figures["shipper_source_failing"] or 0) >= 1
                    and figures["shipper_source_last_error_timestamp"] and (figures["shipper_file_lag_bytes"] or 0) > 0):
                break
            time.sleep(0.5)
    finally:
        agent.stop()
    assert figures["shipper_files_unreadable"] == 1, figures
    assert (figures["shipper_source_failing"] or 0) >= 1, figures
    assert figures["shipper_source_last_error_timestamp"], figures
    assert (figures["shipper_file_lag_bytes"] or 0) > 0, figures


def test_the_failure_since_stays_while_the_file_stays_unreadable(tmp_path):
    agent, _ = unreadable_live_log(tmp_path)
    try:
        first = failing(agent).get("since")
        time.sleep(3)  # several scans (poll_interval 0.2 s), the file unreadable all along
        later = failing(agent)
    finally:
        agent.stop()
    assert later.get("kind") == "unreadable", later
    assert later.get("since") == first, f"since moved from {first} to {later.get('since')}"
