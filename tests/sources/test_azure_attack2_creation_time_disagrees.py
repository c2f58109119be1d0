"""Issue 17, attack 2: a storage service whose reads report another creation time than its listing
(a stale listing cache, a proxy rewriting headers). The source took every read for a blob re-created
since the listing and skipped it, poll after poll, with no word: `--once` said "read 0 events ... 0 bytes
lost" and exited 0, and the running agent never read the blob. It is still not read (its identity is in
doubt), but now it is named, once, in the log and in `shipper_source_errors{kind="creation_time_mismatch"}`."""
from __future__ import annotations

import signal
import subprocess

import pytest

from tests.azurite import ACCOUNT
from tests.peers.storage_meddler import Meddler
from tests.sources.test_azure_attack_hostile_cases import SHIPPER, Run, blob_at, cont, now_hour
from tests.sources.test_azure_blob import record
from tests.support import wait_until

OTHER = "Fri, 04 Dec 2026 15:00:00 GMT"


@pytest.fixture
def med(azurite):
    m = Meddler(azurite.port, ACCOUNT)
    yield m
    m.close()


def test_a_blob_whose_reads_disagree_with_the_listing_on_its_creation_time_is_named(azurite, tmp_path, med):
    c = cont(azurite)
    r = Run(azurite, tmp_path, c, url=med.url)
    b = blob_at(now_hour())
    azurite.append(c, b, b"".join(record() for _ in range(3)))

    def hook(m, path, h, st, rh, body):
        if m == "GET" and "comp=" not in path:
            return st, [(k, OTHER if k.lower() == "x-ms-creation-time" else v) for k, v in rh], body
        return None
    med.hook = hook
    rc, docs, err = r.once()
    assert docs == []
    said = [line for line in err.splitlines() if "creation time as listed and as read disagree" in line]
    assert len(said) == 1 and b in said[0], err
    # The running agent: the first disagreement may be a blob re-created since the listing; the same one
    # at a later poll is named once, however many polls follow.
    err_path = tmp_path / "daemon.err"
    with open(tmp_path / "daemon.out", "wb") as fo, open(err_path, "wb") as fe:
        p = subprocess.Popen(SHIPPER + ["run", "-c", str(r.cfg)], stdout=fo, stderr=fe)
    try:
        wait_until(lambda: "as listed and as read disagree" in err_path.read_text(), 60, what="the warning")
        wait_until(lambda: sum(1 for x in med.log if x[0] == "GET" and "comp=" not in x[1]) >= 6, 60,
                   what="more polls")
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(60)
    assert err_path.read_text().count("as listed and as read disagree") == 1, err_path.read_text()[-3000:]
