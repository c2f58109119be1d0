"""`type: azure_blob` against Azurite, written to with the official client: appends between polls,
a new hour's blob, late appends to the previous hour, deletion and re-creation under one name,
100 KB lines, thousands of blobs, listing bounded by time, and the failures (refused key, missing
container, throttling) named and retried."""
from __future__ import annotations

import logging
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest

from shipper.plugin import EndRun, RawBatch, SourceContext
from shipper_plugins.sources.azure_blob import AzureBlobSource, AzureBlobSourceConfig
from shipper_plugins.sources.azure_blob_state import blob_hour, hour_root, list_prefixes
from tests.azurite import ACCOUNT, DATABRICKS_ROOT, KEY, hour_blob
from tests.support import wait_until

UTC = timezone.utc


def record(category: str = "accounts", action: str = "login", log_id: str | None = None, pad: int = 0) -> bytes:
    doc = {"resourceId": "/" + DATABRICKS_ROOT.split("=/", 1)[1].rstrip("/"), "operationVersion": "1.0.0",
           "identity": '{"email":"a@example.com","subjectName":null}', "category": category,
           "operationName": f"Microsoft.Databricks/{category}/{action}", "time": "2026-12-04T10:00:00Z",
           "properties": {"logId": log_id or str(uuid.uuid4()), "serviceName": category, "actionName": action,
                          "sourceIPAddress": "10.0.0.1", "requestParams": '{"pad":"' + "x" * pad + '"}',
                          "response": '{"statusCode":200}'}}
    return orjson.dumps(doc) + b"\n"


def log_id(raw: bytes) -> str:
    return orjson.loads(raw)["properties"]["logId"]


class Harness:
    """The source in-process; each batch is acknowledged at once unless `ack` is False."""

    def __init__(self, az, tmp_path: Path, **overrides):
        self.tmp = tmp_path
        (tmp_path / "key").write_text(KEY + "\n")
        (tmp_path / "key").chmod(0o600)
        self.state: dict = {}
        self.records: list[bytes] = []
        self.keys: list[str] = []
        self.flags: list[tuple] = []
        self.batches: list[RawBatch] = []
        self.cfg = dict(name="dbx", type="azure_blob", parser="databricks", account_url=az.url,
                        containers=["insights-logs-*"], account_name=ACCOUNT, account_key_file=str(tmp_path / "key"),
                        poll_interval=0.05, backoff_initial=0.02, backoff_max=0.2, timeout=10)
        self.cfg.update(overrides)
        self.ack = True
        self.lock = threading.Lock()

    def emit(self, batch: RawBatch) -> None:
        assert len(batch.records) == len(batch.keys)
        with self.lock:
            self.batches.append(batch)
            self.records.extend(batch.records)
            self.keys.extend(batch.keys)
            self.flags.extend(batch.flags or [()] * len(batch.records))
            if self.ack:
                self.state.update(batch.checkpoint)
                for k in [k for k, v in self.state.items() if v is None]:
                    del self.state[k]

    def source(self, once: bool = True, stop: threading.Event | None = None) -> AzureBlobSource:
        cfg = AzureBlobSourceConfig.model_validate(self.cfg)
        ctx = SourceContext(name="dbx", emit=self.emit, stop=stop or threading.Event(), once=once,
                            state=dict(self.state), state_dir=str(self.tmp), logger=logging.getLogger("test.azure"))
        return AzureBlobSource(cfg, ctx)

    def once(self) -> list[bytes]:
        n = len(self.records)
        src = self.source()
        try:
            src.run()
        finally:
            src.close()
        return self.records[n:]


def fresh_container(az, stem: str = "x") -> str:
    name = f"insights-logs-{stem}{uuid.uuid4().hex[:8]}"
    az.container(name)
    return name


def now_hour() -> datetime:
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def blob_at(h: datetime) -> str:
    return hour_blob(DATABRICKS_ROOT, h.year, h.month, h.day, h.hour)


# --- the path layout ------------------------------------------------------------------------------

def test_hour_and_root_from_azure_monitor_path():
    name = blob_at(datetime(2026, 3, 9, 7, tzinfo=UTC))
    assert blob_hour(name) == datetime(2026, 3, 9, 7, tzinfo=UTC)
    assert hour_root(name) == DATABRICKS_ROOT
    assert hour_root("y=2026/m=01/d=01/h=00/m=00/PT1H.json") == ""
    assert blob_hour("other/file.json") is None and hour_root("other/file.json") is None
    assert blob_hour("y=2026/m=13/d=01/h=00/x") is None  # no such month: not bounded by time


