"""The names of the contents a live file held between two truncations in place that the agent did not see: what a
copytruncate left in its later copies while the agent was away (a kill -9, a stop).

A content's file id names its inode, its head and the content its inode held before it was cut in place
(identity.file_id's `after`), and its record keys are `<file id>:<offset>`. A copytruncate copy holds its content's
bytes at the same offsets, so read under that content's name it gives every line the key it had when read from the
live file. That matters after a kill -9: lines delivered but not committed are read again, and a tier deduplicating
by id drops them only if they come with the same ids. When the live file was copytruncated again while the agent was
down, those lines are in the newest copy, not in the live file: read as a file of its own, they came with new ids and
were shipped twice (tests/tail/test_attack27_kill9_replay_from_copytruncate_copy_new_ids.py).

The chain is told at a restart's scan that found the live file cut in place (the same inode and generation, other
bytes) and the content read of it in a copy (Prospector._cut_copied): each copy made after that one, oldest first, is
the copy of the content the inode held next, named after the one before it; the live file's content is named after
the newest (as the run that saw each truncation would have named them all). Without a head (a copy holding less than
a line) the chain cannot be followed past it: the copies from there on keep names of their own, and the live file its
name after the content found cut (as before). A copy the next copy or the live file begins with (logrotate `copy`, no
cut between them) holds that one's content: it is given its name.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

from shipper.tail import copies, discovery
from shipper.tail.followed import Followed, Observed
from shipper.tail.identity import file_id, head_of, same_bytes
from shipper.tail.reader import OpenFile
from shipper.tail.state import FileState

if TYPE_CHECKING:
    from shipper.tail.prospector import Prospector


def name_later_copies(p: Prospector, unmatched: dict[tuple[int, int], Observed],
                      obs: dict[tuple[int, int], Observed]) -> None:
    """Name the later copies of each live file found cut in place at this scan (p._copy_names), and the content the
    live file holds now after the newest of them (p._regrown_on); and give each the length of the copy made before it
    (p._hole_of: a hole as long at its start, left by a writer without O_APPEND, stands for that copy's bytes. Named
    "data lost … before the N zero bytes at its start", it was a loss no copytruncate made, exam27a's
    test_attack27_hole_headed_backup_false_loss.py)."""
    for family, copy in sorted(p._cut_copied.items()):
        cut = [k for k, fam in p._cut_files.items() if fam == family]
        # (Found cut by a running agent, it is followed again at this scan already: listed all the same. Left out, a
        # frozen agent's later copy, under a writer without O_APPEND, had no hole length and named "data lost … before
        # the N zero bytes at its start": exam30b's test_attack30_frozen_non_appending_copytruncates_false_hole_loss.)
        live = obs.get(cut[0]) if len(cut) == 1 else None
        if live is None:
            continue
        key = cut[0]
        later = sorted((o for k, o in unmatched.items()
                        if k != key and _later_copy(o, family, copy, live, obs)), key=copies._age)
        if not _told_in_order([copy, *later]):
            continue
        before = copies.copy_len(p, copy)
        for o in later:
            p._hole_of[(o.st.st_dev, o.st.st_ino)] = before
            before = copies.copy_len(p, o)
        if key in p._regrown_on:  # (else the cut file's content is not named after the one found cut: no chain)
            p._regrown_on[key] = _chain(p, key, live, p.matcher.gen_of(live), p._regrown_on[key], later)


def name_copies_of_placeholders(p: Prospector, unmatched: dict[tuple[int, int], Observed]) -> None:
    """At a restart's first scan, before the loose states take their files: the live files that were empty when
    saved (a placeholder: after a truncation seen, or new) and hold bytes now, on the same inode generation, beside
    copies made since (last written, and born where birth times are had, after the placeholder was saved: an older
    backup touched since is none): each copy, oldest first, is the copy of the content the inode held next
    (copytruncate while the agent was away), named after the one before it (the first after the content the
    placeholder names, Followed.after); the live file's content after the newest (p._regrown_on, taken by
    Prospector._attach)."""
    # (A content's inode given to another file since is no longer its: logrotate `delaycompress` deletes the backup it
    # compressed and copies the live file next, which ext4 gives that inode. Taken for known, the copy was read under a
    # new name, its replayed lines under new ids: exam29b's test_attack29_kill9_replay_new_ids.)
    known = {(lo.state.dev, lo.state.ino) for lo in p.loose.values()
             if not _given_away(p, lo.state, unmatched.get((lo.state.dev, lo.state.ino)))} | p.files.keys()
    for lo in p.loose.values():
        s = lo.state
        key = (s.dev, s.ino)
        live = unmatched.get(key)
        if (s.head_len or s.offset or s.size or s.gone or s.gz or s.path != s.family or not s.mtime or s.gen < 0
                or live is None or live.path != s.family or not live.st.st_size or lo.reused
                or p.matcher.gen_of(live) != s.gen):
            continue
        folders = _backup_folders(p, s.family)
        later = sorted((o for k, o in unmatched.items()
                        if k not in known and os.path.dirname(o.path) in folders
                        and discovery.is_rotated_name(os.path.basename(s.family), os.path.basename(o.path))
                        and o.st.st_mtime_ns > s.mtime and (o.born is None or o.born > s.mtime)), key=copies._age)
        compressing = {o.path[:-3] for o in later if o not in _compressions_left_out(later)}
        later = _compressions_left_out(later)
        if later and _told_in_order(later):
            cut_after: list[Observed] = []
            p._regrown_on[key] = _chain(p, key, live, s.gen, s.after, later, cut_after)
            # (Each copy's hole, under a writer without O_APPEND, stands for the content before it: the one the
            # placeholder's cut ended, then each copy. Unset, a hole exactly that long was named "data lost … before the
            # N zero bytes at its start": exam29b's test_kill9_replay_under_a_non_appending_writer_names_no_false_hole_loss.)
            before = _length_of(p, s.after)
            for o in later:
                if before is not None:
                    p._hole_of[(o.st.st_dev, o.st.st_ino)] = before
                before = copies.copy_len(p, o)
            for o in cut_after:
                # Each was copied from the live file, which was cut after: that copytruncate's window, as
                # copies.later_copy_of_cut names one after a content found cut. (Unsaid, the lines written between the
                # copy and the cut went without a word: the live file empty when saved, after a cut seen.)
                if not copies.window_named_by(p, o):
                    # (Named by the name it will keep too, when gzip is still making it: the plain copy goes.)
                    copy = f"{o.path} (being compressed into {o.path}.gz)" if o.path in compressing else o.path
                    p.ledger.copytruncate_window(s.family, copy, "found by the copy, made after the file was last "
                                                                 "looked at, empty, and cut after it")


def name_rotated_placeholders(p: Prospector, unmatched: dict[tuple[int, int], Observed]) -> None:
    """At a restart's first scan, once the loose states have taken their files: a live file that was empty when
    saved (a placeholder) and whose inode is at no name now (a `create` rotation renamed it while the agent was away,
    `compress` made it a .gz): its content is the backup rotated in right after the content before it, the newest
    content of its family found now (the one the placeholder's cut ended, when it names one): one rotation number
    lower, beside it, and the oldest backup last written after the placeholder was saved. It is named as the run that
    read the placeholder's content named it, so a kill -9's replay keeps its ids. (Read under a name of its own, the
    lines delivered and not committed came again under new ids: exam29b's create-compress case of
    test_attack29_kill9_replay_new_ids.py, exam30b's test_attack30_kill9_replay_copytruncate_then_create_new_ids.py.)
    Nothing is named when the content before it is not found (rotated out: the placeholder's may be too, and another
    content would take its keys)."""
    for lo in list(p.loose.values()):
        s = lo.state
        if (s.head_len or s.offset or s.size or s.gone or s.gz or s.path != s.family or not s.mtime or s.gen < 0
                or (s.dev, s.ino) in p.files):
            continue
        listed = unmatched.get((s.dev, s.ino))
        if listed is not None and not _given_away(p, s, listed):
            continue  # (its inode still listed: taken by inode, or read on as it is)
        before = _content_before(p, s)
        index = None if before is None else copies._rotation_index(before.path)
        if before is None or index is None or index < 2:
            continue
        folder = os.path.dirname(before.path)
        after = [o for o in unmatched.values()
                 if os.path.dirname(o.path) == folder
                 and discovery.is_rotated_name(os.path.basename(s.family), os.path.basename(o.path))
                 and o.st.st_mtime_ns > s.mtime and (o.born is None or o.born > s.mtime)]
        rotated_next = [o for o in after if copies._rotation_index(o.path) == index - 1]
        if len(rotated_next) != 1 or copies.oldest(after) is not rotated_next[0]:
            continue
        o = rotated_next[0]
        with p.fds.reading(o) as fh:
            head = None if fh is None else head_of(fh.head())
        if head is not None:
            p._copy_names[(o.st.st_dev, o.st.st_ino)] = file_id(s.dev, s.ino, head, s.gen, s.after)


def _compressions_left_out(files: list[Observed]) -> list[Observed]:
    """`files` but each `.gz` whose plain file is among them: gzip still writes it (or has not deleted the plain file
    yet), the same content. (Taken for a copy of its own, made in the same rotation, the order of the copies could not
    be told and none was named: a kill -9's replay came under new ids once gzip was done, exam30b's
    test_attack30_kill9_replay_gz_still_compressing_at_restart_new_ids.py.)"""
    plain = {o.path for o in files if not o.gz}
    return [o for o in files if not (o.gz and o.path.endswith(".gz") and o.path[:-3] in plain)]


def _content_before(p: Prospector, s: FileState) -> Followed | None:
    """The followed content of `s`'s family under a rotated name that was live before `s`: the one `s`'s cut ended
    when it names one, else the newest (the lowest rotation number)."""
    known = [f for f in p.files.values() if f.family == s.family and f.state is not None and f.state.head_len
             and f.path != f.family and copies._rotation_index(f.path) is not None]
    if s.after:
        return next((f for f in known if f.state is not None and f.state.fid == s.after), None)
    return min(known, key=lambda f: copies._rotation_index(f.path) or 0, default=None)


def _chain(p: Prospector, key: tuple[int, int], live: Observed, gen: int, after: str, later: list[Observed],
           cut_after: list[Observed] | None = None) -> str:
    """Name each of the copies `later` (oldest first) of the contents the inode `key` (listed as `live`, of
    generation `gen`) held after the one named `after`; the name the content it holds now is to be given after.
    `cut_after` gets the copies the live file was cut after (each but one the next copy, or the live file, begins
    with)."""
    for o, nxt in zip(later, later[1:] + [live]):
        with p.fds.reading(o) as fh, p.fds.reading(nxt) as nh:
            head = None if fh is None else head_of(fh.head())
            if fh is None or head is None or nh is None:
                break
            name = file_id(key[0], key[1], head, gen, after)
            p._copy_names[(o.st.st_dev, o.st.st_ino)] = name
            if not _prefix_of(fh, nh, fh.size(), len(head)):
                after = name  # (cut after it was made: the next copy, or the live file, holds the next content)
                if cut_after is not None:
                    cut_after.append(o)
            elif nxt is not live:
                # (A copy without a cut, `copy` or an operator's `cp`, then a copytruncate: the later copy holds all of
                # it, under the same name. Read too, its lines came twice, the later copy's under the next name of the
                # chain, as a name in use is not given again: exam29b's
                # test_kill9_replay_after_a_copy_then_a_copytruncate_while_down_keeps_its_ids.)
                p.copies[(o.st.st_dev, o.st.st_ino)] = (o.st.st_size, o.st.st_mtime_ns)
    return after


def _backup_folders(p: Prospector, family: str) -> set[str]:
    """The folders `family`'s backups are made in: its own, and each a content of it was found in since (logrotate
    `olddir`). (Looked for beside the live file only, the copy made in the olddir while the agent was down was read
    under a name of its own, a kill -9's replayed lines under new ids, its window unnamed: exam29b's
    test_kill9_replay_from_an_olddir_copytruncate_copy_keeps_its_ids_and_names_the_window.)"""
    states = [lo.state for lo in p.loose.values()] + [f.state for f in p.files.values() if f.state is not None]
    return {os.path.dirname(family)} | {os.path.dirname(st.path) for st in states if st.family == family}


def _length_of(p: Prospector, fid: str) -> int | None:
    """How long the content named `fid` was when last looked at (None: not known)."""
    states = [lo.state for lo in p.loose.values()] + [f.state for f in p.files.values() if f.state is not None]
    sizes = [max(st.size, st.offset) for st in states if fid and st.fid == fid and not st.gz]
    return sizes[0] if len(sizes) == 1 else None


def _given_away(p: Prospector, s: FileState, o: Observed | None) -> bool:
    """Does the inode `s` was read on hold another file now, listed as `o` (another generation)?"""
    return o is not None and s.gen >= 0 and p.matcher.gen_of(o) not in (-1, s.gen)


def _told_in_order(files: list[Observed]) -> bool:
    """Do `files`, sorted by when they were last written (copies._age), tell the order the copies were made in? Not when
    two were last written in the same instant, nor when their rotation numbers, where all have one, say otherwise
    (app.log.3.gz older than app.log.2.gz, older than app.log.1): logrotate and gzip give a .gz its source's mtime,
    another compressor the time of the compression, later than the copy made before it (`delaycompress`), and a copy
    named in the wrong order would take the name, and the record keys, of another content: a tier deduplicating by id
    then drops lines never delivered."""
    if any(copies._age(a) == copies._age(b) for a, b in zip(files, files[1:])):
        return False
    numbers = [n for n in (copies._rotation_index(o.path) for o in files) if n is not None]
    return len(numbers) < len(files) or all(a > b for a, b in zip(numbers, numbers[1:]))


def _prefix_of(fh: OpenFile, lh: OpenFile, size: int, head_len: int) -> bool:
    """Does the next copy, or the live file (`lh`), begin with the `size` bytes of the copy (`fh`), past its head?
    Then the live file was not cut between the two (logrotate `copy`): they hold one content, under one name."""
    return size > head_len and lh.size() >= size and same_bytes(fh.read, lh.read, size)


def _later_copy(o: Observed, family: str, copy: Observed, live: Observed,
                obs: dict[tuple[int, int], Observed]) -> bool:
    """Is `o` a backup of `family` made after `copy` while `live` stayed at the live name (copies.later_copy_of_cut's
    rule: beside the live file or the copy, under a rotated name, last written after the copy; and born after it, where
    birth times are had)?"""
    folder, name = os.path.split(o.path)
    if folder not in (os.path.dirname(family), os.path.dirname(copy.path)):
        return False
    if not discovery.is_rotated_name(os.path.basename(family), name) or copies._age(o) <= copies._age(copy):
        return False
    if o.born is not None and copy.born is not None and o.born <= copy.born and not copy.gz:
        return False  # (born before the copy: an older file written to since, no later copy)
    listed = obs.get((o.st.st_dev, o.st.st_ino), o)
    return not any(copies._rotated_in_after(x, live) for x in (o, listed))
