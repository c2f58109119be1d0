"""`type: http_poll` against a local HTTPS activity API peer: every event exactly once across pages,
services, restarts, shrinking histories, token failures and server errors."""
from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from shipper import metrics
from shipper.plugin import EndRun, RawBatch, SourceContext
from shipper_plugins.parsers.puppet_enterprise import PuppetEnterpriseParser
from shipper_plugins.sources.http_poll import HttpPollSource, HttpPollSourceConfig
from tests.peers.puppet_activity_api import PuppetActivityAPI
from tests.support import free_port, wait_until as wait_for

SHIPPER = [sys.executable, "-m", "shipper.cli"]
PARSER = PuppetEnterpriseParser()


class Harness:
    """Runs the source in-process; every batch is acknowledged at once, like an output that never fails."""

    def __init__(self, api: PuppetActivityAPI, tmp_path: Path, **overrides):
        self.api = api
        self.tmp = tmp_path
        self.token_file = tmp_path / "token"
        if not self.token_file.exists():
            self.token_file.write_text("good-token\n")
        self.state: dict = {}
        self.records: list[bytes] = []
        self.keys: list[str] = []
        self.cfg = dict(name="pe", type="http_poll", parser="puppet_enterprise", url=api.url("v2"),
                        token_file=str(self.token_file), ca_file=str(api.ca_file) if api.tls else None,
                        services=["classifier", "rbac", "code-manager"], page_size=4, poll_interval=0.05,
                        backoff_initial=0.02, backoff_max=0.1, timeout=5.0)
        self.cfg.update(overrides)
        self.lock = threading.Lock()
        self.logger = logging.getLogger("test.http_poll")

    def emit(self, batch: RawBatch) -> None:
        assert len(batch.records) == len(batch.keys)
        with self.lock:
            self.records.extend(batch.records)
            self.keys.extend(batch.keys)
            self.state.update(batch.checkpoint)  # acknowledged at once

    def source(self, once: bool = True, stop: threading.Event | None = None) -> HttpPollSource:
        cfg = HttpPollSourceConfig.model_validate(self.cfg)
        ctx = SourceContext(name="pe", emit=self.emit, stop=stop or threading.Event(), once=once,
                            state=dict(self.state), state_dir=str(self.tmp), logger=self.logger)
        return HttpPollSource(cfg, ctx)

    def run_once(self) -> list[str]:
        """One `--once` run of a freshly started source (a restart); the event messages it shipped."""
        before = len(self.records)
        src = self.source(once=True)
        src.run()
        src.close()
        return messages(self.records[before:])


def messages(records: list[bytes]) -> list[str]:
    out = []
    for r in records:
        for ev in PARSER.parse(r):
            out.append(ev.get("message", ev["event"].get("original")))
    return out



def fill(api: PuppetActivityAPI, service: str, start: int, n: int, events_per_commit: int = 1) -> list[str]:
    made = []
    for i in range(start, start + n):
        msgs = [f"{service} change {i}.{k}" for k in range(events_per_commit)]
        api.add(service, msgs, same_second=(i % 3 != 0))  # several commits share a second, as in PE
        made.extend(msgs)
    return made


def metric(name: str, **labels) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def api(tmp_path):
    with PuppetActivityAPI(tmp_path) as server:
        yield server


def test_pages_of_several_services_are_read_ascending_once_each(api, tmp_path):
    expected = fill(api, "classifier", 0, 23, events_per_commit=3) + fill(api, "rbac", 0, 7)
    h = Harness(api, tmp_path)
    got = h.run_once()
    assert Counter(got) == Counter(expected)
    # Every request asked ascending order, a service and a page of at most page_size plus the re-read
    # cursor's last second (fill stamps three commits a second) and the commit before that second.
    for r in api.event_requests():
        assert r.params["order"] == "asc" and r.params["service_id"] in ("classifier", "rbac", "code-manager")
        assert int(r.params["limit"]) <= 4 + 3 + 1
    # keyed by the commit (its digest, and its rank among identical ones), not by its offset: one key each
    assert len(set(h.keys)) == len(h.keys) == 30 and all(k.split(":")[0] in ("classifier", "rbac") for k in h.keys)
    assert h.state["service:classifier"]["offset"] == 23 and "service:code-manager" not in h.state
    assert h.run_once() == []  # a restart with the checkpoint finds nothing new
    more = fill(api, "code-manager", 0, 5) + fill(api, "rbac", 7, 9)
    assert Counter(h.run_once()) == Counter(more)