def test_listing_prefixes_cover_the_span_by_day_then_by_month():
    r = "R/"
    got = list_prefixes(r, datetime(2026, 2, 27, 22, tzinfo=UTC), datetime(2026, 3, 1, 3, tzinfo=UTC))
    assert got == ["R/y=2026/m=02/d=27/", "R/y=2026/m=02/d=28/", "R/y=2026/m=03/d=01/"]
    got = list_prefixes(r, datetime(2025, 11, 5, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC))
    assert got == ["R/y=2025/m=11/", "R/y=2025/m=12/", "R/y=2026/m=01/", "R/y=2026/m=02/"]


def test_config_requires_one_credential_and_an_account(tmp_path):
    base = dict(name="d", type="azure_blob", parser="databricks", containers=["c"])
    with pytest.raises(ValueError, match="one credential"):
        AzureBlobSourceConfig.model_validate({**base, "account_url": "https://a.blob.core.windows.net",
                                              "account_key_file": "k", "sas_token_file": "s"})
    with pytest.raises(ValueError, match="account_url is required"):
        AzureBlobSourceConfig.model_validate({**base, "sas_token_file": "s"})
    c = AzureBlobSourceConfig.model_validate({**base, "account_url": "https://acme.blob.core.windows.net",
                                              "account_key_file": "k"})
    assert c.account_name == "acme"
    c = AzureBlobSourceConfig.model_validate({**base, "account_url": "http://127.0.0.1:10000/devstoreaccount1",
                                              "account_key_file": "k"})
    assert c.account_name == "devstoreaccount1"
    assert AzureBlobSourceConfig.model_validate({**base, "connection_string_file": "cs"}).account_url is None


# --- reading --------------------------------------------------------------------------------------

def test_appends_between_polls_are_read_once_with_ranged_reads(azurite, tmp_path):
    c = fresh_container(azurite)
    h = Harness(azurite, tmp_path, containers=[c])
    name = blob_at(now_hour())
    first = [record() for _ in range(5)]
    azurite.append(c, name, b"".join(first))
    assert h.once() == [r.rstrip(b"\n") for r in first]
    assert h.once() == []
    more = [record() for _ in range(3)]
    azurite.append(c, name, b"".join(more))
    assert h.once() == [r.rstrip(b"\n") for r in more]
    # Keys are (blob identity, byte offset): the second read started where the first ended.
    offsets = [int(k.rsplit(":", 1)[1]) for k in h.keys]
    assert offsets == [sum(len(r) for r in (first + more)[:i]) for i in range(8)]
    assert len({k.rsplit(":", 1)[0] for k in h.keys}) == 1


def test_partial_last_line_waits_until_it_is_completed(azurite, tmp_path):
    c = fresh_container(azurite)
    h = Harness(azurite, tmp_path, containers=[c])
    name = blob_at(now_hour())
    a, b = record(), record()
    azurite.append(c, name, a + b[:40])
    assert h.once() == [a.rstrip(b"\n")]
    assert h.once() == []
    azurite.append(c, name, b[40:])
    assert h.once() == [b.rstrip(b"\n")]


def test_unacknowledged_batches_are_read_again(azurite, tmp_path):
    c = fresh_container(azurite)
    h = Harness(azurite, tmp_path, containers=[c])
    name = blob_at(now_hour())
    recs = [record() for _ in range(4)]
    azurite.append(c, name, b"".join(recs))
    h.ack = False  # the output never acknowledged: the checkpoint did not move
    assert len(h.once()) == 4
    h.ack = True
    assert h.once() == [r.rstrip(b"\n") for r in recs]
    assert h.once() == []


def test_new_hour_and_late_append_to_previous_hour(azurite, tmp_path):
    c = fresh_container(azurite)
    h = Harness(azurite, tmp_path, containers=[c])
    prev, cur = now_hour() - timedelta(hours=1), now_hour()
    p1 = [record() for _ in range(3)]
    azurite.append(c, blob_at(prev), b"".join(p1))
    assert len(h.once()) == 3
    c1 = [record() for _ in range(2)]
    azurite.append(c, blob_at(cur), b"".join(c1))  # a new hour begins
    late = [record()]
    azurite.append(c, blob_at(prev), b"".join(late))  # a late record lands in the previous hour
    got = h.once()
    assert sorted(map(log_id, got)) == sorted(map(log_id, late + c1))
    assert h.once() == []


