"""The torture harness in the normal test run: a bounded number of seeded schedules in real time (the slow layer,
about 20 s), and the seeds that once failed replayed in the deterministic mode (virtual clocks, a file system of its
own: the same outcome at any load). Long runs: `make torture SEED=1 N=1000` (deterministic, strict: exactly once).

FOUND are seeds that failed once and were fixed (the cause of each has its own test in tests/tail/test_identity.py;
7156 and 8102 in tests/tail/test_copytruncate_empty_live.py; 77027, an examiner's, passes since session 10's identity
fixes, its own cause not isolated; 88094, an examiner's, is the cause of
tests/tail/test_attack8_copytruncate_while_stopped_silent.py): replayed strictly, exactly once. FOUND_OVERTAKEN, the
same with `--overtaken` (a descriptor budget of 2-3 files and scans overtaken by rotations; their causes are tested in
tests/tail/test_closed_reused_inode.py, those of 34, 35, 38, 58 and 333 in tests/tail/test_identity.py, and of session
10's 16, 1024, 1096, 1115, 1162, 1208, 1215 and 1230 there too, and of session 11's 99023, an examiner's, in
test_closed_reused_inode.py, and 367 in test_identity.py; 43, a warned repeat, passes since them, its cause not
isolated; session 12's 22 and 1000 in tests/tail/test_overtaken_scan.py, 317 in
tests/tail/test_copytruncate_head_only_restart.py, 99078, an examiner's, in tests/tail/test_empty_live_rotated.py,
1069 in tests/tail/test_copytruncate_empty_live.py; session 13's 350 and 1089, a backup listed and deleted before the
scan compared it, in tests/tail/test_overtaken_scan.py; 439, a file opened as listed and renamed since taken for a
header-only content: Prospector._renamed_since_held; session 14's 327, 1232 and 1203, which passed in every run since
session 13 (not isolated), and 1268, a file given a tombstone's inode and renamed during the scan, in
tests/tail/test_tombstone_inode_overtaken.py; session 17's, found or replayed exactly by the deterministic mode:
150551 and 180229 in tests/tail/test_copy_renamed_during_scan.py, 170007 and 182212 in test_copy_of_closed_deleted.py,
170224 in test_copytruncate_head_only_grown_restart.py, 180271 in test_copytruncate_of_grown_empty_live.py, 180073 in
test_undecided_inode_reused.py; 180005, the harness's own accounting: Schedule.cut_windows; session 18's 182061,
185011 and 186049, the .gz of a one-line file read again, in tests/tail/test_one_line_gz_copy.py; 185084 in
test_copytruncate_of_grown_empty_live.py, 186044 in test_copytruncate_then_rotated_while_stopped.py, 191216, of
session 18's sweep, in test_copytruncate_empty_live.py; 182224 (the budget closing a renamed .gz with lines unread) in
test_descriptor_budget.py; session 19's 182113 and 182302 (landed from session 18's wip-seeds21a) in
test_followed_renamed_during_scan.py, and 185102 in test_copytruncate_copy_behind_rotated_live.py).
FOUND_HELD_OVERTAKEN, with the holder: 192072 in tests/tail/test_copytruncate_copy_of_first_line_held.py, 192058
passing since session 18's sync-tool fixes (copies.replaces_deleted), the eight of session 19's landing of
wip-seeds21a (docs/design.md), 193132 in test_copytruncate_empty_live.py, and 192068, 192147, 192155, 193258 and
193297 (192043, 192255 and 193068 too: one cause) in test_gz_of_held_file_no_header_only_content.py, 192045 there too
(the held file on a followed file's reused inode); session 20's 192000, 192006 and 192110 (a copytruncate window of a
live file only the holder had met, told by its events) in test_copytruncate_window_only_the_holder_saw.py, and 193254
(a content whose inode was replaced during the scan, its .gz taken by a header-only one) in
test_own_inode_replaced_during_scan.py, and 192031 and `SEED=195000 N=300 STEPS=60`'s 195075, 195203 and 195234 (the
.gz of a file the holder caught leaving the live name, taken by a header-only content) in
test_gz_of_file_caught_leaving_live_no_header_only_content.py. Seeds that still fail are listed in docs/design.md
"Torture harness"; `make torture` shows them."""
from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from tests.torture import harness
from tests.torture.harness import run_schedule

ROOT = Path(__file__).resolve().parents[2]

FOUND = [(15, 40), (45, 40), (215, 40), (41, 60), (50, 60), (214, 60), (1006, 60), (1038, 60),  # (seed, steps)
         (32, 40), (1040, 60), (1138, 60), (1151, 60), (1181, 60), (1231, 60), (1241, 60), (1253, 60), (1276, 60),
         (1292, 60), (2045, 60), (2149, 60), (2185, 60), (2211, 60), (2286, 60), (3030, 60), (3218, 60),
         (7156, 60), (8102, 60), (77027, 80), (88094, 80), (7359, 60)]
FOUND_OVERTAKEN = [(4, 40), (49, 40), (213, 40), (221, 40), (34, 40), (35, 40), (38, 40), (43, 40), (58, 40),
                   (333, 40), (16, 40), (1024, 40), (1096, 40), (1115, 40), (1162, 40), (1208, 40), (1215, 40),
                   (1230, 40), (99023, 60), (367, 40), (22, 40), (1000, 40), (99078, 60), (1069, 40),
                   (350, 40), (1089, 40), (439, 60), (327, 40), (1232, 40), (1203, 60), (1268, 60),
                   (150551, 60), (170007, 40), (170224, 40), (180005, 40), (180073, 40), (180229, 40), (180271, 40),
                   (182212, 40), (182061, 40), (185011, 40), (186049, 40), (185084, 40), (186044, 40), (191216, 40),
                   (182224, 40), (182113, 40), (182302, 40), (185102, 40),
                   # session 22, found by the harness's byte count: a closed file listed larger than what was read,
                   # then gone before the scan compared it (tests/tail/test_overtaken_scan.py, ..._listed_grown_...)
                   (192215, 40),
                   # session 25: a header-only live file cut and given its header again before a kill -9 is cut at the
                   # restart only when a copy shows it, at the scan's step 3 (copies.head_copy_of_grown names the
                   # window with the header-only .gz), no longer by its mtime at step 2, after which the rotation that
                   # overtook the next scan left the content "possibly lost", the window unnamed
                   (317, 40),
                   # session 26: 197027, see FOUND_HELD_OVERTAKEN; and 192235, whose second window is named since a
                   # header-only .gz waiting since the last look is no copy of a cut found now (FOUND_DEFAULT's 300279)
                   (197027, 40), (192235, 40),
                   # session 27: the live file's placeholder, empty when last looked at and closed over the budget,
                   # written to and rotated out (deleted, its inode given to another file) before the next look: dropped
                   # without a word, 94 lines lost unsaid; now judged gone as a placeholder is after a restart
                   # (tests/tail/test_closed_empty_live_rotated_out_named.py)
                   (400261, 60),
                   # session 30: see FOUND_DEFAULT's 400156
                   (400156, 60)]
