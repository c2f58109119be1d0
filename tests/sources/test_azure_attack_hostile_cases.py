"""Hostile storage and operator moves against the `azure_blob` source that it withstands, kept as
regression tests (issue 17 attack): each drives a real `shipper run` (stdout to a file) against
Azurite, directly or through tests/peers/storage_meddler.py, and counts logIds one by one."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import orjson
import pytest

from tests.azurite import ACCOUNT, DATABRICKS_ROOT, KEY, hour_blob
from tests.peers.storage_meddler import Meddler
from tests.sources.test_azure_blob import record
from tests.support import wait_until

pytestmark = pytest.mark.slow

SHIPPER = [sys.executable, "-m", "shipper.cli"]


class Run:
    def __init__(self, az, tmp: Path, container: str, url: str | None = None, **extra):
        self.tmp, self.n = tmp, 0
        (tmp / "key").write_text(KEY + "\n")
        (tmp / "key").chmod(0o600)
        lines = [f"state_dir: {tmp / 'state'}", "sources:", "  - name: dbx", "    type: azure_blob",
                 "    parser: databricks", f"    account_url: {url or az.url}", f'    containers: ["{container}"]',
                 f"    account_name: {ACCOUNT}", f"    account_key_file: {tmp / 'key'}", "    poll_interval: 0.3",
                 "    backoff_initial: 0.1", "    backoff_max: 0.5", "    timeout: 5"]
        lines += [f"    {k}: {v}" for k, v in extra.items()]
        lines += ["outputs:", "  - type: stdout"]
        self.cfg = tmp / "shipper.yaml"
        self.cfg.write_text("\n".join(lines) + "\n")
        self.outs: list[Path] = []
        self.errs: list[str] = []

    def once(self):
        out = self.tmp / f"out{self.n}.ndjson"
        self.n += 1
        with open(out, "wb") as fo:
            r = subprocess.run(SHIPPER + ["run", "--once", "-c", str(self.cfg)], stdout=fo, stderr=subprocess.PIPE,
                               timeout=80)
        self.outs.append(out)
        self.errs.append(r.stderr.decode())
        return r.returncode, [orjson.loads(l) for l in out.read_bytes().splitlines() if l.strip()], r.stderr.decode()

    def all_ids(self):
        return Counter(orjson.loads(l)["event"]["id"] for o in self.outs for l in o.read_bytes().splitlines() if l.strip())


def lid(raw: bytes) -> str:
    return orjson.loads(raw)["properties"]["logId"]


def cont(az, stem="x"):
    name = f"insights-logs-{stem}{uuid.uuid4().hex[:8]}"
    az.container(name)
    return name


def now_hour():
    return datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)


def blob_at(h):
    return hour_blob(DATABRICKS_ROOT, h.year, h.month, h.day, h.hour)


def ids_of(docs):
    return [d["event"]["id"] for d in docs]


def test_utf8_split(azurite, tmp_path):
    c = cont(azurite)
    r = Run(azurite, tmp_path, c)
    rec = record(action="löginé")
    cut = rec.index("ö".encode()) + 1
    b = blob_at(now_hour())
    azurite.append(c, b, record() + rec[:cut])
    rc, d1, e1 = r.once()
    azurite.append(c, b, rec[cut:])
    rc2, d2, e2 = r.once()
    docs = d1 + d2
    assert len(docs) == 2, docs
    assert "löginé" in orjson.dumps(docs[1]).decode(), docs[1]


@pytest.mark.parametrize("shorter", [True, False])
def test_delete_recreate(azurite, tmp_path, shorter):
    c = cont(azurite)
    r = Run(azurite, tmp_path, c)
    b = blob_at(now_hour())
    first = [record() for _ in range(5)]
    azurite.append(c, b, b"".join(first))
    r.once()
    azurite.client.get_container_client(c).delete_blob(b)
    second = [record() for _ in range(2 if shorter else 5)]
    azurite.append(c, b, b"".join(second))
    rc, d, e = r.once()
    assert sorted(ids_of(d)) == sorted(lid(x) for x in second), (e, ids_of(d))


def pin_creation_time(med, stamp: str = "Fri, 04 Dec 2026 15:00:00 GMT"):
    """Every blob seems created at `stamp` (Azure's creation time has one-second resolution: a blob deleted
    and re-created within one second looks the same by it, which this makes certain)."""
    import re

    def hook(m, path, h, st, rh, body):
        rh = [(k, stamp if k.lower() == "x-ms-creation-time" else v) for k, v in rh]
        if "comp=list" in path:
            body = re.sub(rb"<Creation-Time>[^<]*</Creation-Time>", f"<Creation-Time>{stamp}</Creation-Time>".encode(),
                          body)
        return st, rh, body
    med.hook = hook


@pytest.mark.parametrize("how", ["same_length", "longer"])
def test_recreated_within_one_second_is_read_anew(azurite, tmp_path, med, how):
    """Session 3's identity (creation time + name) took such a blob for the old one: its records were
    taken as read (same length) or read from the old offset, mid-line (longer). The bytes before the
    offset, compared whenever the listing's ETag changed, tell them apart."""
    c = cont(azurite)
    r = Run(azurite, tmp_path, c, url=med.url)
    pin_creation_time(med)
    b = blob_at(now_hour())
    first = [record() for _ in range(5)]
    azurite.append(c, b, b"".join(first))
    rc, d1, e1 = r.once()
    assert sorted(ids_of(d1)) == sorted(lid(x) for x in first), e1
    azurite.client.get_container_client(c).delete_blob(b)
    second = [record() for _ in range(5 if how != "longer" else 8)]
    assert how == "longer" or len(b"".join(second)) == len(b"".join(first))
    azurite.append(c, b, b"".join(second))
    rc, d2, e2 = r.once()
    assert sorted(ids_of(d2)) == sorted(lid(x) for x in second), e2
    more = [record() for _ in range(2)]
    azurite.append(c, b, b"".join(more))
    rc, d3, e3 = r.once()
    assert ids_of(d3) == [lid(x) for x in more], e3  # the new blob's appends go on from its own offset
    assert r.all_ids() == Counter(lid(x) for x in first + second + more)