def test_deleted_and_recreated_blob_is_read_anew(azurite, tmp_path):
    c = fresh_container(azurite)
    h = Harness(azurite, tmp_path, containers=[c])
    name = blob_at(now_hour())
    old = [record() for _ in range(3)]
    azurite.append(c, name, b"".join(old))
    assert len(h.once()) == 3
    old_fid = h.keys[0].rsplit(":", 1)[0]
    azurite.container(c).delete_blob(name)
    import time
    time.sleep(1.1)  # Azure's creation time has a resolution of one second
    new = [record() for _ in range(2)]
    azurite.append(c, name, b"".join(new))  # shorter than what was read: a pure offset would miss it
    assert h.once() == [r.rstrip(b"\n") for r in new]
    assert h.keys[-1].rsplit(":", 1)[0] != old_fid and h.keys[-2].endswith(":0")
    assert h.once() == []


def test_100kb_lines_and_lines_over_the_limit_are_cut_and_flagged(azurite, tmp_path):
    c = fresh_container(azurite)
    h = Harness(azurite, tmp_path, containers=[c], max_line_bytes=150_000)
    name = blob_at(now_hour())
    big = [record(pad=100_000) for _ in range(5)]
    huge = record(pad=200_000)
    azurite.append(c, name, b"".join(big) + huge + record())
    got = h.once()
    assert got[:5] == [r.rstrip(b"\n") for r in big] and all(f == () for f in h.flags[:5])
    pieces = got[5:-1]
    assert len(pieces) == 2 and b"".join(pieces) == huge.rstrip(b"\n")
    assert all("_line_truncated" in f for f in h.flags[5:7]) and h.flags[-1] == ()
    assert h.once() == []


def test_globbed_containers_and_categories(azurite, tmp_path):
    stem = uuid.uuid4().hex[:6]
    cats = [f"insights-logs-{stem}a", f"insights-logs-{stem}b"]
    want = []
    for cat in cats:
        recs = [record(category=cat) for _ in range(3)]
        want += recs
        azurite.append(cat, blob_at(now_hour()), b"".join(recs))
    azurite.container(f"other-{stem}")  # not matched by the glob
    azurite.append(f"other-{stem}", blob_at(now_hour()), record())
    h = Harness(azurite, tmp_path, containers=[f"insights-logs-{stem}*"])
    assert sorted(map(log_id, h.once())) == sorted(map(log_id, want))


# 46 days of hourly blobs: more day folders than the 40 requests the last poll may make (a poll listing
# every day since the start would exceed it), and far more blobs than the 49 the state may keep. (It was
# 2,200, three months: 61 s of a loaded run, proving no more.)
HOURS = 1104