SEEDS = list(range(200, 225))
# Session 17, the deterministic mode's `SEED=182000 N=400 STEPS=40 ARGS=--overtaken` (395 of 400): still failing at
# every replay, causes open (182212, fixed, is in FOUND_OVERTAKEN; so are 182061, 185011 and 186049 since session 18).
# (seed, steps, what happens)
OPEN_OVERTAKEN: list[tuple[int, int, str]] = [
    # `SEED=185000 N=300 STEPS=40 ARGS=--overtaken` with session 18's fixes: 297 of 300; 185102 fixed in session 19
    # Session 21's `SEED=193000 N=300 STEPS=40 ARGS="--overtaken --no-holder"`: fails on main's code too
    (193113, 40, "3 lines of seen files destroyed unread, no loss warned"),
    # Session 25: fails since the placeholder of a file never opened keeps its birth time across restarts (it passed
    # by a wrong match before). A restart's scan lists the live file (10 lines) and a rotation renames it before the
    # scan opens it; no scan before the rotations that delete it. The placeholder of another file, emptied on the same
    # inode before the kill, took it at that scan and read it from 0 (right by chance); told apart now, it is let go
    # by gone.gone_unopened as "possibly lost: 155 bytes … renamed during the scan that found it and gone before it
    # could be opened: its lines are in the compressed files read from their start since", not counted
    # Session 26: what the agent saw cannot tell it, so the 'possibly lost' is its honest word (docs/design.md): the file,
    # never opened, was plain when deleted (copytruncate's shift, then a rotation) but could as well have been compressed
    # into the .gz read whole at the next scan (born after it, decompressed longer than it was listed: a writer that has
    # not reopened yet writes on to a renamed file), and its inode held another file by then either way (compression
    # frees it too). Only a name kept for it (the holder: passes with it) or its bytes tell.
    (197117, 40, "10 lines of a file renamed during the scan that found it, deleted before the next: 'possibly lost' "
                 "(no byte of it read: the agent cannot tell it from one compressed into the .gz read since)"),
    # Session 26's `SEED=300000/400000 N=300 STEPS=60 ARGS="--overtaken --no-holder --timings 3"`, at timing 0 with
    # the session's fixes: causes not isolated
    (300175, 60, "5 lines of seen files destroyed unread, no loss warned"),
    # (400261: FOUND_OVERTAKEN since session 27)
]


# Real time (not replayable): 217 names more copytruncate windows than its copytruncates (4 or 5 for 3: a false loss)
# at most runs since session 21's check, on main's code before it too; load-dependent, so not strict.
REAL_TIME_FALSE_LOSS = {217}


@pytest.mark.parametrize("seed", [pytest.param(s, marks=pytest.mark.xfail(
    strict=False, reason="names more copytruncate windows than copytruncates (a false loss), load-dependent"))
    if s in REAL_TIME_FALSE_LOSS else s for s in SEEDS])
def test_schedule_in_real_time(seed):
    run_schedule(seed, steps=40, strict=False, real_time=True)


@pytest.mark.parametrize("seed,steps,holder", [(150505, 60, False), (192001, 40, True)])
def test_a_schedule_replays_exactly_at_any_load(monkeypatch, seed, steps, holder):
    """The deterministic mode gives a seed the same outcome (records in their order, warnings) however slowly the
    host runs it: here once as fast as it goes, once with 0.3 s stolen after every eighth step (a loaded host).
    On the real clocks the two differ (seed 150505 crosses the 0.2 s an undecided file waits: checked with
    clock.use made a no-op); so would they if shipper/tail read the real clock anywhere, or if the holder's thread
    handled an event the schedule did not give it (192001, with the holder)."""
    fast = run_schedule(seed, steps=steps, strict=True, overtaken=True, holder=holder)
    step = harness.Schedule.step

    def slow_step(self):
        step(self)
        if len(self.log) % 8 == 0:
            time.sleep(0.3)

    monkeypatch.setattr(harness.Schedule, "step", slow_step)
    assert run_schedule(seed, steps=steps, strict=True, overtaken=True, holder=holder) == fast


def test_the_tailer_reads_time_only_through_its_clock():
    """shipper/tail/clock.py is what the deterministic mode drives: a decision on time.monotonic() or
    time.time() elsewhere would make replays differ at load again. (The watcher's and the clock watch's waits are real
    waits.)"""
    direct = []
    for path in sorted((ROOT / "shipper" / "tail").glob("*.py")):
        if path.name in ("clock.py", "watcher.py", "clock_watch.py"):  # (real waits; never run by the harness)
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"\btime\.(monotonic|time|time_ns|perf_counter)\b", line):
                direct.append(f"{path.name}:{n}: {line.strip()}")
    assert not direct, direct


