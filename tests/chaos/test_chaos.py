"""The chaos harness (tests/chaos/harness.py) in the normal test run: its check, and one short schedule.

Long runs: `make chaos SEED=1 N=10 SECONDS=240` (about 5 minutes a seed). The one schedule here is 8 s of actions
(about 25 s with the agent's start, the settling and the stop): it keeps the harness working, it is no hunt."""
from __future__ import annotations

import collections

import pytest

from tests.chaos import harness
from tests.chaos.harness import Verdict, check, schedule

PORTS = {"one": 4001, "two": 4002}


def verdict(stored: dict[str, collections.Counter], journal: str = "", written: int = 10) -> Verdict:
    v = Verdict(seed=0)
    check(written, stored, PORTS, journal, 100, v)
    return v


def all_once() -> collections.Counter:
    return collections.Counter(range(10))


def test_the_same_seed_draws_the_same_actions():
    assert schedule(7) == schedule(7)
    assert schedule(7) != schedule(8)
    assert {a["do"] for a in schedule(7)} == {"hup", "hup2", "hup_term", "term", "flap", "freeze", "hold_acks"}


def test_every_line_once_at_each_peer_passes():
    assert verdict({"one": all_once(), "two": all_once()}).ok


def test_lines_missing_unnamed_fail():
    short = collections.Counter(n for n in range(10) if n not in (3, 4))
    v = verdict({"one": all_once(), "two": short})
    assert v.problems == ["two: 2 lines missing (3-4), the journal named 0 bytes lost"]


def test_lines_missing_within_a_named_loss_pass():
    short = collections.Counter(n for n in range(10) if n not in (3, 4))
    v = verdict({"one": all_once(), "two": short},
                'level=warning logger=shipper.tail msg="data lost: 200 bytes of /x/app.log.1 were deleted …"')
    assert v.ok and v.excused


def test_lines_missing_beyond_a_loss_named_as_the_least_lost_pass():
    """`N bytes or more` names the least lost (a file last seen as the live log): more missing is excused."""
    short = collections.Counter(n for n in range(10) if n not in (3, 4, 5))
    v = verdict({"one": all_once(), "two": short},
                'level=warning logger=shipper.tail msg="data lost: 1 bytes or more of /x/app.log were deleted …"')
    assert v.ok and v.excused


def test_a_repeat_named_at_the_other_server_does_not_cover_this_one():
    """Session 17's seed 15: the only possible repeats named were at the other server."""
    twice = all_once() + collections.Counter([6, 7])
    journal = ('level=warning logger=shipper.output.fluentd msg="fluentd output closed while a chunk waited for its '
               'ack: the server may have stored the chunk, and it is sent again (a possible repeat)" output=one '
               'server=127.0.0.1:4001')
    assert verdict({"one": all_once(), "two": twice}, journal).problems == [
        "two: 2 lines stored more than once, 2 extra copies (6-7), no repeat named at its server"]
    assert verdict({"one": twice, "two": all_once()}, journal).ok


def test_a_traceback_fails():
    assert not verdict({"one": all_once(), "two": all_once()}, "Traceback (most recent call last):").ok


@pytest.mark.slow
def test_a_short_schedule(tmp_path, capsys):
    assert harness.main(["--seed", "3", "--seconds", "8", "--settle", "60", "--out", str(tmp_path)]) == 0, (
        capsys.readouterr().out)