def test_thousands_of_blobs_then_only_recent_hours_are_listed(azurite, tmp_path):
    c = fresh_container(azurite)
    # lookback 0: an hour is closed as soon as it is over and fully read (the blobs were all just written)
    h = Harness(azurite, tmp_path, containers=[c], lookback=0, batch_size=500)
    start = now_hour() - timedelta(hours=HOURS - 1)
    want = []
    cc = azurite.container(c)

    # The hourly blobs, written in parallel to keep the test short.
    def write(hours):
        for i in hours:
            rec = record()
            want.append(rec)
            cc.get_blob_client(blob_at(start + timedelta(hours=i))).upload_blob(rec, blob_type="AppendBlob")

    threads = [threading.Thread(target=write, args=(range(k, HOURS, 8),)) for k in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    got = h.once()
    assert sorted(map(log_id, got)) == sorted(map(log_id, want))
    # Fully read hours older than the look-back are closed, and their blobs forgotten once no poll lists
    # them (from the day before the mark's day): the state stays small, at most two days of hourly blobs.
    assert len([k for k in h.state if k.startswith("blob:")]) <= 49
    assert any(k.startswith("hours:") for k in h.state)
    # An append to a blob long past the look-back is not listed again; the current hour is.
    azurite.append(c, blob_at(start), record())
    cur = record()
    azurite.append(c, blob_at(now_hour()), cur)
    requests = count_requests(azurite, lambda: h.once())
    assert h.records[-1] == cur.rstrip(b"\n") and len(h.records) == HOURS + 1
    assert requests < 40, f"{requests} requests for a poll of a few recent hours"


def test_old_hours_written_to_recently_stay_listed(azurite, tmp_path):
    """Blobs of past hours (a replay, a backfill, a late writer) are listed while they are written to,
    and for `lookback` after; then they are closed and no longer listed."""
    c = fresh_container(azurite)
    h = Harness(azurite, tmp_path, containers=[c], lookback=4)
    old = datetime(2025, 5, 15, 10, tzinfo=UTC)
    azurite.append(c, blob_at(old), record())
    assert len(h.once()) == 1
    for i in range(3):  # rounds of appends to hours long past, and a new (past) hour
        azurite.append(c, blob_at(old), record())
        azurite.append(c, blob_at(old + timedelta(hours=1 + i)), record())
        assert len(h.once()) == 2
    wait_until(lambda: h.once() == [] and any(k.startswith("hours:") and h.state[k] > "2025-05-15T13"
                                               for k in h.state), 30, "the old hours closed")
    assert not [k for k in h.state if k.startswith("blob:")]


def count_requests(az, fn) -> int:
    """Requests Azurite answered while fn ran, from the SDK's side (a per-call hook)."""
    from azure.core.pipeline.policies import SansIOHTTPPolicy
    from azure.storage.blob import BlobServiceClient as Real

    seen = []

    class Count(SansIOHTTPPolicy):
        def on_request(self, request):
            seen.append(request.http_request.url)

    import shipper_plugins.sources.azure_blob_client as client_mod

    orig = client_mod.BlobServiceClient

    class Counting(Real):
        def __init__(self, *a, **kw):
            super().__init__(*a, per_call_policies=[Count()], **kw)

    client_mod.BlobServiceClient = Counting
    try:
        fn()
    finally:
        client_mod.BlobServiceClient = orig
    return len(seen)


# --- failures -------------------------------------------------------------------------------------

def test_wrong_key_is_named_and_once_ends_with_an_error(azurite, tmp_path):
    c = fresh_container(azurite)
    azurite.append(c, blob_at(now_hour()), record())
    h = Harness(azurite, tmp_path, containers=[c])
    (tmp_path / "key").write_text("d3Jvbmcta2V5LW5vdC10aGUtZW11bGF0b3Jz" * 2 + "\n")
    src = h.source()
    with pytest.raises(EndRun, match=r"HTTP 403 .*credentials were refused"):
        src.run()
    err = src.last_error()
    assert err["kind"] == "auth" and err["failing"] and "credentials were refused" in err["message"]
    assert KEY not in str(err) and "d3Jvbmcta2V5" not in str(err)
    assert h.records == []


def test_missing_container_is_named_and_the_others_are_read(azurite, tmp_path):
    c = fresh_container(azurite)
    azurite.append(c, blob_at(now_hour()), record())
    h = Harness(azurite, tmp_path, containers=[c, "insights-logs-nosuchthing"])
    src = h.source()
    with pytest.raises(EndRun, match="container insights-logs-nosuchthing.*container not found"):
        src.run()
    err = src.last_error()
    assert len(h.records) == 1 and err["kind"] == "container_missing"
    assert list(err["failing_now"]) == ["insights-logs-nosuchthing"]


def test_daemon_recovers_when_the_container_appears(azurite, tmp_path):
    name = f"insights-logs-late{uuid.uuid4().hex[:8]}"
    h = Harness(azurite, tmp_path, containers=[name])
    stop = threading.Event()
    src = h.source(once=False, stop=stop)
    t = threading.Thread(target=src.run)
    t.start()
    try:
        wait_until(lambda: src.last_error() is not None, 30, "the missing container reported")
        assert "container not found" in src.last_error()["message"]
        rec = record()
        azurite.append(name, blob_at(now_hour()), rec)
        wait_until(lambda: h.records == [rec.rstrip(b"\n")], 30, "the record read once the container exists")
        wait_until(lambda: not src.last_error()["failing"], 30, "healthy again")
    finally:
        stop.set()
        t.join(30)
    assert not t.is_alive()


# --- throttling and hangs (a fault-injecting proxy in front of Azurite) ----------------------------

@pytest.fixture
def faults(azurite):
    from tests.peers.storage_faults import StorageFaults

    f = StorageFaults(azurite.port)
    yield f
    f.close()


def via(faults) -> str:
    return f"http://127.0.0.1:{faults.port}/{ACCOUNT}"


@pytest.mark.parametrize("status", [429, 503])
def test_throttling_is_retried_after_retry_after_and_nothing_is_lost(azurite, faults, tmp_path, status):
    c = fresh_container(azurite)
    recs = [record() for _ in range(20)]
    azurite.append(c, blob_at(now_hour()), b"".join(recs))
    h = Harness(azurite, tmp_path, containers=[c], account_url=via(faults), batch_size=3, backoff_max=5)
    stop = threading.Event()
    src = h.source(once=False, stop=stop)
    faults.throttle((status, "1"), (status, "1"))
    t = threading.Thread(target=src.run)
    t.start()
    try:
        wait_until(lambda: len(h.records) == 20, 60, "every record despite the throttling")
    finally:
        stop.set()
        t.join(30)
    assert h.records == [r.rstrip(b"\n") for r in recs]
    err = src.last_error()
    assert err["kind"] == "throttled" and f"HTTP {status}" in err["message"] and not err["failing"]
    # Retry-After: 1 was honoured (the source's own backoff here is 0.02 s; Retry-After is capped at backoff_max).
    log = faults.log
    for i, (t0, _, st) in enumerate(log[:-1]):
        if st == status:
            assert log[i + 1][0] - t0 >= 0.9, log


def test_retry_after_as_an_http_date(azurite, faults, tmp_path):
    from email.utils import formatdate

    c = fresh_container(azurite)
    azurite.append(c, blob_at(now_hour()), record())
    h = Harness(azurite, tmp_path, containers=[c], account_url=via(faults), backoff_max=5)
    faults.throttle((503, formatdate(time.time() + 2, usegmt=True)))
    assert len(h.once()) == 1
    (t0, _, st), (t1, _, _) = faults.log[0], faults.log[1]
    assert st == 503 and t1 - t0 >= 0.9


def test_once_gives_up_on_lasting_throttling_and_names_it(azurite, faults, tmp_path):
    c = fresh_container(azurite)
    azurite.append(c, blob_at(now_hour()), record())
    h = Harness(azurite, tmp_path, containers=[c], account_url=via(faults))
    faults.throttle(*[(503, "0")] * 50)
    with pytest.raises(EndRun, match=r"still failing after 3 attempts.*HTTP 503 ServerBusy \(throttled\)"):
        h.source().run()
    assert h.records == []


def test_a_hanging_server_times_out_in_once_and_does_not_hold_a_stop(azurite, faults, tmp_path):
    c = fresh_container(azurite)
    azurite.append(c, blob_at(now_hour()), record())
    h = Harness(azurite, tmp_path, containers=[c], account_url=via(faults), timeout=1)
    faults.hang.set()
    with pytest.raises(EndRun, match="still failing after 3 attempts"):
        h.source().run()
    stop = threading.Event()
    src = h.source(once=False, stop=stop)
    t = threading.Thread(target=src.run)
    t.start()
    wait_until(lambda: src.last_error() is not None, 30, "the hang reported")
    stop.set()
    t.join(10)  # a call in progress ends within its timeout
    assert not t.is_alive()
    faults.hang.clear()
    faults.released.set()
    assert len(h.once()) == 1


# --- the other credentials ------------------------------------------------------------------------

def sas(expiry: datetime) -> str:
    from azure.storage.blob import AccountSasPermissions, ResourceTypes, generate_account_sas

    return generate_account_sas(ACCOUNT, KEY, ResourceTypes(service=True, container=True, object=True),
                                AccountSasPermissions(read=True, list=True), expiry=expiry)


def test_connection_string_file(azurite, tmp_path):
    c = fresh_container(azurite)
    azurite.append(c, blob_at(now_hour()), record())
    (tmp_path / "cs").write_text(f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};"
                                 f"BlobEndpoint={azurite.url};\n")
    h = Harness(azurite, tmp_path, containers=[c])
    for k in ("account_url", "account_name", "account_key_file"):
        del h.cfg[k]
    h.cfg["connection_string_file"] = str(tmp_path / "cs")
    assert len(h.once()) == 1


