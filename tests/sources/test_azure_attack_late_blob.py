"""Hourly blobs that turn up after their hour was closed (issue 17, left by session 3). Once every blob
of an hour is read and the hour and its last write are more than `lookback` ago, the folder's mark
moves past it and the hour is not listed again. A blob that first appears later than that (Azure's
delivery delayed by hours) was skipped without a word, and so was a write to a closed blob. Now a blob
created after its hour was closed is read (with a warning), and a closed blob written again is read on from
its offset (issue 13: it was only counted and named lost, its offset forgotten with the hour; the offset is
now kept while polls still list the hour, from the day before the mark's)."""
from __future__ import annotations

import time
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from tests.azurite import DATABRICKS_ROOT, hour_blob
from tests.sources.test_azure_attack_hostile_cases import Run
from tests.sources.test_azure_blob import record

pytestmark = pytest.mark.slow


def lid(raw: bytes) -> str:
    import orjson

    return orjson.loads(raw)["properties"]["logId"]


def test_a_blob_created_after_its_hour_was_closed_is_read_and_a_closed_blob_written_again_is_read_on(azurite,
                                                                                                      tmp_path):
    c = f"insights-logs-late{uuid.uuid4().hex[:8]}"
    hour = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    early = hour_blob(DATABRICKS_ROOT, *(hour - timedelta(hours=5)).timetuple()[:4])
    late = hour_blob(DATABRICKS_ROOT, *(hour - timedelta(hours=3)).timetuple()[:4])
    current = hour_blob(DATABRICKS_ROOT, *hour.timetuple()[:4])
    first = [record() for _ in range(2)]
    now_recs = [record() for _ in range(2)]
    azurite.append(c, early, b"".join(first))
    azurite.append(c, current, b"".join(now_recs))
    r = Run(azurite, tmp_path, c, lookback=2)
    rc, d1, e1 = r.once()
    assert rc == 0 and Counter(x["event"]["id"] for x in d1) == Counter(lid(x) for x in first + now_recs), e1
    time.sleep(3)  # the early blob's last write is now older than lookback: the next poll closes its hour
    rc, d2, e2 = r.once()
    assert rc == 0 and d2 == [], e2
    marks = [v for k, v in _state(tmp_path).items() if k.startswith("hours:")]
    assert marks and all(m >= (hour - timedelta(hours=1)).strftime("%Y-%m-%dT%H") for m in marks), marks

    recs = [record() for _ in range(3)]
    azurite.append(c, late, b"".join(recs))  # three hours after its hour, long after lookback
    rc, d3, e3 = r.once()
    assert rc == 0 and [x["event"]["id"] for x in d3] == [lid(x) for x in recs], e3
    assert "after its hour was closed" in e3 and late in e3, e3
    rc, d4, e4 = r.once()
    assert d4 == [] and "after its hour was closed" not in e4, e4

    again = record()
    azurite.append(c, early, again)  # a closed blob written again: read on from where it was read to
    rc, d5, e5 = r.once()
    assert rc == 0 and [x["event"]["id"] for x in d5] == [lid(again)], e5
    assert "level=warning" not in e5 and ", 0 bytes lost" in e5, e5
    rc, d6, e6 = r.once()
    assert rc == 0 and d6 == [], e6
    assert r.all_ids() == Counter(lid(x) for x in first + now_recs + recs + [again])


def _state(tmp_path) -> dict:
    from shipper.checkpoint import CheckpointStore

    store = CheckpointStore(str(tmp_path / "state"))
    try:
        return store.load("dbx")
    finally:
        store.close()