def test_v1_needs_a_service_and_reads_total_rows(tmp_path):
    with PuppetActivityAPI(tmp_path, string_totals=False) as api:
        expected = fill(api, "rbac", 0, 11, events_per_commit=2)
        h = Harness(api, tmp_path, url=api.url("v1"), services=["rbac", "classifier"], page_size=3)
        assert Counter(h.run_once()) == Counter(expected)
        assert all(r.params.get("service_id") for r in api.event_requests())
        assert all(r.status == 200 for r in api.event_requests())
        records = [orjson.loads(r) for r in h.records]
        assert {r["api_version"] for r in records} == {"v1"} and "object" in records[0]["commit"]


def test_the_peer_defaults_to_descending_order(api, tmp_path):
    # Guards the peer itself: without order=asc the API answers newest first, so offsets would be wrong.
    import urllib3

    fill(api, "rbac", 0, 3)
    pool = urllib3.PoolManager(ca_certs=str(api.ca_file))
    body = orjson.loads(pool.request("GET", api.url("v2") + "?service_id=rbac",
                                     headers={"X-Authentication": "good-token"}).data)
    assert [c["events"][0]["message"] for c in body["commits"]] == ["rbac change 2.0", "rbac change 1.0", "rbac change 0.0"]
    assert body["pagination"]["total"] == "3"


def test_total_shrinks_after_pruning_warns_and_ships_only_new(api, tmp_path, caplog):
    first = fill(api, "rbac", 0, 10)
    h = Harness(api, tmp_path, services=["rbac"])
    assert Counter(h.run_once()) == Counter(first)
    api.prune_oldest("rbac", 6)  # total 4 < offset 10
    new = fill(api, "rbac", 10, 3)
    before = metric("shipper_http_poll_resyncs_total", source="pe", service="rbac")
    with caplog.at_level(logging.WARNING, logger="test.http_poll"):
        assert h.run_once() == new
    assert "moved under the cursor" in caplog.text and "shrank" in caplog.text
    assert metric("shipper_http_poll_resyncs_total", source="pe", service="rbac") == before + 1
    assert h.state["service:rbac"]["offset"] == 7
    assert h.run_once() == []


def test_history_moved_without_the_total_shrinking_is_caught_by_the_anchor(api, tmp_path):
    first = fill(api, "rbac", 0, 10)
    h = Harness(api, tmp_path, services=["rbac"])
    assert Counter(h.run_once()) == Counter(first)
    api.prune_oldest("rbac", 4)
    new = fill(api, "rbac", 10, 6)  # total 12 >= offset 10: only the anchor notices
    assert h.run_once() == new
    assert h.run_once() == []


def test_restored_backup_drops_newest_then_new_commits_are_shipped(api, tmp_path):
    first = fill(api, "rbac", 0, 10)
    h = Harness(api, tmp_path, services=["rbac"])
    assert Counter(h.run_once()) == Counter(first)
    api.drop_newest("rbac", 3)
    assert h.run_once() == []  # nothing new: the cursor moves back, nothing is repeated
    new = fill(api, "rbac", 10, 2)
    assert h.run_once() == new


def test_identical_commits_in_one_second_are_two_events_and_survive_a_resync(api, tmp_path):
    c = api.add("rbac", ["User Jean Jackson (973c0cee) logged in."])
    api.add_copy(c)
    h = Harness(api, tmp_path, services=["rbac"])
    assert h.run_once() == ["User Jean Jackson (973c0cee) logged in."] * 2
    api.prune_oldest("rbac", 1)
    new = fill(api, "rbac", 0, 1)
    assert h.run_once() == new


def test_401_names_the_token_file_keeps_retrying_and_recovers_when_renewed(api, tmp_path, caplog):
    expected = fill(api, "rbac", 0, 6)
    h = Harness(api, tmp_path, services=["rbac"])
    h.token_file.write_text("expired-token\n")
    stop = threading.Event()
    src = h.source(once=False, stop=stop)
    errors_before = metric("shipper_source_errors_total", source="pe", kind="auth")
    with caplog.at_level(logging.INFO, logger="test.http_poll"):
        t = threading.Thread(target=src.run, daemon=True)
        t.start()
        try:
            wait_for(lambda: metric("shipper_http_poll_auth_failing", source="pe") == 1, what="auth gauge")
            wait_for(lambda: metric("shipper_source_errors_total", source="pe", kind="auth") >= errors_before + 3,
                     what="retries")
            assert h.records == []
            assert t.is_alive()
            refusals = [r for r in caplog.records if r.levelno == logging.ERROR]
            assert refusals and str(h.token_file) in refusals[0].getMessage()
            assert "expired-token" not in caplog.text  # the token itself is never logged
            h.token_file.write_text("good-token\n")
            wait_for(lambda: len(h.records) == 6, what="events after the token was renewed")
        finally:
            stop.set()
            t.join(30)
    assert Counter(messages(h.records)) == Counter(expected)
    assert metric("shipper_http_poll_auth_failing", source="pe") == 0
    assert "answers again" in caplog.text