def test_expired_sas_is_named_and_a_renewed_one_is_picked_up(azurite, tmp_path):
    c = fresh_container(azurite)
    rec = record()
    azurite.append(c, blob_at(now_hour()), rec)
    (tmp_path / "sas").write_text(sas(datetime.now(UTC) - timedelta(hours=1)) + "\n")
    h = Harness(azurite, tmp_path, containers=[c], sas_token_file=str(tmp_path / "sas"))
    del h.cfg["account_key_file"]
    stop = threading.Event()
    src = h.source(once=False, stop=stop)
    t = threading.Thread(target=src.run)
    t.start()
    try:
        wait_until(lambda: src.last_error() is not None, 30, "the expired SAS reported")
        err = src.last_error()
        assert err["kind"] == "auth" and "HTTP 403" in err["message"] and "sig=" not in str(err)
        (tmp_path / "sas").write_text(sas(datetime.now(UTC) + timedelta(hours=1)) + "\n")
        wait_until(lambda: h.records == [rec.rstrip(b"\n")], 30, "read with the renewed SAS")
        wait_until(lambda: not src.last_error()["failing"], 30, "healthy again")
    finally:
        stop.set()
        t.join(30)


def test_a_glob_matching_no_container_is_said_once(azurite, tmp_path, caplog):
    h = Harness(azurite, tmp_path, containers=[f"insights-logs-none{uuid.uuid4().hex[:8]}*"])
    stop = threading.Event()
    src = h.source(once=False, stop=stop)
    polls = []
    real = src._connect_and_list
    src._connect_and_list = lambda: polls.append(1) or real()  # counts the polls of the real loop
    t = threading.Thread(target=src.run)
    with caplog.at_level(logging.WARNING, logger="test.azure"):
        t.start()
        try:
            wait_until(lambda: len(polls) >= 5, 30, "five polls")
        finally:
            stop.set()
            t.join(30)
    assert h.records == [] and src.last_error() is None
    assert len([r for r in caplog.records if "no container matches" in r.getMessage()]) == 1