# The seeds above were found before the deterministic mode drove the holder (session 18): replayed without it, as
# they were found. Found with it (`make torture ... ARGS=--overtaken`, the default since):
FOUND_HELD_OVERTAKEN = [(192072, 40), (192058, 40), (192043, 40), (192199, 40), (192255, 40), (192266, 40),
                        (193002, 40), (193068, 40), (193237, 40), (193259, 40), (193132, 40),
                        (192068, 40), (192147, 40), (192155, 40), (193258, 40), (193297, 40), (192045, 40),
                        (192000, 40), (192006, 40), (192110, 40), (193254, 40), (192031, 40),
                        (195075, 60), (195234, 60),
                        # session 21: the live file of a copy the holder saw made, renamed during the scan, compared
                        # under its new name (copies._held_or_listed)
                        (194010, 40), (194143, 40),
                        # session 22, found by the harness's byte count: a followed file cut, written again and deleted
                        # before the next scan, its new content read through the descriptor the tailer held
                        # (tests/tail/test_truncated_then_deleted_read_through_descriptor.py)
                        (192233, 40),
                        # session 24: a file only the holder had met when the agent was killed, deleted before the
                        # next start, named from the holder's entries in the checkpoint (shipper/tail/held_record.py,
                        # tests/tail/test_held_record_kill.py)
                        (193103, 40), (194085, 40), (194147, 40), (194217, 40),
                        # and three of session 23's `SEED=197000 N=200` under-named seeds (197111 hidden before behind a
                        # false window: tests/tail/test_empty_live_unchanged_across_restart_no_window.py)
                        (197056, 40), (197071, 40), (197111, 40),
                        # session 25: the live file listed empty by the first scan, written and rotated before the scan
                        # compared it (its placeholder: never opened, no generation), deleted unread; the file held on
                        # its reused inode, observed with no birth time, took the placeholder (Prospector.observe takes
                        # a held file's birth time: tests/tail/test_unopened_placeholder_held_reused_inode.py)
                        (193161, 40),
                        # and 193122, the same placeholder saved in the checkpoint at a kill -9 and taken by the restarted
                        # tailer for the writer's next file on its reused inode: the placeholder keeps its birth time
                        # (FileState.born) and its key (Prospector._put_placeholder) across restarts
                        # (tests/tail/test_unopened_placeholder_kept_across_restarts.py); 196206 passes with it (its
                        # cause not isolated)
                        (193122, 40), (196206, 40),
                        # and 194215, whose placeholder, kept now, was let go as an empty live file whose lines are in
                        # the rotated files read from their start, files followed since its restarts taken for older
                        # contents (gone.empty_live_rotated asks their birth times: tests/tail/
                        # test_unopened_placeholder_kept_across_restarts.py::test_files_made_after_it_are_no_older_content);
                        # 194200 passes with these (two empty live files' placeholders named lost: one held the 13 lines
                        # deleted unread, the other may have held none, "an unknown number of bytes" as for any
                        # placeholder of an empty live file found nowhere)
                        (194215, 40), (194200, 40),
                        # session 25: a file found cut through its descriptor is named (and taken on) under the rotated
                        # name that holds it now, not the name the last scan saw (truncation._name_now): 194181 read 6
                        # lines twice, 197048 left one of its two windows unnamed
                        (194181, 40), (197048, 40),
                        # session 26: the live file, closed, read to its end, copytruncated and written again to fewer
                        # bytes, listed by a scan a rotation overtook (renamed before the compare): it was cut (listed
                        # shorter, of its birth time: Prospector._cut_when_listed), its window named by its copy
                        # (tests/tail/test_closed_live_cut_listed_then_renamed.py); with the holder and without
                        (197027, 40),
                        # session 27: the live file's placeholder, empty and closed over the budget, written to and
                        # rotated out before the next look (see FOUND_OVERTAKEN's 400261)
                        (197060, 40),
                        # session 27: a file waiting to be told apart from a copy, deleted before a kill -9 ended the
                        # scans that would have called it gone, is kept in the checkpoint with its name and named at
                        # the restart (Prospector._waited_before_the_stop: tests/tail/
                        # test_waiting_file_deleted_across_a_restart_named.py; see FOUND_DEFAULT's 500233)
                        (195203, 60), (300197, 60),
                        # session 28: a held file deleted after a kill -9, said "possibly lost" (see FOUND_DEFAULT's
                        # 610101): exam27a's `--seed 630000 --n 1000 --overtaken` 630616, and OPEN_UNDER_NAMED's 192182
                        (630616, 60), (192182, 40)]
# `SEED=192000 N=300 STEPS=40 ARGS=--overtaken` with the holder: 290 of 300 (192000, 192072, 192058 since fixed); each of
# these passes without the holder (`--no-holder`): what the holder keeps readable, the tailer reads again. (seed,
# steps, what happens)
OPEN_HELD_OVERTAKEN = [
    # Session 20's `SEED=194000 N=300 STEPS=40 ARGS=--overtaken` (293 of 300 with seeds21e's fixes): each fails on main
    # too. (194010 and 194143 fixed in session 21.)
    (194119, 40, "3 lines of seen files destroyed unread, no loss warned"),
    (194127, 40, "5 lines of seen files destroyed unread, no loss warned"),
    # `SEED=196000 N=300` with them: 299 of 300; fails on main too
    (196159, 40, "5 lines of seen files destroyed unread, no loss warned"),
    # Session 22: the harness counts the bytes the losses name against the lines destroyed unread. 195203 (fixed in
    # session 20, FOUND_HELD_OVERTAKEN) had passed only because other losses were named: 34 lines (514 bytes) of a
    # backup the holder held, deleted, and lost with the holder at a kill -9 are named nowhere (27 bytes named, of
    # another file).
    # (195203: FOUND_HELD_OVERTAKEN since session 27: a .gz waiting to be told apart, deleted before a kill -9, is
    # named at the restart)
    # Session 23's `SEED=197000 N=200 STEPS=40 ARGS=--overtaken`
    (197163, 40, "19 lines of seen files destroyed unread, no loss warned"),
    (197187, 40, "19 lines delivered twice (warned as a possible repeat)"),
    (197196, 40, "33 lines of seen files destroyed unread, no loss warned"),
    # Passed on main until session 24 only through a false window (head_copy_of_grown, of a header-only .gz waiting
    # since an earlier scan: fixed, 645e587) that covered, as a loss of open size, a real one left unnamed: the live
    # file read to its header, written, copied (compressed at once), 5 lines written in the window, cut and given its
    # header again, then a kill -9; the restart's scan is overtaken by a rotation that renames the live file and
    # deletes the copy before the scan compares them (the rule 317 shows: any loss of open size covers the cut lines)
    (197099, 40, "5 lines a copytruncate cut (its window) destroyed unread, no loss warned"),
    # The same for 192049 (`SEED=192000 N=300`), whose covering false window was restored_empty_live's at a later
    # restart (fixed, 25756dd): the live file empty, copied empty (compressed at once), 2 lines written in the window
    # and cut, then a kill -9 whose restart's scan a rotation overtakes, renaming the live file and deleting the copy
    (192049, 40, "2 lines a copytruncate cut (its window) destroyed unread, no loss warned"),
    # Session 26's `SEED=300000/400000 N=300 STEPS=60 ARGS="--overtaken --timings 3"`, at timing 0 with the session's
    # fixes: causes not isolated
    (300105, 60, "5 lines a copytruncate took destroyed unread, no loss of open size named (10 bytes named)"),
    (400036, 60, "49 lines delivered twice (warned as a possible repeat)"),
    # Session 28, exam27a's `--seed 630000 --n 1000 --overtaken` (holder), with this session's fixes (not isolated)
    (630103, 60, "3 lines of seen files destroyed unread, no loss warned"),
    (630637, 60, "3 lines delivered twice (warned: 'could not tell whether … is a copy … read as a new file')"),
]