def test_5xx_bursts_and_timeouts_are_retried_with_nothing_lost_or_repeated(api, tmp_path):
    expected = fill(api, "classifier", 0, 15, events_per_commit=2)
    h = Harness(api, tmp_path, services=["classifier"], timeout=0.5)
    stop = threading.Event()
    src = h.source(once=False, stop=stop)
    api.fail_next(3, status=503)
    api.fail_next(1, status=502)
    api.fail_next(1, status=200, delay=1.5)  # slower than the read timeout
    t = threading.Thread(target=src.run, daemon=True)
    before = metric("shipper_source_errors_total", source="pe", kind="http_5xx")
    timeouts = metric("shipper_source_errors_total", source="pe", kind="timeout")
    t.start()
    try:
        wait_for(lambda: len(messages(h.records)) >= 30, what="all events")
        api.fail_next(2, status=500)  # a burst in the middle of later pages
        more = fill(api, "classifier", 15, 9, events_per_commit=2)
        wait_for(lambda: len(messages(h.records)) >= 48, what="events after the second burst")
        time.sleep(0.3)
    finally:
        stop.set()
        t.join(30)
    assert not t.is_alive()
    assert Counter(messages(h.records)) == Counter(expected + more)
    assert metric("shipper_source_errors_total", source="pe", kind="http_5xx") >= before + 6
    assert metric("shipper_source_errors_total", source="pe", kind="timeout") >= timeouts + 1


def test_once_gives_up_with_a_clear_error_when_the_api_stays_down(api, tmp_path):
    fill(api, "rbac", 0, 2)
    api.fail_next(50, status=503)
    h = Harness(api, tmp_path, services=["rbac"])
    with pytest.raises(EndRun, match="HTTP 503"):
        h.source(once=True).run()
    assert h.records == [] and h.state == {}


def test_a_malformed_page_is_shipped_flagged_then_the_data_follows(api, tmp_path):
    expected = fill(api, "rbac", 0, 5)
    api.fail_next(1, status=200, body=b"<html><body>502 Bad Gateway from proxy</body></html>")
    h = Harness(api, tmp_path, services=["rbac"])
    got = h.run_once()
    events = [ev for r in h.records for ev in PARSER.parse(r)]
    flagged = [e for e in events if "_parse_failure" in e.get("tags", [])]
    assert len(flagged) == 1 and "Bad Gateway" in flagged[0]["event"]["original"]
    assert "unreadable activity API page" in flagged[0]["error"]["message"]
    assert Counter(m for m in got if "Bad Gateway" not in m) == Counter(expected)


def test_a_malformed_commit_inside_a_page_is_shipped_flagged_and_passed(api, tmp_path):
    fill(api, "rbac", 0, 2)
    good = api.add("rbac", ["rbac change 2.0"])
    good.events = []  # a commit without events
    after = fill(api, "rbac", 3, 2)
    h = Harness(api, tmp_path, services=["rbac"])
    h.run_once()
    events = [ev for r in h.records for ev in PARSER.parse(r)]
    flagged = [e for e in events if "_parse_failure" in e.get("tags", [])]
    assert len(flagged) == 1 and "no events" in flagged[0]["error"]["message"]
    assert [e["message"] for e in events if "message" in e][-2:] == after
    assert h.state["service:rbac"]["offset"] == 5


def test_tls_is_verified_against_the_configured_ca(api, tmp_path, caplog):
    fill(api, "rbac", 0, 1)
    import trustme

    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    h = Harness(api, tmp_path, services=["rbac"], ca_file=str(other))
    with pytest.raises(EndRun, match="TLS verification"):
        h.source(once=True).run()
    assert h.records == []


def test_plain_http_is_accepted_with_a_warning(tmp_path, caplog):
    with PuppetActivityAPI(tmp_path, tls=False) as api:
        expected = fill(api, "rbac", 0, 3)
        h = Harness(api, tmp_path, services=["rbac"])
        with caplog.at_level(logging.WARNING, logger="test.http_poll"):
            assert h.run_once() == expected
        assert "plain http" in caplog.text


