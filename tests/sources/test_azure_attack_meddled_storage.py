"""Hostile storage answers against the `azure_blob` source that it withstands, made by
tests/peers/storage_meddler.py between a real `shipper run` and Azurite (issue 17 attack; kept apart from
tests/sources/test_azure_attack_hostile_cases.py, whose helpers it uses, so that `make test` runs the two
side by side): a blob re-created within Azure's one-second creation time, appends between the listing and
the read, a listing page cut short, a body shorter than asked (with and without a Content-Range that
agrees). Each counts logIds one by one."""
from __future__ import annotations

from collections import Counter

import orjson
import pytest

from tests.azurite import ACCOUNT, DATABRICKS_ROOT
from tests.peers.storage_meddler import Meddler
from tests.sources.test_azure_attack_hostile_cases import Run, blob_at, cont, ids_of, lid, now_hour, pin_creation_time
from tests.sources.test_azure_blob import record

pytestmark = pytest.mark.slow


@pytest.fixture
def med(azurite):
    m = Meddler(azurite.port, ACCOUNT)
    yield m
    m.close()


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
