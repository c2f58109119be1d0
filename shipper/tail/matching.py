"""The proofs the tailer decides by: does a file hold a content it knows (the same inode still, or a
copy, a compressed backup, the file it was renamed to), is it a copy of a file it follows, can
nothing tell yet. Each answers from the file's bytes compared with what was read (identity.py: the
head, the mark before the offset, the window and earlier marks); none changes what is followed.
What to do with the answer (attach a content, follow a new file, wait, call a loss) is the
prospector's scan (prospector.py)."""
from __future__ import annotations

from shipper.tail import edits
from shipper.tail.descriptors import Descriptors
from shipper.tail.discovery import FamilyIndex
from shipper.tail.followed import ROTATED_AWAY, Followed, Loose, MovedDuringScan, Observed
from shipper.tail.holder import generation
from shipper.tail.identity import MARK_MAX, digest, head_of, same_bytes
from shipper.tail.reader import OpenFile
from shipper.tail.state import FileState

AHEAD_LOOK = 8 * 1024  # bytes looked back from a new file's end for a line end past its head (FileState.ahead)


class Matcher:
    def __init__(self, files: dict[tuple[int, int], Followed], loose: dict[str, Loose], fds: Descriptors,
                 families: FamilyIndex):
        # The prospector's followed files, loose contents and their families (shared, read only here), and
        # its descriptors.
        self.files = files
        self.loose = loose
        self.fds = fds
        self.families = families

    def same_content(self, f: Followed, o: Observed) -> bool:
        """A closed followed file under its inode: still the same file (not a reused inode)?"""
        if f.replaced:
            return False  # (a reopen found another file on its inode)
        if f.gz != o.gz:
            return False  # (see matches)
        if f.state is None:
            # No identity yet (no complete line: an empty .gz, say): re-checked once it has a head.
            # Changed since we looked, on an inode of another generation, it was deleted and its
            # inode given to a new file (the next .gz, a copy of a content read: read from 0 as
            # this file, every line of it was repeated; tests/tail/test_identity.py). One never
            # opened (renamed during the scan that found it: no generation) now under a live name is
            # another file: content moves away from a live name, not onto it (ext4 gave its inode to
            # the writer's next file; taken for it, the lines written to it before it was rotated
            # out and deleted went without a word).
            if f.unopened and self.at_live_name(o):
                return False
            if f.born is not None and o.born is not None and f.born != o.born:
                # Listed with another birth time: another file given its inode (its generation, never
                # opened, could not say so; taken for it, the lines it had went without a word: torture
                # seed 1000).
                return False
            if f.gen < 0:
                # None when it was found (renamed before it could be opened: a scan overtaken by a
                # rotation): taken at this first look, or it matched any file given its inode.
                f.gen = self.gen_of(o)
                return True
            if o.st.st_mtime_ns == f.mtime_ns and o.st.st_size == f.seen_size and f.settled:
                return True
            return self.gen_of(o) in (-1, f.gen)
        if o.st.st_mtime_ns == f.mtime_ns and o.st.st_size == f.size and f.settled:
            # Untouched since we looked. (Not so when its mtime was within a clock tick of that look:
            # deleted, its inode given to a file of the same size within the tick — the writer's next
            # file, header only — had the same mtime too, and was taken for it unopened: the closed
            # file's last lines lost without a word, the new file's never read.)
            return True
        return self.matches(f.state, o)

    def emptied_in_place(self, f: Followed, o: Observed) -> bool:
        """The closed file `f`, listed under its inode shorter than its first line (empty, say): is it
        `f` truncated (the same inode generation), not a file given its inode? Its head gone, it
        matches no content (same_content), and a copytruncate window went unsaid (seed 1215)."""
        s = f.state
        return (s is not None and not f.deleted and o.st.st_size < s.head_len and s.gen >= 0
                and self.gen_of(o) == s.gen)

    def matches(self, s: FileState, o: Observed) -> bool:
        """Is the file `o`, under the inode `s` was read from, still that content (not a reused
        inode)? Same head, and the same bytes before the offset where it is that long. Raises
        MovedDuringScan when `o`'s name holds another file by now: that tells nothing either way."""
        if (o.st.st_dev, o.st.st_ino) != (s.dev, s.ino):
            return False
        if o.gz != s.gz:
            # A content never changes between plain and compressed on its inode (gzip writes a new
            # file): its inode holds another file. (A plain state matched on a reused inode holding
            # a .gz with the same first line and fewer compressed bytes than were read was taken
            # for the file cut shorter, and its gzip bytes read as lines.)
            return False
        if not o.gz and o.st.st_size < s.head_len:
            return False
        # (Its name gone since the listing tells nothing either: taken for "not this content", a
        # closed file read to its end, renamed and deleted during the scan, was let loose and its
        # inode, given to the writer's next file, followed as a new file never opened: a false
        # "possibly lost" of all it held, torture seed 22.)
        with self.fds.reading(o, on_moved="raise_gone") as fh:
            if fh is None:
                return False
            if s.gen >= 0 and inode_gen(fh) not in (-1, s.gen):
                # Its inode holds another file now (ext4 gives a freed inode to the next file: a
                # copytruncate copy, the next .gz), whatever its head and size say: taken for this
                # content "truncated" (shorter: a same-headed copy, a .gz's compressed size), it
                # was read again from 0, or on from the old offset (tests/tail/test_identity.py).
                return False
            if not self.head_is(fh, s) or self.reread_moved(fh, o, s, shorter=False):
                return False
            if o.st.st_size >= s.offset:
                return self.mark_ok(fh, s)
            return True  # shorter than our offset: truncated; detected when read

    def holds_other(self, lo: Loose, o: Observed) -> bool:
        """`o`, on the inode `lo` was read from, is shorter than what was read of it (truncated): is
        it another content read from the same inode since (truncated and written again, read, then
        a restart), whose bytes before its offset it holds? That content takes it."""
        for x in self.loose.values():
            t = x.state
            if (x is not lo and x.gone_at is None and (t.dev, t.ino) == (lo.state.dev, lo.state.ino)
                    and t.head_len and t.offset <= o.st.st_size and t.offset > t.head_len and self.matches(t, o)):
                return True
        return False

    def holds_read(self, lo: Loose, o: Observed) -> int | None:
        """Does the file `o` (another inode: a renamed-and-reused, copied or compressed file)
        hold what was read of the loose content `lo`? The offset to go on from if so: the read
        offset, or the end of `o` when it is a copy shorter than what was read (copytruncate
        while the reader was ahead of the copy). A shared head alone never proves it. Raises
        MovedDuringScan when `o`'s name holds another file by now: that tells nothing either way."""
        s = lo.state
        if s.offset == 0 and s.ahead:
            return 0 if self.holds_ahead(s, o) else None
        if s.offset <= s.head_len or (not o.gz and o.st.st_size < s.head_len):
            return None  # nothing read past the head: a same-headed file is just another file
        with self.fds.reading(o, on_moved="raise_gone") as fh:  # (its name gone since the listing too)
            if fh is None or not self.head_is(fh, s) or self.reread_moved(fh, o, s):
                return None
            if self.mark_ok(fh, s):
                return s.offset
            return self.prefix_end(fh, o, lo)

    def holds_ahead(self, s: FileState, o: Observed) -> bool:
        """Does `o` hold the content `s`, of which nothing was read (a kill -9 before the first
        delivery)? The same head and the same bytes before the line end seen past it when it was
        identified (FileState.ahead): they could not match by accident, a shared header could."""
        at, mark = s.ahead
        if not o.gz and o.st.st_size < at:
            return False
        with self.fds.reading(o) as fh:
            n = min(MARK_MAX, at)
            return (fh is not None and self.head_is(fh, s) and digest(fh.read(at - n, n)) == mark
                    and not self.reread_moved(fh, o, s))

    def head_only_candidate(self, s: FileState, o: Observed, unmatched: dict | None = None) -> bool:
        """Could `o` hold the content `s`, of which no more than the head was read? Not when it is
        a copy of a followed file, or (under a rotated name) of a file at a live name in
        `unmatched`: copies are made under rotated names only. So is one the holder caught at the live
        name (ROTATED_AWAY): its `.gz`, taken by a header-only content, was read on from after the header
        while the held file was read from 0 as new, every line twice (torture seed 192068). MovedDuringScan
        as matches."""
        with self.fds.reading(o, on_moved="raise") as fh:
            if fh is None or not self.head_is(fh, s) or (s.offset and len(fh.read(s.offset - 1, 1)) != 1):
                return False
            c = self.readable_len(fh, o)
            for f in list(self.files.values()):
                if f.state is None or f.state.head != s.head or f.state.head_len != s.head_len:
                    continue
                if f.state.offset > s.head_len and self.head_is(fh, f.state) and self.mark_ok(fh, f.state):
                    # It holds what was read of `f` past the head: its copy, whatever `f` holds now or whether it
                    # can be opened at all. (Compared only with `f`'s bytes now, its .gz took a header-only content
                    # and was read from after the header: `f` deleted and closed over the descriptor budget during
                    # this scan, 32 lines twice, torture seed 170007; `f` truncated and written again, its cut not
                    # seen until it is read, 33 lines twice, seed 182212. Both silent.)
                    return False
                try:
                    ours = self.fds.open(f)
                    n = min(ours.size() if f.gz else ours.stat().st_size, c or 0)
                except OSError:
                    continue
                if n > s.head_len and same_bytes(fh.read, ours.read, n):
                    return False  # a copy of a followed file, not of this content
            if o.direct or not unmatched:
                return True
            for x in unmatched.values():
                caught_live = x.path.endswith(ROTATED_AWAY) or self._caught_leaving_live(x)
                if not (x.direct or caught_live) or x.gz or x is o or min(x.st.st_size, c or 0) <= s.head_len:
                    continue
                with self.fds.reading(x) as live:
                    if live is not None and same_bytes(fh.read, live.read, min(x.st.st_size, c)):
                        return False  # a copy of the live file
            return True

    def _caught_leaving_live(self, x: Observed) -> bool:
        """Did the holder catch `x` at its family's live name, or as it was renamed away from it (held since)? Then
        it was the live file, and a file holding its bytes is its copy. (Caught under its new name, the writer's next
        file was no ROTATED_AWAY: its `.gz` took a header-only content and was read on from after the header while it
        was read from 0, 16 lines twice, torture seed 192031.)"""
        h = self.fds.holder.holding((x.st.st_dev, x.st.st_ino)) if self.fds.holder is not None else None
        return h is not None and x.fd == h.fd and (h.path == h.family or h.moved_from == h.family)

    def could_hold_head(self, s: FileState, o: Observed, unmatched: dict) -> bool:
        """head_only_candidate for another file than the one `s` was read from: one renamed since
        the listing is no candidate now (the next scan looks at it under its new name)."""
        try:
            return self.head_only_candidate(s, o, unmatched)
        except MovedDuringScan:
            return False

    def at_live_name(self, o: Observed) -> bool:
        """Is `o` under a live name? A glob that lists the backups too (`app.log*`) lists app.log.1
        directly: a rotated name still, where content moves to (taken for a live name, a file renamed
        there during the scan that found it was called another, its placeholder lost: a false loss)."""
        return o.direct and not self.families.has_rotated_name_anywhere(o.path)

    def copy_of_new_live(self, o: Observed, unmatched: dict) -> bool:
        """Is `o`, under a rotated name, a copy of a file at a live name in `unmatched` (found at this
        scan, not followed yet)? The same bytes past its first line, as far as both go."""
        if not self.families.has_rotated_name_anywhere(o.path):
            return False
        with self.fds.reading(o) as fh:
            if fh is None:
                return False
            head = head_of(fh.head())
            for x in unmatched.values():
                n = min(x.st.st_size, o.st.st_size)
                if (x is o or x.gz or not x.direct or self.families.has_rotated_name_anywhere(x.path)
                        or head is None or n <= len(head)):
                    continue
                with self.fds.reading(x) as live:
                    if live is not None and same_bytes(fh.read, live.read, n):
                        return True
            return False

    def prefix_end(self, fh: OpenFile, o: Observed, lo: Loose) -> int | None:
        """The end of `fh` if it is a copy of a prefix of what was read (proved by the bytes kept
        in lo.window up to its end, or, after a restart, by the mark of an earlier read position
        it reaches: its bytes up to there are what was read, and it ends before the last read
        position), or by its head alone when that is all it holds, no other file of the family
        starts with it (head_unique) and it is under a rotated name; else None. Never a file on the inode the
        content was read from: a copy is made while its original holds that inode, and that inode shorter than
        what was read is the original cut (truncation.py), or another file ext4 gave the number to once it was
        freed (HeaderModel's example "lost-L4": that file, holding the shared header only, took the content,
        and a backup with a line past the header, shorter than what was read, waited to be told apart from it)."""
        s = lo.state
        if (o.st.st_dev, o.st.st_ino) == (s.dev, s.ino):
            return None
        c = self.readable_len(fh, o)
        if (c is not None and c == s.head_len < s.offset and self.head_unique(s)
                and self.families.has_rotated_name_anywhere(o.path)):
            # (The caller checked the head.) Copies are made under rotated names: a file at a live
            # name holding the head is the writer's next file, the content having moved away (taken
            # for a copy of it, the content's .gz was then read again from the head: seed 1024).
            return c
        if c is None or not (s.head_len < c < s.offset) or self.at_live_name(o):
            # (A file at a live name is the writer's, however much of what was read it starts with: its header
            # and half a line the same as the content's first line, it was read on from its end, and the rest
            # of that line shipped as a line never written: HeaderModel's example "invented".)
            return None
        first = s.offset - len(lo.window)  # file offset of window[0]
        k = min(c - first, c)
        if lo.window and c > first and k >= min(MARK_MAX, c):
            theirs = fh.read(c - k, k)
            return c if theirs == lo.window[c - k - first : c - first] else None
        # Too little of it kept in memory (none after a restart): an earlier read position it reaches.
        for at, mark in reversed(s.earlier):
            if s.head_len < at <= c:
                n = min(MARK_MAX, at)
                return c if digest(fh.read(at - n, n)) == mark else None
        return None

    @staticmethod
    def readable_len(fh: OpenFile, o: Observed) -> int | None:
        """A plain file's size; a compressed file's decompressed size once it is complete (None
        while gzip is still writing it)."""
        if not o.gz:
            return o.st.st_size
        try:
            n = fh.size()
            if n and len(fh.read(n - 1, 2)) == 1:
                return n
        except OSError:
            pass
        return None

    @staticmethod
    def head_is(fh: OpenFile, s: FileState) -> bool:
        """Does the open file start with the head (first line or bytes) that identifies `s`?"""
        head = fh.read(0, s.head_len)
        return len(head) == s.head_len and digest(head) == s.head

    @staticmethod
    def mark_ok(fh: OpenFile, s: FileState) -> bool:
        n = min(MARK_MAX, s.offset)
        if n == 0:
            return True
        before = fh.read(s.offset - n, n)
        return len(before) == n and digest(before) == s.mark

    @staticmethod
    def reread_held(fh: OpenFile, s: FileState) -> bool:
        """Does the open file hold what was read of `s` before a stop with an output down saved it to be read again
        (FileState.reread_to) where it was? Not so, it was edited while the agent was stopped (edits.reread_edited):
        taken for the content, its lines were read again at other positions."""
        if not s.reread_to or s.reread_to[0] <= s.offset:
            return True
        to, mark = s.reread_to
        n = min(MARK_MAX, to)
        before = fh.read(to - n, n)
        return len(before) == n and digest(before) == mark

    def reread_moved(self, fh: OpenFile, o: Observed, s: FileState, shorter: bool = True) -> bool:
        """Is the open file `o`, its head that of `s`, that content edited while the agent was stopped, before the end
        of what a stop with an output down left to be read again (not reread_held, and edits.reread_edited proves
        it)? Then it is not taken as it was read: it is read again as a new content, the repeat named
        (truncation.reread_edited_while_away). A file that only differs is decided as before (cut, another file).
        `shorter`: a file shorter than that end may be a copy made before the read got there, holding it as far as it
        goes; it is that content edited only when the end of what was read is found in it (a line removed: `sed -i`,
        then a rotation, while the agent was stopped; taken for a copy, it was read on under the content's file id,
        the edit never named). On its own inode (`shorter` False), shorter is cut or edited."""
        if self.reread_held(fh, s):
            return False
        size = self.readable_len(fh, o)
        if size is None:
            return False
        short = shorter and size < s.reread_to[0]
        return edits.reread_edited(fh, size, s, by_ahead=not short) is not None

    def head_unique(self, s: FileState) -> bool:
        """Is the head of `s` known to be its own: other contents of its family start otherwise,
        none the same way? Then its first line is an event (timestamped), not a header the files
        share (a layout header, a CSV header, a banner), and a file holding no more than that
        line holds it from `s`. With no other content known, nothing tells: False. (Files
        skipped as history count: they are identified.)"""
        differ = False
        for x in [f.state for f in self.files.values()] + [lo.state for lo in self.loose.values()]:
            if x is None or x.fid == s.fid or x.family != s.family or not x.head_len:
                continue
            if x.head == s.head and x.head_len == s.head_len:
                return False
            differ = True
        return differ

    def gen_of(self, o: Observed) -> int:
        """The generation of the inode `o` was listed as (-1: none, or not to be had)."""
        with self.fds.reading(o) as fh:
            return -1 if fh is None else inode_gen(fh)

    @staticmethod
    def placeholder(f: Followed) -> FileState:
        """The checkpoint of a file with no identity yet: its inode, where to start, and its mtime at the last look
        (Prospector._cut_empty_while_away: an empty live file written and cut while the agent was away)."""
        return FileState(fid=f"i{f.dev}-{f.ino}", dev=f.dev, ino=f.ino, head_len=0, head=digest(b""),
                         offset=f.start, mark="", path=f.path, family=f.family, size=f.start, gz=f.gz,
                         cut=f.cut_seen, mtime=f.mtime_ns, after=f.after, born=f.born or 0)

    @staticmethod
    def ahead_mark(fh: OpenFile, head_len: int) -> list:
        """[offset, mark] of the last line end the file holds now, past its head (FileState.ahead),
        or [] when it holds no complete line past its head."""
        try:
            size = fh.stat().st_size
            first = max(head_len, size - AHEAD_LOOK)
            back = fh.read(first, size - first)
        except OSError:
            return []
        nl = back.rfind(b"\n")
        if nl < 0:
            return []
        at = first + nl + 1
        n = min(MARK_MAX, at)
        return [at, digest(fh.read(at - n, n))]


def inode_gen(fh: OpenFile) -> int:
    g = generation(fh.fd)
    return -1 if g is None else g