# Session 21: the harness counts the copytruncate windows named against the copytruncates the schedule made (a window
# named where none was made is a false loss: an auditor chasing lines that were never lost). Found with it and fixed
# (shipper/tail/copies.py): 193115 (a backup older than the live file taken for its copy: born_before), 192061,
# 192087 (the file found cut, and the files rotated in behind it once a `create` rotation renamed it, taken for later
# copytruncate copies: _rotated_in_after), 192136 (one live file grown from its head named cut once for each
# header-only backup beside it: Prospector._head_copy_told). (seed, steps, holder)
FOUND_FALSE_LOSSES = [(193115, 40, True), (192061, 40, True), (192087, 40, True), (192136, 40, True),
                      # session 23: a header-only backup born before the live file taken for the copy of its head
                      # (copies.head_copy_of_grown now asks born_before: tests/tail/
                      # test_head_only_backup_older_than_live_no_window.py), and a .gz holding more than a whole
                      # followed .gz with its first line left waiting as "too short to tell" (copies.is_copy:
                      # test_gz_longer_than_whole_gz_is_no_copy.py; 193030 lost 16 lines unnamed without it)
                      (192112, 40, True), (192127, 40, True), (192199, 40, True), (192211, 40, True),
                      (192235, 40, True), (192243, 40, True), (192263, 40, True),
                      (192112, 40, False), (192199, 40, False), (192263, 40, False), (193030, 40, False),
                      # and a content cut in place, only its head read, given to a same-headed backup born before
                      # the file it was cut from, its real copy named a later copytruncate's window
                      # (copies.born_before_cut: test_copytruncate_copy_not_an_older_header_only_backup.py)
                      (192157, 40, True), (192271, 40, True), (192157, 40, False), (192271, 40, False),
                      # and one copy's window named by two proofs, at one scan or at a later cut (copies.window_named_by:
                      # test_copytruncate_window_named_once_per_copy.py); these two, of `SEED=198000 N=200`, passed on
                      # main's code, and failed with the is_copy fix above until then (a .gz read at once, not waiting)
                      (198076, 40, True), (198159, 40, True),
                      # session 24, of session 23's `SEED=197000 N=200` sweep: the live file empty at the stop and
                      # untouched since (its mtime as saved), the empty .gz of a `create` rotation beside it taken for
                      # its copy at the restart (copies.restored_empty_live:
                      # tests/tail/test_empty_live_unchanged_across_restart_no_window.py)
                      (197039, 40, True), (197138, 40, True), (197039, 40, False),
                      # and an empty .gz the last run had listed (its placeholder, on the same inode and generation)
                      # taken at the restart for the copy of the live file, empty then, grown since
                      # (copies.listed_before_the_stop: tests/tail/test_empty_gz_listed_before_the_stop_no_window.py)
                      (192014, 40, True),
                      # and a header-only .gz waiting to be told apart since an earlier scan, when the live file held
                      # its header only, taken for the copy of its head once it grew by appends (copies.head_copy_of_grown
                      # asks Prospector._waiting_before: tests/tail/test_head_only_backup_waiting_before_live_grew_no_window.py)
                      (197162, 40, True), (192031, 40, True), (192080, 40, True), (192109, 40, True),
                      # and a live file cut in place, read to its header only, whose copy the holder saw made (its window
                      # named by copies.copy_of_unread_live), its content given to the oldest same-headed file instead
                      # (the held .gz of a `create` rotation, born after it) and that one's window named too
                      # (Prospector._copy_made_of)
                      (197191, 40, True),
                      # and the `create` rotation's backup behind a file found cut, deleted since but held by the holder
                      # (listed), named a later copytruncate's copy (copies._rotated_in_after)
                      (197002, 40, True),
                      # and a window named with its copy before a kill -9 named again with that copy after it: the
                      # copies a window was named with kept in the checkpoint (state.WINDOW_COPY_PREFIX:
                      # tests/tail/test_copytruncate_window_named_once_across_a_restart.py)
                      (197052, 40, True), (197158, 40, True),
                      # session 25: passes since a held file is observed with its birth time (Prospector.observe, the
                      # fix of 193161); which of its six windows was the held file taken for a placeholder, not isolated
                      (197062, 40, True),
                      # session 25: passes since a file found cut is named under the rotated name that holds it now
                      # (truncation._name_now); which of its three windows was the false one, not isolated
                      (197128, 40, True),
                      # session 26: a header-only .gz of a `create` rotation that waited to be told apart before a kill
                      # -9 taken at the restart for the copy of the header-only live file grown since (head_copy_of_grown):
                      # what waits is kept in the checkpoint now (state.WAITING_PREFIX: tests/tail/
                      # test_head_only_backup_waiting_before_a_restart_no_window.py). 192093 was judged a case the agent
                      # could not tell (its .gz, it turns out, had waited before the restart); 192102 was that cause
                      (192093, 40, True), (192093, 40, False), (192102, 40, True),
                      # and of session 26's `SEED=300000 N=300 STEPS=60 ARGS=--overtaken` sweep, the same cause
                      (300005, 60, True), (300039, 60, True), (300039, 60, False), (300163, 60, True),
                      # and two of it whose extra window was copies.copy_of_grown_empty's: the live file, empty at the last
                      # scan and grown, renamed away by a `create` rotation since, the writer's next file behind it taken
                      # for its copy (it asks the live name still holds the file now: 193237 of FOUND_HELD_OVERTAKEN
                      # failed so once grew_at_head no longer refused a file told cut; tests/tail/
                      # test_copytruncate_again_after_a_window_told.py)
                      (300107, 60, True), (300123, 60, True),
                      # and two whose extra window was a header-only .gz waiting since the last look, given the content
                      # of a live file cut since (see FOUND_DEFAULT's 300279)
                      (300279, 60, True), (400273, 60, True),
                      # session 27: the .gz of the file before the live one (`create` + `delaycompress`, born after it),
                      # listed and waiting to be told apart before the live file was read to its header, taken once its
                      # wait was over for a copy made before an invisible cut (copies.copied_before_invisible_truncation
                      # leaves out a file waiting since an earlier scan: tests/tail/
                      # test_gz_waiting_since_before_live_read_no_window.py); and 300195 of FOUND_DEFAULT
                      (192147, 40, False), (300195, 60, True), (300195, 60, False),
                      # and the writer's next file, listed live, renamed by a rotation that overtook the scan, taken by
                      # copies.later_copy_of_cut for a later copy of the cut file (its name now a step behind the cut
                      # file's listed one): tests/tail/test_copytruncate_no_later_window_for_live_renamed_during_scan.py
                      (300051, 60, False),
                      # session 28: a header-only content (a copytruncate copy, deleted, its inode given to a .gz) took
                      # the new live file, renamed during the scan (found under app.log.1), and the file before it, a
                      # `create` rotation's, opened as listed and renamed since, was taken by
                      # Prospector._listed_copy_of_cut_live for a copy of it made before a cut: born before it, no copy
                      # (tests/tail/test_listed_create_backup_older_than_live_no_window.py)
                      (300059, 60, False)]
