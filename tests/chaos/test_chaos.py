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


def _named_at(port: int, events: int) -> str:
    return ('level=warning logger=shipper.output.fluentd msg="fluentd delivery failed; the chunk will be sent again, '
            f'and the server may have stored the chunk (a possible repeat of {events} events)" output=one '
            f'server=127.0.0.1:{port} error="connection reset before the ack"')


def test_repeats_are_counted_against_the_events_named_at_their_server():
    """The Fluentd output names each possible repeat with its count: a peer holding more extra copies than were
    named at its server fails, however many were named elsewhere."""
    twice = all_once() + collections.Counter([2, 3, 4])
    assert verdict({"one": twice, "two": all_once()}, _named_at(4001, 3)).ok
    assert verdict({"one": twice, "two": all_once()}, _named_at(4001, 1) + "\n" + _named_at(4001, 2)).ok
    assert verdict({"one": twice, "two": all_once()}, _named_at(4001, 2) + "\n" + _named_at(4002, 100)).problems == [
        "one: 3 lines stored more than once, 3 extra copies (2-4), only 2 events named a possible repeat at its server"]


def test_the_stop_summary_repeats_the_close_and_names_nothing_more():
    """`stopped with batches undelivered` quotes the output's trouble (`… (a possible repeat of N events)`, no
    server= field): the close named that copy already. Before, that line excused any repeat at any server."""
    twice = all_once() + collections.Counter([6, 7])
    summary = ('level=error logger=shipper.run msg="stopped with batches undelivered; they are read again next start" '
               'undelivered="output one: 1 batches (127.0.0.1:4001: the stop came while the chunk of 2 events, written '
               'whole, waited for its ack: the server may have stored the chunk, and it is sent again at the next start '
               '(a possible repeat of 2 events))"')
    assert verdict({"one": twice, "two": all_once()}, summary).problems == [
        "one: 2 lines stored more than once, 2 extra copies (6-7), no repeat named at its server"]
    assert verdict({"one": twice, "two": all_once()}, summary + "\n" + _named_at(4001, 2)).ok


def test_repeats_named_where_no_server_is_said_count_at_every_server():
    """A late acknowledgement named by the output worker (no server field) and a file's bytes read again (every
    output may get them twice) cover that many extra copies at any peer."""
    twice = all_once() + collections.Counter([6, 7])
    late = ('level=warning logger=shipper.output_worker msg="output one: a send a reload or stop had given up on was '
            'acknowledged after all, once its batches were let go to be read again: a possible repeat of 2 events" '
            'output=one batches=1 events=2')
    assert verdict({"one": twice, "two": twice}, late).ok
    again = ('level=warning logger=shipper.tail msg="150 bytes of /x/app.log.1 from offset 300 may be shipped again: '
             'why" path=/x/app.log.1')
    assert verdict({"one": twice, "two": twice}, again).ok, "150 bytes: 2 lines of 100 bytes (a part of one is one)"
    thrice = all_once() + collections.Counter([6, 7, 6])
    assert not verdict({"one": thrice, "two": all_once()}, late).ok


def test_a_traceback_fails():
    assert not verdict({"one": all_once(), "two": all_once()}, "Traceback (most recent call last):").ok


@pytest.mark.slow
def test_a_short_schedule(tmp_path, capsys):
    assert harness.main(["--seed", "3", "--seconds", "8", "--settle", "60", "--out", str(tmp_path)]) == 0, (
        capsys.readouterr().out)