def test_metadata_change_alone_repeats_nothing(azurite, tmp_path):
    """Setting metadata changes the ETag and nothing else: the check reads the bytes before the offset,
    finds them unchanged, and ships nothing again."""
    c = cont(azurite)
    r = Run(azurite, tmp_path, c)
    b = blob_at(now_hour())
    first = [record() for _ in range(3)]
    azurite.append(c, b, b"".join(first))
    r.once()
    azurite.client.get_blob_client(c, b).set_blob_metadata({"touched": "yes"})
    rc, d, e = r.once()
    assert d == [], e
    azurite.append(c, b, record())
    rc, d, e = r.once()
    assert len(d) == 1, e


@pytest.mark.parametrize("longer", [True, False])
def test_put_blob_overwrite(azurite, tmp_path, longer):
    c = cont(azurite)
    r = Run(azurite, tmp_path, c)
    b = blob_at(now_hour())
    first = [record() for _ in range(3)]
    azurite.append(c, b, b"".join(first))
    r.once()
    time.sleep(1.1)
    second = [record() for _ in range(6 if longer else 2)]
    azurite.client.get_blob_client(c, b).upload_blob(b"".join(second), overwrite=True)
    rc, d, e = r.once()
    got = set(ids_of(d))
    missing = {lid(x) for x in second} - got
    assert not missing, (e, missing)


def test_block_blobs(azurite, tmp_path):
    c = cont(azurite)
    r = Run(azurite, tmp_path, c)
    b = blob_at(now_hour())
    recs = [record() for _ in range(4)]
    azurite.client.get_blob_client(c, b).upload_blob(b"".join(recs))
    rc, d, e = r.once()
    assert sorted(ids_of(d)) == sorted(lid(x) for x in recs), e


def test_container_recreated(azurite, tmp_path):
    c = cont(azurite)
    r = Run(azurite, tmp_path, c)
    b = blob_at(now_hour())
    first = [record() for _ in range(5)]
    azurite.append(c, b, b"".join(first))
    r.once()
    azurite.client.delete_container(c)
    deadline = time.monotonic() + 60
    while True:
        try:
            azurite.client.create_container(c)
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    second = [record() for _ in range(2)]
    azurite.append(c, b, b"".join(second))
    rc, d, e = r.once()
    assert sorted(ids_of(d)) == sorted(lid(x) for x in second), e


@pytest.mark.parametrize("name", ["a b/PT1H.json", "ü/%41/PT1H.json", "x#y?z/PT1H.json", "a+b/c&d/PT1H.json"])
def test_odd_names(azurite, tmp_path, name):
    c = cont(azurite)
    r = Run(azurite, tmp_path, c)
    recs = [record() for _ in range(3)]
    azurite.append(c, name, b"".join(recs[:2]))
    rc, d, e = r.once()
    azurite.append(c, name, recs[2])
    rc2, d2, e2 = r.once()
    assert ids_of(d + d2) == [lid(x) for x in recs], (e, e2)


@pytest.fixture
def med(azurite):
    m = Meddler(azurite.port, ACCOUNT)
    yield m
    m.close()


def test_append_between_list_and_read(azurite, tmp_path, med):
    c = cont(azurite)
    r = Run(azurite, tmp_path, c, url=med.url)
    b = blob_at(now_hour())
    recs = [record() for _ in range(3)]
    azurite.append(c, b, recs[0])
    extra = iter([recs[1], recs[2][:20], recs[2][20:]])
    def hook(m, path, h, st, rh, body):
        if "comp=list" in path and "restype=container" in path and c in path:
            nxt = next(extra, None)
            if nxt is not None:
                azurite.append(c, b, nxt)
        return None
    med.hook = hook
    got = []
    for _ in range(5):
        rc, d, e = r.once()
        got += ids_of(d)
    assert got == [lid(x) for x in recs], (got, r.errs)