# Still naming more windows than copytruncates (`SEED=192000 N=300 STEPS=40 ARGS=--overtaken`, with the holder and
# without): strict xfails; the FOUND lists above replay these with that one check left out, so that what they were
# found for stays checked. (seed, steps, holder, what happens)
OPEN_FALSE_LOSSES: list[tuple[int, int, bool, str]] = [
    # with the holder: 285 of 300 pass, 15 name more windows (39 before session 21's fixes; 6 left after session 23's).
    # (192093, with the holder and without, and 192102: FOUND_FALSE_LOSSES since session 26.)
    # without it: 293 of 300 pass, 7 name more windows (17 before; 2 left after session 23's fixes)
    # (192147: FOUND_FALSE_LOSSES since session 27.)
    # (Session 23's `SEED=197000 N=200 STEPS=40 ARGS=--overtaken`, 183 of 200: 197039, 197138 and 197162 fixed in
    # session 24, 197062 and 197128 in session 25: FOUND_FALSE_LOSSES.)
    # Session 26's `SEED=300000 N=300 STEPS=60 ARGS="--overtaken --timings 3"` (on main's code 868 of 900 with the
    # holder, 885 without): (300059: FOUND_FALSE_LOSSES since session 28.)
    # and of `SEED=400000 N=300` (882 of 900 with the holder, 893 without)
    # Session 28, exam27a's `--seed 630000 --n 1000 --overtaken`: the copy of a live file read to its head named by
    # copies.copy_of_unread_live, then again by Prospector._listed_copy_of_cut_live (which asks no
    # copies.window_named_by), and an older file beside it named a third; with window_named_by asked the count is
    # right but an under-named loss shows (42 lines of app.log.3 deleted unread)
    (630213, 60, True, "5 copytruncate windows named, 4 copytruncates made"),
]
_FALSE_LOSS_OPEN = {(seed, holder) for seed, _, holder, _ in OPEN_FALSE_LOSSES}


# Session 22: the harness counts the bytes the losses name against the lines destroyed unread (Schedule._check_named_sizes).
# `SEED=192000/193000/194000/196000 N=300 STEPS=40 ARGS=--overtaken` with the holder, 192000 without: 31 schedules that
# passed failed it (each had other losses named, taken before for these); 13 pass since the fix of 192233 (truncation.py:
# a file found cut and deleted since, read through its descriptor), 192215 since a closed file listed larger, then gone
# during the scan, keeps the size listed (FOUND_OVERTAKEN). These are left, deterministic, causes not isolated.
# (seed, steps, holder, what happens)
OPEN_UNDER_NAMED: list[tuple[int, int, bool, str]] = [
    # Session 25 (193122, 193161, 194215, 196206 fixed: FOUND_HELD_OVERTAKEN). 192113: a restart's scan lists the live
    # file empty, a rotation overtaking it writes a line to it and compresses it, the next rotation deletes the .gz;
    # said only "possibly lost" (the dead agent's held files, the placeholder of the empty live file), not isolated
    (192113, 40, True, "1 line (11 bytes) of app.log.1.gz deleted unread, 0 bytes named"),
    # (192182: FOUND_HELD_OVERTAKEN since session 28)
    # Session 24's header-only/empty-held group (193019, 196057, 193060, 194051, 194289; they pass without the holder;
    # 194200 passes since session 25's fixes). Seen in 196057: the writer's next file, held while it had only its header, written, rotated and deleted
    # while the agent was frozen, then a kill -9: its held entry (held_record.py) knows the header only, so the start
    # says "possibly lost … what they held past their first line may be lines read from other files", not counted
    (193019, 40, True, "19 lines (275 bytes) of app.log.3 deleted unread, 30 bytes named"),
    (193060, 40, True, "35 lines (485 bytes) of app.log.4.gz deleted unread, 0 bytes named"),
    (194051, 40, True, "9 lines (125 bytes) of app.log.2.gz deleted unread, 0 bytes named"),
    (194289, 40, True, "11 lines (145 bytes) of app.log.1.gz deleted unread, 0 bytes named"),
    (196057, 40, True, "23 lines (328 bytes) of app.log.1 deleted unread, 0 bytes named"),
    # session 23's `SEED=197000 N=200 STEPS=40 ARGS=--overtaken` (197056, 197071 and 197111 pass since the holder's
    # entries in the checkpoint: FOUND_HELD_OVERTAKEN)
    (197032, 40, True, "10 lines (144 bytes) of app.log.1 deleted unread, 0 bytes named"),
    # (197060: FOUND_HELD_OVERTAKEN since session 27; its 30 lines were not those of the file "possibly lost" at the
    # stop, but of the live file's placeholder, empty and closed over the budget, written to and rotated out unseen)
    # without the holder: the live file last seen empty (listed by a scan a rotation overtook, written to meanwhile),
    # rotated on and deleted before the next look; let go by gone.empty_live_rotated as "possibly lost" (a compressed
    # file of the family read from its start since may hold its lines: an empty log rotated with `compress` must not be
    # a counted loss), so nothing is counted. What the agent saw cannot tell: a harness rule, or the holder, is needed
    (192041, 40, False, "3 lines (57 bytes) of app.log.2 deleted unread, 0 bytes named"),
    (192141, 40, False, "1 line (9 bytes) of app.log.2 deleted unread, 0 bytes named"),
    # Session 26's `SEED=300000/400000 N=300 STEPS=60 ARGS="--overtaken --timings 3"`, at timing 0 with the session's
    # fixes. The group above, held at a kill -9 ('possibly lost … held open, unread, when it ended without a stop'):
    (300036, 60, True, "3 lines (40 bytes) of app.log.1.gz deleted unread, 0 bytes named"),
    (300180, 60, True, "6 lines (103 bytes) of app.log.2.gz deleted unread, 85 bytes named"),
    (400100, 60, True, "17 lines (265 bytes) of app.log.2.gz deleted unread, 0 bytes named"),
    # and without the holder, 192041's and 197060's words ('possibly lost': empty when last seen and rotated away; read
    # up to its size at a stop and deleted while stopped)
    (300065, 60, False, "1 line (20 bytes) of app.log.2 deleted unread, 0 bytes named"),
    # and of `SEED=400000` without the holder, not isolated
    (400203, 60, False, "15 lines (225 bytes) of app.log.1 deleted unread, 0 bytes named"),
    # Session 28, exam27a's `--seed 630000 --n 1000 --overtaken`, held at a kill -9 (see OPEN_DEFAULT's 610040); 630301
    # stands for 630524 630585 630588 630847, which fail so too
    (630301, 60, True, "19 lines (275 bytes) of app.log.1 deleted unread, 42 bytes named"),
]


