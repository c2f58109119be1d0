"""Issue 17, attack 2: a blob deleted and re-created within one second (same creation time) whose bytes
just before the old offset are the same as the old blob's (its last records repeat, e.g. a re-delivery
that was re-ordered): the 8 KiB digest matched, so it was taken for the old blob plus appends and the
new first records were never read, with "0 bytes lost" and no warning."""
from __future__ import annotations

import pytest

from tests.azurite import ACCOUNT
from tests.peers.storage_meddler import Meddler
from tests.sources.test_azure_attack_hostile_cases import Run, blob_at, cont, ids_of, lid, now_hour, pin_creation_time
from tests.sources.test_azure_blob import record


@pytest.fixture
def med(azurite):
    m = Meddler(azurite.port, ACCOUNT)
    yield m
    m.close()


def test_recreated_within_one_second_with_the_same_tail_is_read_anew(azurite, tmp_path, med):
    c = cont(azurite)
    r = Run(azurite, tmp_path, c, url=med.url)
    pin_creation_time(med)
    b = blob_at(now_hour())
    tail = [record(pad=3000) for _ in range(4)]  # over 8 KiB, the same bytes in both blobs
    first = [record() for _ in range(3)] + tail
    azurite.append(c, b, b"".join(first))
    rc, d1, e1 = r.once()
    assert sorted(ids_of(d1)) == sorted(lid(x) for x in first), e1
    azurite.client.get_container_client(c).delete_blob(b)
    head = [record() for _ in range(3)]  # other records, the same length as the old blob's first three
    assert len(b"".join(head)) == len(b"".join(first[:3]))
    new = [record()]
    azurite.append(c, b, b"".join(head + tail + new))
    rc, d2, e2 = r.once()
    got = set(ids_of(d2))
    assert {lid(x) for x in head + new} <= got, e2