def test_list_page_cut(azurite, tmp_path, med):
    c = cont(azurite)
    r = Run(azurite, tmp_path, c, url=med.url)
    recs = [record() for _ in range(12)]
    for i, x in enumerate(recs):
        azurite.append(c, f"{DATABRICKS_ROOT}y=2026/m=12/d=04/h={i:02d}/m=00/PT1H.json", x)
    cuts = [2]
    def hook(m, path, h, st, rh, body):
        if "comp=list" in path and "restype=container" in path and cuts:
            cuts.pop()
            return st, rh, body[: len(body) // 2]
        return None
    med.hook = hook
    got = []
    for _ in range(3):
        rc, d, e = r.once()
        got += ids_of(d)
    assert sorted(got) == sorted(lid(x) for x in recs), r.errs


def test_short_body(azurite, tmp_path, med):
    c = cont(azurite)
    r = Run(azurite, tmp_path, c, url=med.url)
    b = blob_at(now_hour())
    recs = [record() for _ in range(6)]
    azurite.append(c, b, b"".join(recs[:2]))
    r.once()
    azurite.append(c, b, b"".join(recs[2:]))
    shorts = [1]
    def hook(m, path, h, st, rh, body):
        if m == "GET" and "comp=" not in path and "PT1H" in path and shorts and st in (200, 206):
            shorts.pop()
            return st, rh, body[: len(body) - 150]
        return None
    med.hook = hook
    got = []
    for _ in range(3):
        rc, d, e = r.once()
        got += ids_of(d)
    assert sorted(ids_of(orjson.loads(l) for l in r.outs[0].read_bytes().splitlines()) + got) == sorted(lid(x) for x in recs), r.errs


def test_short_body_contentrange_lies(azurite, tmp_path, med):
    c = cont(azurite)
    r = Run(azurite, tmp_path, c, url=med.url)
    b = blob_at(now_hour())
    recs = [record() for _ in range(6)]
    azurite.append(c, b, b"".join(recs[:2]))
    r.once()
    azurite.append(c, b, b"".join(recs[2:]))
    shorts = [1]
    def hook(m, path, h, st, rh, body):
        if m == "GET" and "comp=" not in path and "PT1H" in path and shorts and st in (200, 206):
            shorts.pop()
            # cut at a line end: looks like a complete answer of fewer bytes
            cut = body.rfind(b"\n", 0, len(body) - 10) + 1
            return st, rh, body[:cut]
        return None
    med.hook = hook
    got = []
    for _ in range(3):
        rc, d, e = r.once()
        got += ids_of(d)
    first = [orjson.loads(l)["event"]["id"] for l in r.outs[0].read_bytes().splitlines() if l.strip()]
    allids = first + got
    assert sorted(allids) == sorted(lid(x) for x in recs), (Counter(allids), r.errs)


def test_crlf(azurite, tmp_path):
    c = cont(azurite)
    r = Run(azurite, tmp_path, c)
    b = blob_at(now_hour())
    recs = [record() for _ in range(3)]
    azurite.append(c, b, b"".join(x[:-1] + b"\r\n" for x in recs))
    rc, d, e = r.once()
    assert ids_of(d) == [lid(x) for x in recs], e
    assert not any(x.get("_line_truncated") or "\r" in orjson.dumps(x).decode() for x in d), d


def test_sighup_reload(azurite, tmp_path):
    c = cont(azurite)
    r = Run(azurite, tmp_path, c)
    b = blob_at(now_hour())
    written = []
    def put(n):
        recs = [record() for _ in range(n)]
        written.extend(lid(x) for x in recs)
        azurite.append(c, b, b"".join(recs))
    put(10)
    out = tmp_path / "d.ndjson"
    with open(out, "wb") as fo, open(tmp_path / "d.err", "wb") as fe:
        p = subprocess.Popen(SHIPPER + ["run", "-c", str(r.cfg)], stdout=fo, stderr=fe)
    def ids() -> list:
        return [orjson.loads(l)["event"]["id"] for l in out.read_bytes().splitlines() if l.strip()]

    try:
        wait_until(lambda: len(ids()) >= 10, 60)
        for _i in range(3):
            put(5)
            p.send_signal(signal.SIGHUP)
            time.sleep(0.3)
            put(5)
        wait_until(lambda: set(written) <= set(ids()), 60)
        time.sleep(2)
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(60)
    c2 = Counter(ids())
    assert set(c2) == set(written) and max(c2.values()) == 1, ((tmp_path / "d.err").read_text()[-3000:], c2)


def test_recreate_unread_warns(azurite, tmp_path):
    c = cont(azurite)
    r = Run(azurite, tmp_path, c)
    b = blob_at(now_hour())
    first = [record() for _ in range(3)]
    azurite.append(c, b, b"".join(first)[:-30])
    r.once()
    azurite.client.get_container_client(c).delete_blob(b)
    second = [record() for _ in range(1)]
    azurite.append(c, b, b"".join(second))
    rc, d, e = r.once()
    assert "warn" in e and "0 bytes lost" not in e, e