@pytest.mark.parametrize("seed,steps,holder,what", [pytest.param(*x, marks=pytest.mark.xfail(strict=True, reason=x[3]))
                                                    for x in OPEN_UNDER_NAMED],
                         ids=[f"{x[0]}{'-held' if x[2] else ''}" for x in OPEN_UNDER_NAMED])
def test_open_under_named_schedule(seed, steps, holder, what):
    """Deterministic: lines of files deleted unread, named lost with fewer bytes than they hold (or not at all, other
    losses named beside them), at every replay."""
    run_schedule(seed, steps=steps, strict=True, overtaken=True, holder=holder)


# Session 25: the harness matches each copytruncate that took lines destroyed unread to a loss of open size of its own,
# naming the live file or a name of its copy (Schedule._check_each_window_named; before, one loss of open size named
# anywhere covered every window). Newly failing with it in `SEED=192000/193000/194000/196000 N=300` and
# `SEED=197000/198000 N=200` (STEPS=40 --overtaken, with the holder and without), each on main's code too (the check is the
# harness's): strict xfails; the FOUND lists replay these with that one check left out. Which window of a schedule is
# left over is the matching's pick, not necessarily the one the tailer missed. (seed, steps, holder, what happens)
OPEN_UNNAMED_WINDOWS: list[tuple[int, int, bool, str]] = [
    # with the holder
    # 192110 (FOUND_HELD_OVERTAKEN since session 20 for its first window): a live file read to its header, copied (header
    # only, compressed), 5 lines written in the window and cut by a writer without O_APPEND, copied again empty, then a
    # kill -9; the restart finds it empty, cut under what was read, with header-only copies: nothing named
    (192110, 40, True, "2 windows lost lines, 1 named: the second (5 lines) of a header-only live file cut just "
                       "before a kill -9"),
    # 194085 (FOUND_HELD_OVERTAKEN since session 24): no window message at all. The one loss of open size is a held
    # .gz's deleted lines (named by the family, as held losses are), which the matching gives to one window. The second
    # window: 5 lines cut from a live file made after the last read, its copy header-only, then a kill -9 (the
    # holder's events die with it): after the restart the live file and its copy hold the header only
    (194085, 40, True, "2 windows lost lines, no window named (the one loss of open size: a held .gz deleted)"),
    (197019, 40, True, "2 windows lost lines, 1 named"),
    # and of `SEED=198000 N=200`
    (198051, 40, True, "2 windows lost lines, 1 named"),
    # without it (197027, with it and without: FOUND_HELD_OVERTAKEN since session 26)
    # (185102: both windows named since session 26, the second by its header-only copy, rotated on behind the live
    # file, copies.head_copy_rotated_on; replayed in FOUND_OVERTAKEN with the check)
    (194236, 40, False, "2 windows lost lines, 1 named"),
    (194240, 40, False, "2 windows lost lines, 1 named"),
    # (Session 26's 400156: FOUND_DEFAULT since session 30)
    # Session 28, exam27a's `--seed 630000 --n 1000 --overtaken`: 1 line of the window of a copytruncate of a live file
    # the tailer never read (born on a closed backup's inode), its copy read through the holder: no window named
    (630958, 60, True, "2 windows lost lines, 1 named"),
]
_WINDOWS_OPEN = {(seed, holder) for seed, _, holder, _ in OPEN_UNNAMED_WINDOWS}


@pytest.mark.parametrize("seed,steps,holder,what", [pytest.param(*x, marks=pytest.mark.xfail(strict=True, reason=x[3]))
                                                    for x in OPEN_UNNAMED_WINDOWS],
                         ids=[f"{x[0]}{'-held' if x[2] else ''}" for x in OPEN_UNNAMED_WINDOWS])
def test_open_unnamed_window_schedule(seed, steps, holder, what):
    """Deterministic: a copytruncate whose lines were destroyed unread is named by no loss of its own (another window's
    loss named instead), at every replay."""
    run_schedule(seed, steps=steps, strict=True, overtaken=True, holder=holder)