def test_stable_ids_come_from_log_id_so_a_replay_is_recognised(azurite, tmp_path):
    """What Elasticsearch gets as `_id`: the same for a record read twice (here: not acknowledged the
    first time), made from the source's namespace and the logId."""
    from shipper.events import EventBuilder
    from shipper.ids import vendor_stable_id
    from shipper_plugins.parsers.databricks import DatabricksParser

    c = fresh_container(azurite)
    recs = [record() for _ in range(3)]
    azurite.append(c, blob_at(now_hour()), b"".join(recs))
    h = Harness(azurite, tmp_path, containers=[c])
    builder = EventBuilder(AzureBlobSourceConfig.model_validate(h.cfg), DatabricksParser(), "host")
    h.ack = False
    h.once()
    first = [i for b in h.batches for i in builder.build(b)[1]]
    h.batches.clear()
    h.ack = True
    h.once()
    again = [i for b in h.batches for i in builder.build(b)[1]]
    assert first == again == [vendor_stable_id("dbx", log_id(r)) for r in recs]


from hypothesis import HealthCheck, given, settings, strategies as hs  # noqa: E402

pytestmark = pytest.mark.slow


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=hs.lists(hs.binary(min_size=0, max_size=200).map(lambda b: b.replace(b"\n", b"n").replace(b"\r", b"r")),
                      min_size=1, max_size=12),
       cuts=hs.lists(hs.floats(0, 1), max_size=6))
