"""Black-box attack 10 (the wall clock): the agent's host clock steps forward by three hours, then back (a host
whose hardware clock keeps local time booted as UTC until NTP steps it, a VM resumed from an old snapshot and
corrected, an operator's `date -s` typo), while Azure Monitor keeps appending to the current hour's
`PT1H.json` blob. Done with tests/wall_clock.py (CLOCK_REALTIME of the agent only; Azurite keeps the real time).

Found (by hand 2 of 2, and with this test): a poll made while the clock is ahead takes the current hour for
more than `lookback` (2 h) past and closes it; what Azure appends to that blob afterwards (4 records here) is
never read — neither while the clock is ahead nor once it is right again — and nothing says so: no warning,
`run --once` ends "0 bytes lost", exit 0. (README, Known limits: a blob written to again after it was
closed "is not read (a warning names it and shipper_losses counts it)"; that warning does not come either.)

Promised (README, DEVELOPERS.md): nothing lost silently. At the least the blob written after its hour was
closed is named; better, the hour is not closed on the agent's clock alone (the blob's Last-Modified is the
server's: an hour whose blob was written seconds ago by the server's clock is not past)."""
from __future__ import annotations

import subprocess
import time
from collections import Counter
from datetime import datetime, timezone

import pytest

import tests.sources.test_azure_attack_hostile_cases as hostile
from tests.sources.test_azure_attack_hostile_cases import Run, blob_at, cont, lid, now_hour
from tests.sources.test_azure_blob import record
from tests.wall_clock import SteppedClock

AHEAD = 3 * 3600  # more than the default lookback (2 h)


@pytest.mark.xfail(strict=True, reason="issue 13: a wall clock stepped forward past lookback closes the current hour; "
                                       "what Azure appends to its blob afterwards is lost without a word")
def test_a_clock_step_forward_loses_nothing_silently(azurite, tmp_path, monkeypatch):
    now = datetime.now(timezone.utc)
    if now.minute == 59 and now.second > 20:  # the whole test within one real hour
        time.sleep(61 - now.second)
    clock = SteppedClock(tmp_path / "clock")
    real_run = subprocess.run
    monkeypatch.setattr(hostile.subprocess, "run", lambda *a, **kw: real_run(*a, **{**kw, "env": clock.env}))
    c = cont(azurite, "clock")
    current = blob_at(now_hour())
    first, later = [record() for _ in range(3)], [record() for _ in range(4)]
    azurite.append(c, current, b"".join(first))
    run = Run(azurite, tmp_path, c)
    rc, got, err = run.once()
    assert rc == 0 and len(got) == 3, err
    clock.step(AHEAD)
    rc, got, err = run.once()  # a poll while the clock is ahead: nothing new to read
    assert rc == 0 and got == [], err
    azurite.append(c, current, b"".join(later))  # Azure goes on writing the hour it is in
    run.once()
    clock.step(0)
    run.once()
    missing = Counter(lid(x) for x in first + later) - run.all_ids()
    said = [line for e in run.errs for line in e.splitlines() if current in line and "level=info" not in line]
    assert not missing or said, (f"{sum(missing.values())} of 7 records lost, nothing said; "
                                 f"the runs ended: {[e.strip().splitlines()[-1] for e in run.errs]}")