# Session 26: as `make torture` runs them (no --overtaken, 60 steps; with the holder and without), from
# `SEED=300000 N=300 ARGS="--timings 3"` (on main's code 863 of 900 with the holder, 882 without). (seed, steps, holder)
FOUND_DEFAULT = [
    # a header-only .gz that waited to be told apart before a kill -9, taken at the restart for the copy of the live
    # file grown since: a false window (state.WAITING_PREFIX; see FOUND_FALSE_LOSSES)
    (300005, 60, True), (300005, 60, False), (300039, 60, True), (300039, 60, False), (300093, 60, True),
    (300093, 60, False),
    # a header-only live file copytruncated (a header-only copy, a line in the window), written on and rotated on while
    # stopped: the window went unsaid (copies.head_copy_rotated_on: tests/tail/test_copytruncate_head_copy_behind_rotated_live.py)
    (300077, 60, True), (300077, 60, False),
    # a live file read to its header, copytruncated: its content given to the header-only .gz of a `create` rotation
    # that had waited since the last look (born after the live file), and the real copy named a later copytruncate's
    # window: two for one (Prospector: a file waiting since an earlier scan is no copy of a cut found now;
    # tests/tail/test_copytruncate_copy_not_a_header_only_gz_waiting_before.py)
    (300279, 60, True), (300279, 60, False), (400098, 60, False),
    # session 27: a .gz waiting since before the live file was read to its header taken for its copytruncate copy
    # (see FOUND_FALSE_LOSSES' 192147)
    (300195, 60, True), (300195, 60, False),
    # session 27: a copytruncate window named with a copy of the head alone as the file grew from it, read between the
    # copy and the truncation (copies.head_copy_of_grown), named again when the content, found cut, was found in that
    # copy's .gz (gone.copytruncate_loss: tests/tail/test_copytruncate_head_copy_window_named_once_with_its_gz.py)
    (300002, 60, True), (400005, 60, True),
    # session 27: two copytruncates in a row, then a `create` rotation with `delaycompress`: the second copy, held by
    # the holder, and its .gz were named two later copytruncates' windows (copies.later_copy_of_cut: a .gz born after a
    # plain file deleted since, holding its bytes, is that file compressed; tests/tail/
    # test_copytruncate_later_copy_and_its_gz_one_window.py)
    (400098, 60, True),
    # session 27's `SEED=500000 N=300`: a .gz waiting to be told apart, deleted before a kill -9 (20 lines, no holder),
    # named at the restart (tests/tail/test_waiting_file_deleted_across_a_restart_named.py)
    (500233, 60, False),
    # and two copytruncates in a row, the second under a writer without O_APPEND, then a kill -9: the hole at the live
    # file's start, shorter than the first copy, was taken for "nothing written between the copy and the cut"
    # (harvester.cut_after_copy: a shorter hole is a later cut's; tests/tail/test_copytruncate_hole_of_a_later_cut_no_proof.py)
    (500289, 60, True), (500289, 60, False),
    # session 28: files the holder held at a kill -9, deleted before the next start, said "possibly lost", not counted
    # (held_gone._judge): a file on disk (the writer's next, grown past the held file's length) counted a possible
    # origin by its size alone, its bytes not compared; or any content of the family cut in place, though the state of
    # the content cut away was kept (its read reach among the origins'): tests/tail/
    # test_held_at_a_kill_origin_told_by_bytes.py. Of exam27a's `--seed 610000 --n 2000` and `--seed 620000 --n 1000
    # --steps 120` (and 400100 of OPEN_DEFAULT's group)
    (610101, 60, True), (610845, 60, True), (610948, 60, True), (611764, 60, True), (620089, 120, True),
    (400100, 60, True),
    # session 28: 300002's case across a kill -9: a window named with a copy of the head alone as the file grew from it
    # (copies.head_copy_of_grown), the content found cut at the restart, in that copy's .gz, named again by
    # harvester.cut_after_copy; the note is kept with the content's state now (FileState.head_window:
    # tests/tail/test_copytruncate_head_copy_window_named_once_across_a_restart.py)
    (400238, 60, True),
    # session 30: a header of a few lines copytruncated between two scans and written again: its window named as the
    # file grew from it, by the copy holding all that was read (was: the head alone, so it went unnamed; FileState.
    # head_window keeps the copy's length: tests/tail/test_copytruncate_header_lines_while_stopped.py's running case)
    (400156, 60, False)]
# Still failing so at timing 0, strict xfails. `make torture`'s own default seeds (SEED=1 N=200) among them: 97 and 128
# fail on main's code since at least session 24 (bfc4659; the harness's byte count of session 22). (seed, steps, holder,
# what happens)
_HELD_AT_A_KILL = ("lines of files the holder held at a kill -9, deleted before the next start, 'possibly lost' (a header "
                   "every file shares: any content read may be their origin, held_gone._judge): ")
OPEN_DEFAULT: list[tuple[int, int, bool, str]] = [
    # 97's other loss, a second copytruncate of a file told cut once, is fixed (copies.grew_at_head:
    # tests/tail/test_copytruncate_again_after_a_window_told.py)
    (97, 60, True, _HELD_AT_A_KILL + "17 lines (264 bytes) of app.log.2.gz, 0 bytes named"),
    (128, 60, True, _HELD_AT_A_KILL + "17 lines (241 bytes) of app.log.2.gz, 0 bytes named"),
    (300049, 60, True, _HELD_AT_A_KILL + "32 lines (433 bytes) of app.log.3.gz, 0 bytes named"),
    (300089, 60, True, _HELD_AT_A_KILL + "21 lines (279 bytes) of app.log.1.gz, 0 bytes named"),
    (300180, 60, True, _HELD_AT_A_KILL + "6 lines (88 bytes) of app.log.2.gz, 65 bytes named"),
    # (400100: FOUND_DEFAULT since session 28)
    # causes not isolated
    (300120, 60, True, "2 copytruncates took lines destroyed unread, 1 loss of open size named"),
    # of `SEED=400000 N=300 ARGS="--timings 3"` (882 of 900 with the holder, 892 without)
    # (400238: FOUND_DEFAULT since session 28; 400156 since session 30)
    # 400174 (seen in its trace, session 27): the live file made after the tailer's last read, met by the holder alone
    # while empty, copytruncated twice (2 lines in the first window) while the tailer did not read, then a kill -9: the
    # restart finds a file on that inode and generation that it never read, its copies read whole as new files.
    # Nothing saved tells it was cut (the holder's entry of it: length 0, no head); only the watcher's events, which
    # the harness does not run, could
    (400174, 60, True, "2 lines of seen files destroyed unread, no loss warned (a never-read live file's window, "
                       "copytruncated before a kill -9)"),
    # Session 27's fresh sweep, `make torture SEED=500000 N=300` with the holder (295 of 300) and without (298 of 300),
    # at the session's end; and 14 of the default seeds without the holder (199 of 200; fails on session 26's code too)
    (500057, 60, True, _HELD_AT_A_KILL + "62 lines of app.log.3.gz, no loss warned"),
    (500230, 60, True, "2 copytruncates took lines destroyed unread, 1 loss of open size named"),
    (500240, 60, True, "2 copytruncates took lines destroyed unread, 1 loss of open size named"),
    (500235, 60, True, "1 line delivered twice (warned as a possible repeat)"),
    (500235, 60, False, "1 line delivered twice (warned as a possible repeat)"),
    (14, 60, False, "3 lines a copytruncate cut destroyed unread, no loss warned"),
    # Session 28, exam27a's `--seed 610000 --n 2000` and `--seed 620000 --n 1000 --steps 120` (holder), on this
    # session's main (1981 of 2000, 996 of 1000 with its fixes). Held at a kill -9 ((a) of docs/design.md "What the
    # agent cannot tell"): a content of the family read past the held file's length in one batch, no mark inside it,
    # or one cut in place whose content cut away is in no saved state. 610040 and 620160 stand for 610281 610428
    # 610807 610967 611195 611315 611375 611426 611562 611599 611823, which fail so too
    (610040, 60, True, _HELD_AT_A_KILL + "29 lines (423 bytes) of app.log.3.gz, 0 bytes named"),
    (620160, 120, True, _HELD_AT_A_KILL + "60 lines (907 bytes) of app.log.3.gz, 0 bytes named"),
    # a copytruncate's copy deleted by a rotation before any scan saw it, the live file (read to its end) found cut
    # by the next: "possibly lost (possibly none) … no copy of it was found", not counted: its window's line unnamed
    (611653, 60, True, "3 copytruncates took lines destroyed unread, 2 losses of open size named (one window only "
                       "'possibly lost', its copy deleted before any scan saw it)"),
    # causes not isolated (which window is left over is the matching's pick)
    (610035, 60, True, "3 copytruncates took lines destroyed unread, 1 loss of open size named"),
    (610389, 60, True, "4 copytruncates took lines destroyed unread, 3 losses of open size named"),
    (611604, 60, True, "3 copytruncates took lines destroyed unread, 2 losses of open size named"),
    (611835, 60, True, "3 copytruncates took lines destroyed unread, 2 losses of open size named"),
    (611868, 60, True, "2 copytruncates took lines destroyed unread, 1 loss of open size named"),
    # the live file born during an output outage, never read, empty when copied (its copy compressed at once), 4 lines
    # written in the window and cut, then a kill -9: no loss warned (as 192049 of OPEN_HELD_OVERTAKEN)
    (611710, 60, True, "4 lines of seen files destroyed unread, no loss warned (a window of a never-read empty live "
                       "file, copytruncated just before a kill -9)"),
    # files that hold no more than a first line the family shares, waited on, then read as new files (warned)
    (620496, 120, True, "22 lines delivered twice (warned: 'could not tell whether … is a copy … read as a new file')"),
    (620658, 120, True, "8 lines delivered twice (warned: 'could not tell whether … is a copy … read as a new file')"),
]