def test_read_from_end_skips_the_existing_history(api, tmp_path):
    fill(api, "rbac", 0, 8)
    h = Harness(api, tmp_path, services=["rbac"], read_from="end")
    assert h.run_once() == []
    new = fill(api, "rbac", 8, 2)
    assert h.run_once() == new


def test_config_needs_a_version_in_the_url_and_a_known_scheme():
    base = dict(name="pe", type="http_poll", token_file="/t")
    with pytest.raises(ValueError, match="api_version"):
        HttpPollSourceConfig.model_validate({**base, "url": "https://pe:4433/activity-api/events"})
    with pytest.raises(ValueError, match="http"):
        HttpPollSourceConfig.model_validate({**base, "url": "ftp://pe/activity-api/v2/events"})
    assert HttpPollSourceConfig.model_validate({**base, "url": "https://pe:4433/activity-api/v1/events"}).api_version == "v1"


@pytest.mark.parametrize("command", ["check", "run"])
def test_a_service_id_the_activity_service_does_not_know_is_a_config_error(tmp_path, command):
    """`services: [rbca, classifer]` passed `check`; a server listing nothing for them was read from for ever."""
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"""state_dir: {tmp_path / 'state'}
sources:
  - name: pe
    type: http_poll
    url: https://pe.example:4433/activity-api/v2/events
    token_file: {tmp_path / 'token'}
    services: [rbca, classifer, rbac]
outputs:
  - type: stdout
""")
    r = subprocess.run(SHIPPER + [command, "-c", str(cfg)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    assert f"{cfg}:7: sources[0].services: unknown service ids 'rbca' (did you mean 'rbac'?), 'classifer' (did you " \
           "mean 'classifier'?): the activity service knows classifier, code-manager, pe-console, rbac" in r.stderr, r.stderr
    assert not (tmp_path / "state").exists()


# --- property: any interleaving of new commits, pruning, restores, page sizes and restarts -------------

OPS = st.lists(st.one_of(
    st.tuples(st.just("add"), st.sampled_from(["rbac", "classifier"]), st.integers(1, 9), st.booleans()),
    st.tuples(st.just("prune"), st.sampled_from(["rbac", "classifier"]), st.integers(1, 6), st.just(False)),
    st.tuples(st.just("restore"), st.sampled_from(["rbac", "classifier"]), st.integers(1, 4), st.just(False)),
    st.tuples(st.just("poll"), st.integers(1, 7), st.just(0), st.just(False)),
), min_size=1, max_size=14)


def assert_ops_ship_every_commit_polled_once(api: PuppetActivityAPI, tmp, ops) -> None:
    """Replay `ops` (OPS) on `api`, then a last poll: every commit listed at some poll shipped exactly once."""
    h = Harness(api, tmp, services=["rbac", "classifier"])
    n = 0
    present_at_poll: set[str] = set()
    for op in ops + [("poll", 3, 0, False)]:
        kind = op[0]
        if kind == "add":
            for _ in range(op[2]):
                api.add(op[1], [f"{op[1]} commit {n}"], same_second=op[3])
                n += 1
        elif kind == "prune":
            api.prune_oldest(op[1], op[2])
        elif kind == "restore":
            api.drop_newest(op[1], op[2])
        else:
            present_at_poll |= {c.events[0]["message"] for c in api.commits}
            h.cfg["page_size"] = op[1]
            h.run_once()  # a fresh source from the checkpoint: a restart every time
    shipped = Counter(messages(h.records))
    assert all(v == 1 for v in shipped.values()), [m for m, v in shipped.items() if v > 1]
    assert set(shipped) == present_at_poll


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
def test_property_every_commit_seen_by_a_poll_is_shipped_exactly_once(tmp_path_factory, ops):
    tmp = tmp_path_factory.mktemp("prop")
    with PuppetActivityAPI(tmp, tls=False) as api:
        assert_ops_ship_every_commit_polled_once(api, tmp, ops)


# --- the real agent: `shipper run` restarted while the API grows ------------------------------------

def _start(cfg: Path, out: Path, err: Path) -> subprocess.Popen:
    return subprocess.Popen(SHIPPER + ["run", "-c", str(cfg)], stdout=open(out, "ab"), stderr=open(err, "ab"))


def _shipped(out: Path) -> list[str]:
    if not out.exists():
        return []
    return [orjson.loads(l).get("message", "") for l in out.read_bytes().splitlines() if l.strip()]


def test_shipper_run_restarted_delivers_every_event_exactly_once(api, tmp_path):
    token = tmp_path / "token"
    token.write_text("good-token")
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"""
state_dir: {tmp_path / 'state'}
shutdown_timeout: 20
sources:
  - name: puppet
    type: http_poll
    parser: puppet_enterprise
    url: {api.url('v2')}
    token_file: {token}
    ca_file: {api.ca_file}
    services: [classifier, rbac, pe-console]
    poll_interval: 0.2
    page_size: 4
outputs:
  - type: stdout
""")
    out, err = tmp_path / "out.jsonl", tmp_path / "err.log"
    expected: list[str] = []
    expected += fill(api, "classifier", 0, 9, events_per_commit=2) + fill(api, "rbac", 0, 5)
    proc = _start(cfg, out, err)
    try:
        for rnd in range(3):
            wait_for(lambda: len(_shipped(out)) >= len(expected), timeout=90, what=f"round {rnd}")
            # New commits arrive while the agent runs, then it is restarted (SIGTERM, drained).
            expected += fill(api, "pe-console", rnd * 10, 6) + fill(api, "rbac", 5 + rnd * 10, 4, events_per_commit=3)
            time.sleep(0.1)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(60) == 0, err.read_text()
            expected += fill(api, "classifier", 100 + rnd * 10, 3)  # and while it is down
            proc = _start(cfg, out, err)
        wait_for(lambda: len(_shipped(out)) >= len(expected), timeout=90, what="last round")
        time.sleep(0.6)  # a few more polls: nothing further may arrive
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    shipped = _shipped(out)
    assert Counter(shipped) == Counter(expected), err.read_text()[-3000:]
    events = [orjson.loads(l) for l in out.read_bytes().splitlines()]
    assert all(e["event"]["module"] == "puppet_enterprise" and e["source"]["ip"] == "10.1.2.3" for e in events)


def test_a_page_orjson_refuses_but_that_is_json_is_still_read():
    from shipper_plugins.sources.http_poll_client import MalformedPage, parse_page

    page = parse_page(b'{"commits": [{"events": [{"message": "bad \\ud800 name"}], "n": 1e999}],'
                      b' "pagination": {"total": "7"}}', "v2")
    msg = page.commits[0]["events"][0]["message"]
    assert page.total == 7 and msg.startswith("bad \ufffd") and msg.endswith(" name") and "\ud800" not in msg
    assert page.commits[0]["n"] is None
    orjson.dumps(page.commits)  # what the source hands on must serialise
    big = "123456789012345678901234567890"  # an id past 64 bits: its digits, never a float (issue 21)
    for tail in (b"", b', "odd": "\\ud800"'):  # read by orjson, or by the lenient reader
        page = parse_page(b'{"commits": [{"object": {"id": ' + big.encode() + b"}}]" + tail + b"}", "v1")
        assert page.commits[0]["object"]["id"] == big, page
        orjson.dumps(page.commits)
    assert parse_page(b'{"commits": [], "total-rows": 3}', "v1").total == 3
    assert parse_page(b'{"pagination": {"total": "x"}}', "v2").total is None
    for bad in (b"<html>", b"[]", b'{"commits": {}}'):
        with pytest.raises(MalformedPage):
            parse_page(bad, "v2")


def test_a_server_side_limit_cap_pages_on_and_an_inflated_total_does_not_loop(api, tmp_path):
    expected = fill(api, "rbac", 0, 17)
    api.max_limit = 3  # asked for 10, answers 3: short pages that are not the end
    h = Harness(api, tmp_path, services=["rbac"], page_size=10)
    assert Counter(h.run_once()) == Counter(expected)
    api.max_limit = None
    api.total_bias = 5  # the total claims more commits than there are
    more = fill(api, "rbac", 17, 2)
    assert h.run_once() == more
    assert h.run_once() == []
    assert len(api.event_requests()) < 40


def test_a_total_below_the_commits_served_repeats_nothing(api, tmp_path):
    api.total_bias = -3  # the API under-counts: every poll looks like a shrink
    expected = fill(api, "rbac", 0, 5)
    h = Harness(api, tmp_path, services=["rbac"], page_size=10)
    assert Counter(h.run_once()) == Counter(expected)
    assert h.run_once() == [] and h.run_once() == []
    new = fill(api, "rbac", 5, 1)
    assert h.run_once() == new


# --- issue 22: answers that never end, huge answers, one bad service, Retry-After, failure kinds -----------

class Lines(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)

    def count(self, level: int, fragment: str) -> int:
        return sum(1 for r in self.records if r.levelno == level and fragment in r.getMessage())


def _logged(h: Harness) -> Lines:
    h.logger = logging.getLogger(f"test.http_poll.{id(h)}")
    h.logger.setLevel(logging.DEBUG)
    h.logger.propagate = False
    lines = Lines()
    h.logger.addHandler(lines)
    return lines


def _running(h: Harness):
    stop = threading.Event()
    src = h.source(once=False, stop=stop)
    t = threading.Thread(target=src.run, daemon=True)
    t.start()
    return src, stop, t


def test_an_answer_that_never_ends_is_cut_at_its_deadline_and_a_stop_cuts_it_at_once(api, tmp_path):
    expected = fill(api, "rbac", 0, 6)
    h = Harness(api, tmp_path, services=["rbac"], timeout=1.0, answer_deadline=2.0)
    lines = _logged(h)
    api.fail_next(1, real=True, drip=0.3)  # 200, then one body byte every 0.3 s (each read is in time)
    src, stop, t = _running(h)
    try:
        wait_for(lambda: Counter(messages(h.records)) == Counter(expected), timeout=30, what="events after the cut")
        assert lines.count(logging.WARNING, "deadline (2s, `answer_deadline`)") == 1
        assert src.last_error()["kind"] == "timeout"
        api.fail_next(1, real=True, drip=0.5)  # the next answer drips for minutes: a stop must not wait for it
        fill(api, "rbac", 6, 1)
        wait_for(lambda: api.faults == [], timeout=10, what="the dripping answer started")
        time.sleep(0.3)
    finally:
        stop.set()
        t.join(10)
    assert not t.is_alive(), "the stop waited for the dripping answer"


def test_a_stop_cuts_a_server_that_never_sends_its_headers(api, tmp_path):
    fill(api, "rbac", 0, 1)
    h = Harness(api, tmp_path, services=["rbac"], timeout=60.0)
    lines = _logged(h)
    api.fail_next(1, status=200, delay=60.0)  # accepts, then says nothing for a minute
    src, stop, t = _running(h)
    wait_for(lambda: api.faults == [], timeout=10, what="the request being held")
    time.sleep(0.3)
    stop.set()
    t.join(10)
    assert not t.is_alive(), "the stop waited for the server's headers"
    assert lines.records == [], [r.getMessage() for r in lines.records]  # a stop is no failure


def test_answers_over_max_response_bytes_shrink_the_pages_and_a_single_commit_over_it_is_named(api, tmp_path):
    big = "x" * 20_000
    expected = [f"{big}{i}" for i in range(7)]
    for m in expected:
        api.add("rbac", [m])
    h = Harness(api, tmp_path, services=["rbac"], page_size=8, max_response_bytes=64 * 1024)
    lines = _logged(h)
    assert Counter(h.run_once()) == Counter(expected)  # pages of 8 × 20 kB were refused, of 2 read
    assert lines.count(logging.WARNING, "over max_response_bytes (65536)") >= 1
    api.add("rbac", ["y" * 100_000])  # one commit alone over the limit: named, the cursor waits there
    with pytest.raises(EndRun, match="max_response_bytes"):
        h.run_once()
    assert h.state["service:rbac"]["offset"] == 7


def test_one_failing_service_backs_off_alone(api, tmp_path):
    h = Harness(api, tmp_path, services=["classifier", "rbac", "code-manager"], backoff_initial=0.4,
                backoff_max=30.0, poll_interval=0.05)
    api.fail_service("code-manager", 500)
    bad = fill(api, "code-manager", 0, 2)
    src, stop, t = _running(h)
    try:
        shipped: list[str] = []
        for i in range(6):  # each new rbac commit is shipped while code-manager keeps failing
            shipped += fill(api, "rbac", i, 1)
            wait_for(lambda: Counter(messages(h.records)) == Counter(shipped), timeout=10, what=f"rbac commit {i}")
        requests = api.event_requests()
        cm = [r for r in requests if r.params.get("service_id") == "code-manager"]
        rbac = [r for r in requests if r.params.get("service_id") == "rbac"]
        assert len(rbac) > 2 * len(cm), (len(rbac), len(cm))  # backoff doubles for code-manager only
        gaps = [b.at - a.at for a, b in zip(cm, cm[1:])]
        assert all(g2 > g1 for g1, g2 in zip(gaps, gaps[1:])) or len(gaps) < 2, gaps
        assert src.status()["services"]["code-manager"]["failing"] is True
        assert src.status()["services"]["rbac"]["failing"] is False
        api.fail_service("code-manager", None)
        wait_for(lambda: Counter(messages(h.records)) == Counter(shipped + bad), timeout=40, what="code-manager")
    finally:
        stop.set()
        t.join(10)


@pytest.mark.parametrize("form", ["seconds", "http-date"])
def test_retry_after_is_honoured_within_backoff_max(api, tmp_path, form):
    from email.utils import formatdate

    expected = fill(api, "rbac", 0, 2)
    value = "2" if form == "seconds" else formatdate(time.time() + 3, usegmt=True)  # whole seconds: 2 to 3 s
    api.fail_next(1, status=429, headers={"Retry-After": value})
    h = Harness(api, tmp_path, services=["rbac"], backoff_initial=0.02, backoff_max=10.0)
    src, stop, t = _running(h)
    try:
        wait_for(lambda: Counter(messages(h.records)) == Counter(expected), timeout=30, what="events after the 429")
    finally:
        stop.set()
        t.join(10)
    first, second = api.event_requests()[:2]
    assert first.status == 429 and second.at - first.at >= 1.9, second.at - first.at
    # a Retry-After beyond backoff_max waits backoff_max only
    more = fill(api, "rbac", 2, 1)
    api.fail_next(1, status=503, headers={"Retry-After": "3600"})
    h.cfg.update(backoff_max=0.5)
    src, stop, t = _running(h)
    try:
        wait_for(lambda: Counter(messages(h.records)) == Counter(expected + more), timeout=30, what="capped wait")
    finally:
        stop.set()
        t.join(10)


def test_failure_kinds_are_logged_when_they_start_and_change_and_reported(api, tmp_path):
    expected = fill(api, "rbac", 0, 3)
    h = Harness(api, tmp_path, services=["rbac"], backoff_initial=0.02, backoff_max=0.05)
    lines = _logged(h)
    api.fail_next(4, status=503)
    api.fail_next(3, status=429)
    api.fail_next(3, status=401)
    src, stop, t = _running(h)
    try:
        wait_for(lambda: Counter(messages(h.records)) == Counter(expected), timeout=30, what="events after faults")
    finally:
        stop.set()
        t.join(10)
    assert lines.count(logging.WARNING, "HTTP 503") == 1  # the first of four; the rest within the minute: silent
    assert lines.count(logging.WARNING, "HTTP 429") == 1
    assert lines.count(logging.WARNING, "(failure changed from http_5xx)") == 1
    assert lines.count(logging.ERROR, "refused the token") == 1
    assert lines.count(logging.ERROR, "(failure changed from http_429)") == 1
    assert lines.count(logging.INFO, "activity API answers again") == 1
    last = src.last_error()
    assert last["kind"] == "auth" and last["failing"] is False and "token" in last["message"]
    assert metric("shipper_source_failing", source="pe") == 0
    assert metric("shipper_source_last_error_timestamp", source="pe", kind="http_429") > 0


@pytest.mark.parametrize("location", ["absolute", "relative"])
def test_a_redirect_is_named_with_where_it_points_and_never_followed(api, tmp_path, location):
    """A 3xx was logged as kind http_4xx without its Location: the operator could not tell the API moved."""
    expected = fill(api, "rbac", 0, 3)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with PuppetActivityAPI(elsewhere, tls=False) as other:  # where the redirect points: another host and port
        target = other.url("v2") if location == "absolute" else "/moved/activity-api/v2/events"
        shown = target if location == "absolute" else api.url("v2").split("/activity-api")[0] + target
        api.fail_next(3, status=301, headers={"Location": target}, body=b"")
        h = Harness(api, tmp_path, services=["rbac"])
        lines = _logged(h)
        src, stop, t = _running(h)
        try:
            wait_for(lambda: Counter(messages(h.records)) == Counter(expected), timeout=30, what="events after it")
        finally:
            stop.set()
            t.join(10)
        assert other.requests == [], "the redirect was followed (with the token)"
    said = [r for r in lines.records if "HTTP 301" in r.getMessage()]
    assert len(said) == 1 and said[0].levelno == logging.ERROR, [r.getMessage() for r in lines.records]
    assert said[0].__dict__["kind"] == "http_3xx"
    assert f"redirected to {shown}; not followed" in said[0].getMessage()
    assert src.last_error()["kind"] == "http_3xx"
    assert metric("shipper_source_last_error_timestamp", source="pe", kind="http_3xx") > 0


# --- the real agent: /health, `shipper status`, metrics; kill -9 at random moments ------------------------

def _get(url: str) -> tuple[int, bytes]:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError:
        return 0, b""


def test_a_failing_source_shows_in_health_status_and_metrics(api, tmp_path):
    token = tmp_path / "token"
    token.write_text("revoked-token")
    port = free_port()
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"""
state_dir: {tmp_path / 'state'}
http: {{listen: "127.0.0.1:{port}"}}
sources:
  - name: puppet
    type: http_poll
    parser: puppet_enterprise
    url: {api.url('v2')}
    token_file: {token}
    ca_file: {api.ca_file}
    services: [rbac]
    poll_interval: 0.2
    backoff_initial: 0.1
    backoff_max: 0.5
outputs:
  - type: stdout
""")
    expected = fill(api, "rbac", 0, 2)
    out, err = tmp_path / "out.jsonl", tmp_path / "err.log"
    proc = _start(cfg, out, err)
    try:
        def health() -> dict:
            code, body = _get(f"http://127.0.0.1:{port}/health")
            return orjson.loads(body) if code else {}

        wait_for(lambda: health().get("sources_failing", {}).get("puppet"), timeout=60, what="/health naming it")
        doc = health()
        assert doc["status"] == "degraded"
        assert doc["sources_failing"]["puppet"]["kind"] == "auth" and str(token) in doc["sources_failing"]["puppet"]["message"]
        status = subprocess.run(SHIPPER + ["status", "-c", str(cfg)], capture_output=True, text=True, timeout=60)
        assert "failing since" in status.stdout and "[rbac]: auth: activity API: HTTP 401" in status.stdout, status.stdout
        metrics_text = _get(f"http://127.0.0.1:{port}/metrics")[1].decode()
        assert 'shipper_source_failing{source="puppet"} 1.0' in metrics_text
        assert 'shipper_source_last_error_timestamp{kind="auth",source="puppet"}' in metrics_text
        token.write_text("good-token")
        wait_for(lambda: len(_shipped(out)) == len(expected), timeout=60, what="events once the token is renewed")
        wait_for(lambda: health().get("status") == "ok", timeout=30, what="/health ok again")
        status = subprocess.run(SHIPPER + ["status", "-c", str(cfg)], capture_output=True, text=True, timeout=60)
        assert "last error" in status.stdout and "failing since" not in status.stdout, status.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    assert err.read_text().count("refused the token") == 1, err.read_text()