def test_any_append_pattern_gives_every_line_once_cut_at_the_limit(azurite, tmp_path_factory, lines, cuts):
    """Lines appended in arbitrary pieces (a line split across appends, several per append), polled
    after every append: each line arrives once, whole or in flagged pieces of at most max_line_bytes."""
    c = fresh_container(azurite, "p")
    h = Harness(azurite, tmp_path_factory.mktemp("prop"), containers=[c], max_line_bytes=64, batch_size=5)
    data = b"".join(line + b"\n" for line in lines)
    points = sorted({0, len(data), *(int(f * len(data)) for f in cuts)})
    for a, b in zip(points, points[1:]):
        if b > a:
            azurite.append(c, blob_at(now_hour()), data[a:b])
            h.once()
    starts = [sum(len(x) + 1 for x in lines[:i]) for i in range(len(lines))]
    got: dict[int, list[tuple[bytes, tuple]]] = {i: [] for i in range(len(lines))}
    for rec, key, flags in zip(h.records, h.keys, h.flags):
        off = int(key.rsplit(":", 1)[1])
        i = max(j for j, s in enumerate(starts) if s <= off)
        got[i].append((rec, flags))
    for i, line in enumerate(lines):
        pieces = got[i]
        assert b"".join(p for p, _ in pieces) == line
        assert all(len(p) <= 64 for p, _ in pieces)
        long = len(line) > 64
        assert all(("_line_truncated" in f) == long for _, f in pieces), (line, pieces)
        assert len(pieces) == (1 if not long else -(-len(line) // 64))


@pytest.mark.parametrize("read_ahead", [1, 4])
def test_failures_in_the_middle_of_many_blobs_lose_and_repeat_nothing(azurite, faults, tmp_path, read_ahead):
    c = fresh_container(azurite)
    start = now_hour() - timedelta(hours=40)
    want = []
    for i in range(40):
        recs = [record() for _ in range(3)]
        want += recs
        azurite.append(c, blob_at(start + timedelta(hours=i)), b"".join(recs))
    h = Harness(azurite, tmp_path, containers=[c], account_url=via(faults), read_ahead=read_ahead, batch_size=2)
    # Pass the listings and some reads, then refuse a run of requests (downloads ahead included).
    faults.throttle(*[(None, None)] * 25, *[(503, "0")] * 6, *[(None, None)] * 7, *[(500, None)] * 2)
    stop = threading.Event()
    src = h.source(once=False, stop=stop)
    t = threading.Thread(target=src.run)
    t.start()
    try:
        wait_until(lambda: len(h.records) >= len(want), 60, "every record")
    finally:
        stop.set()
        t.join(30)
    assert h.records == [r.rstrip(b"\n") for r in want]  # in blob order, each once
    assert sum(1 for _, _, st in faults.log if st >= 500) == 8


def test_no_credential_given_uses_azures_default_chain_or_names_the_missing_package(azurite, tmp_path):
    import importlib.util

    c = fresh_container(azurite)
    h = Harness(azurite, tmp_path, containers=[c])
    del h.cfg["account_key_file"], h.cfg["account_name"]
    src = h.source()
    with pytest.raises(EndRun) as e:
        src.run()  # Azurite accepts no Azure AD token over http: it fails either way, but must say why
    if importlib.util.find_spec("azure.identity") is None:
        assert "pip install azure-identity" in str(e.value)
    assert src.last_error()["failing"]


def test_an_unexpected_error_is_logged_and_retried_not_fatal(azurite, tmp_path):
    c = fresh_container(azurite)
    rec = record()
    azurite.append(c, blob_at(now_hour()), rec)
    h = Harness(azurite, tmp_path, containers=[c])
    stop = threading.Event()
    src = h.source(once=False, stop=stop)
    real, calls = src._discover, []

    def broken_once(*a):  # a bug that strikes once (the source's own code, not Azure)
        calls.append(1)
        if len(calls) == 1:
            raise KeyError("boom")
        return real(*a)

    src._discover = broken_once
    t = threading.Thread(target=src.run)
    t.start()
    try:
        wait_until(lambda: h.records == [rec.rstrip(b"\n")], 30, "read after the error")
    finally:
        stop.set()
        t.join(30)
    assert src.last_error()["kind"] == "internal" and "KeyError" in src.last_error()["message"]


def test_a_missing_container_backs_off_alone(azurite, faults, tmp_path):
    c = fresh_container(azurite)
    missing = f"insights-logs-gone{uuid.uuid4().hex[:8]}"
    h = Harness(azurite, tmp_path, containers=[missing, c], account_url=via(faults), backoff_initial=60,
                backoff_max=120)
    stop = threading.Event()
    src = h.source(once=False, stop=stop)
    t = threading.Thread(target=src.run)
    t.start()
    try:
        for i in range(3):  # rounds read while the missing container waits out its backoff (>= 30 s)
            rec = record()
            azurite.append(c, blob_at(now_hour()), rec)
            wait_until(lambda: h.records[-1:] == [rec.rstrip(b"\n")], 25, f"round {i}")
    finally:
        stop.set()
        t.join(30)
    tried = [p for _, p, _ in faults.log if f"/{missing}?" in p]
    assert len(tried) == 1, tried
    assert list(src.last_error()["failing_now"]) == [missing]