@pytest.mark.parametrize("seed,steps,holder", FOUND_DEFAULT)
def test_found_default_schedule(seed, steps, holder):
    run_schedule(seed, steps=steps, strict=True, holder=holder)


@pytest.mark.parametrize("seed,steps,holder,what", [pytest.param(*x, marks=pytest.mark.xfail(strict=True, reason=x[3]))
                                                    for x in OPEN_DEFAULT],
                         ids=[f"{x[0]}{'-held' if x[2] else ''}" for x in OPEN_DEFAULT])
def test_open_default_schedule(seed, steps, holder, what):
    """Deterministic, as `make torture` runs them: fails at every replay."""
    run_schedule(seed, steps=steps, strict=True, holder=holder)


@pytest.mark.parametrize("seed,steps", FOUND)
def test_found_schedule(seed, steps):
    run_schedule(seed, steps=steps, strict=True, holder=False,  # (deterministic)
                 false_losses=(seed, False) not in _FALSE_LOSS_OPEN, windows=(seed, False) not in _WINDOWS_OPEN)


@pytest.mark.parametrize("seed,steps", FOUND_OVERTAKEN)
def test_found_overtaken_schedule(seed, steps):
    run_schedule(seed, steps=steps, strict=True, overtaken=True, holder=False,
                 false_losses=(seed, False) not in _FALSE_LOSS_OPEN, windows=(seed, False) not in _WINDOWS_OPEN)


@pytest.mark.parametrize("seed,steps", FOUND_HELD_OVERTAKEN)
def test_found_held_overtaken_schedule(seed, steps):
    run_schedule(seed, steps=steps, strict=True, overtaken=True, false_losses=(seed, True) not in _FALSE_LOSS_OPEN,
                 windows=(seed, True) not in _WINDOWS_OPEN)


@pytest.mark.parametrize("seed,steps,holder", FOUND_FALSE_LOSSES)
def test_found_false_loss_schedule(seed, steps, holder):
    run_schedule(seed, steps=steps, strict=True, overtaken=True, holder=holder)


# The open seeds, each a strict xfail: without the holder (OPEN_OVERTAKEN) and with it (OPEN_HELD_OVERTAKEN), and those
# naming more copytruncate windows than the schedule made copytruncates (OPEN_FALSE_LOSSES, empty since session 28), in
# one test so that an empty list is no skipped test.
OPEN = ([(*x, False) for x in OPEN_OVERTAKEN] + [(*x, True) for x in OPEN_HELD_OVERTAKEN]
        + [(seed, steps, what, holder) for seed, steps, holder, what in OPEN_FALSE_LOSSES])


@pytest.mark.parametrize("seed,steps,what,holder", [pytest.param(*x, marks=pytest.mark.xfail(strict=True, reason=x[2]))
                                                    for x in OPEN], ids=[f"{x[0]}{'-held' if x[3] else ''}" for x in OPEN])
def test_open_overtaken_schedule(seed, steps, what, holder):
    """Deterministic (the holder, where there is one, stepped by the schedule): fails at every replay, whatever the
    load (a strict xfail holds)."""
    run_schedule(seed, steps=steps, strict=True, overtaken=True, holder=holder)


def test_the_harness_reads_the_size_each_loss_names():
    """Schedule.check counts the bytes the losses name (session 22): it reads them from the ledger's own wording, so
    a change of that wording fails here rather than passing every schedule's count unread."""
    import logging

    from shipper.tail.events import TailEvents
    from shipper.tail.losses import LossLedger

    losses = harness.Losses()
    log = logging.getLogger("test.torture.sizes")
    log.addHandler(losses)
    try:
        ledger = LossLedger(log, TailEvents())
        ledger.lost("/l/app.log.2", 120, "were deleted before they could be read")
        ledger.lost("/l/app.log", 57, "written after the last read", unknown=True)
        ledger.copytruncate_window("/l/app.log", "/l/app.log.1", "found by the copy")
    finally:
        log.removeHandler(losses)
    assert [harness._amount(m) for m in losses.messages] == [(120, False), (57, True), (0, True)]
    assert [harness._cut_kind(m) for m in losses.messages] == [False, False, True]
    assert [harness._subject(m) for m in losses.messages] == ["/l/app.log.2", "/l/app.log", "/l/app.log"]