def test_kill_9_at_random_moments_ships_every_event_exactly_once(api, tmp_path):
    import random

    from tests.peers.bulk_server import BulkServer

    rnd = random.Random()
    seed = rnd.randrange(10**6)
    rnd.seed(seed)
    es = BulkServer().start()
    token = tmp_path / "token"
    token.write_text("good-token")
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"""
state_dir: {tmp_path / 'state'}
sources:
  - name: puppet
    type: http_poll
    parser: puppet_enterprise
    url: {api.url('v2')}
    token_file: {token}
    ca_file: {api.ca_file}
    services: [classifier, rbac, code-manager]
    poll_interval: 0.1
    page_size: 3
    backoff_initial: 0.05
    backoff_max: 0.3
outputs:
  - {{type: elasticsearch, hosts: ['{es.url}'], backoff_base: 0.05, backoff_max: 0.5, flush_interval: 0.1,
      batch_size: 20, request_timeout: 5}}
""")
    out, err = tmp_path / "out.log", tmp_path / "err.log"
    expected: list[str] = []
    n = {"classifier": 0, "rbac": 0, "code-manager": 0}

    def grow() -> None:
        for _ in range(rnd.randint(3, 9)):
            s = rnd.choice(list(n))
            expected.extend(fill(api, s, n[s], 1, events_per_commit=rnd.randint(1, 3)))
            n[s] += 1

    def stored() -> list[str]:
        with es._lock:
            return [d.get("message", "") for d in es.docs.values()]

    try:
        grow()
        proc = _start(cfg, out, err)
        for _kill in range(5):
            for _ in range(rnd.randint(1, 4)):  # the API grows while the agent reads, faults included
                grow()
                if rnd.random() < 0.3:
                    api.fail_next(1, status=rnd.choice([500, 503, 429]))
                time.sleep(rnd.uniform(0.05, 0.5))
            proc.kill()  # kill -9: no drain, no checkpoint flush
            proc.wait(30)
            grow()
            proc = _start(cfg, out, err)
        wait_for(lambda: len(stored()) >= len(expected), timeout=120, what=f"every event (seed {seed})")
        time.sleep(1.0)  # more polls: nothing further may arrive
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        es.stop()
    got = Counter(stored())
    assert got == Counter(expected), (seed, err.read_text()[-3000:])
