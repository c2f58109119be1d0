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
