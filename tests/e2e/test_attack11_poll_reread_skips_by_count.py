"""Black-box attack 11: one http_poll source, two outputs (stdout and Fluentd). Fluentd is down for a run:
stdout stores the commits, Fluentd does not, the run ends "read again next run". Before the next run the
activity listing changes inside the range stdout stored: a commit of one of those seconds is listed late (the
API orders by one-second commit times, docs/operations.md), or retention prunes the oldest commits. Promised:
a SIGTERM stop repeats nothing, and what one output stored is not sent to it again ("events this output
stored before the last stop or reload are not sent to it again"); nothing is lost (README). Found: the next
run skips, for stdout, as many events as it stored before, by count, not by which events they were: the late
commit never reaches stdout and a commit it had stored is written again (1 lost, 1 repeated); after the
pruning, 10 new commits never reach stdout and 10 it had are written again. Fluentd gets every commit once.
Nothing is warned about stdout. Cause: the events' keys (their stable ids, which the note of what an output
stored names) were commit offsets, which the change shifted onto other commits; keyed by the commit now."""
from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path

import orjson
import pytest

from tests.e2e.poll_setup import run_once, write_poll_config
from tests.peers.forward_server import ForwardServer
from tests.peers.puppet_activity_api import Commit, PuppetActivityAPI

pytestmark = pytest.mark.slow


def write_config(tmp_path: Path, api: PuppetActivityAPI, port: int) -> Path:
    return write_poll_config(tmp_path, api, ["{type: stdout, name: out}",
                                             f"{{type: fluentd, name: fd, host: 127.0.0.1, port: {port}, batch_size: 5}}"])


def messages(r: subprocess.CompletedProcess) -> list[str]:
    return [orjson.loads(line)["message"] for line in r.stdout.splitlines()]


@pytest.mark.parametrize("change", ["commit_listed_late_in_its_second", "oldest_commits_pruned"])
def test_what_stdout_stored_while_fluentd_was_down_is_neither_lost_nor_repeated(tmp_path, change):
    with PuppetActivityAPI(tmp_path, tls=False) as api:
        fluentd = ForwardServer().start()
        cfg = write_config(tmp_path, api, fluentd.port)
        for i in range(10):
            api.add("rbac", [f"change {i}"])
        first = run_once(cfg)
        assert first.returncode == 0, first.stderr[-2000:]
        fluentd.stop()  # Fluentd down: stdout stores what it can, Fluentd nothing
        for i in range(10, 40):
            api.add("rbac", [f"change {i}"])
        down = run_once(cfg, "--timeout", "3")
        assert down.returncode == 1 and "read again next run" in down.stderr, down.stderr[-2000:]
        stored = messages(first) + messages(down)
        assert len(stored) >= 15, f"stdout stored too little while Fluentd was down to test anything: {stored}"
        expected = {f"change {i}" for i in range(50)}
        with api.lock:
            if change == "commit_listed_late_in_its_second":
                c = api.commits[12]  # stdout has it; the late one sorts before it (same second, listed later)
                api.commits.insert(12, Commit("rbac", dict(c.subject), [dict(o) for o in c.objects],
                                              [dict(c.events[0], message="late")], c.time))
                expected.add("late")
            else:
                del api.commits[:12]  # retention: two commits Fluentd never got go with them
        for i in range(40, 50):
            api.add("rbac", [f"change {i}"])
        fluentd = ForwardServer(port=fluentd.port).start()
        try:
            last = run_once(cfg)
        finally:
            fluentd.stop()
        assert last.returncode == 0, last.stderr[-2000:]
    at_stdout = Counter(stored + messages(last))
    lost = sorted(expected - set(at_stdout) - ({"change 10", "change 11"} if change == "oldest_commits_pruned" else set()))
    repeated = sorted(m for m, n in at_stdout.items() if n > 1)
    assert not lost and not repeated, f"stdout: {len(lost)} never written {lost[:10]}, {len(repeated)} written " \
                                      f"twice {repeated[:10]}; the run said: " \
                                      f"{[x for x in last.stderr.splitlines() if 'level=warning' in x][:3]}"
