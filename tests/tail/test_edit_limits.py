"""`sed -i` on a live log whose writer keeps its descriptor, the agent (in process, tests/tail/conftest.py) holding
the replaced file open: the edited copy is read on past its copy of what the old file still delivers
(edits.past_old). Issue 21, session 14, counted line by line. Found: an edit within the new file's last 256 bytes
(those bytes, holding the edit, found nowhere in the old file) read the lines after the edit a second time, warned
"N bytes … may be shipped again"; and a line lengthened by the edit further back, the writer idle, made the new
file be taken for a whole plain copy and read from its start: every line twice, without a word. A writer appending
to both files after the edit (the old one by its descriptor, the new one by name) cannot be told by the bytes from
sed altering the last lines it copied: there the possible repeat stays named, with exactly its bytes."""
from __future__ import annotations

import json
import logging
import subprocess

import pytest

from tests.tail.attack_agent import exactly_once, numbered
from tests.tail.conftest import Follower


class Warnings(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture
def warnings():
    h = Warnings()
    log = logging.getLogger("shipper.tail")
    log.addHandler(h)
    yield h.messages
    log.removeHandler(h)


def seqs(f: Follower) -> list:
    return [json.loads(x).get("seq") for x in f.lines()]


def sed_i(log, script: str) -> None:
    before = log.read_bytes()
    subprocess.run(["sed", "-i", script, str(log)], check=True)
    assert log.read_bytes() != before


def edited(tmp_path, script: str, unread: int, to_old: int, to_new: int) -> Follower:
    """Lines 0-199 read; `unread` more written by the writer (its descriptor kept); `sed -i script`; then `to_old`
    lines appended by the writer to the old file (deleted, held by the agent) and `to_new` by another writer to the
    new one by name; the agent reads. Numbered on: 200 + unread …, then the new file's 5000 …"""
    log = tmp_path / "app.log"
    with open(log, "a", buffering=1) as writer:
        writer.write("".join(numbered(i) for i in range(200)))
        f = Follower([log], tmp_path)
        f.poll()
        assert seqs(f) == list(range(200))
        writer.write("".join(numbered(i) for i in range(200, 200 + unread)))
        sed_i(log, script)
        writer.write("".join(numbered(i) for i in range(200 + unread, 200 + unread + to_old)))
        with open(log, "a") as by_name:
            by_name.write("".join(numbered(i) for i in range(5000, 5000 + to_new)))
        f.poll(3)
    return f


@pytest.mark.parametrize("script", ['/"seq": 297,/d', 's/"seq": 297,/"seq": 297, "scrubbed": 1,/',
                                    's/"seq": 298,/"seq": 298, "scrubbed": 1,/',
                                    's/"seq": 250,/"seq": 250, "scrubbed": 1,/'],
                         ids=["removed", "altered", "altered-next-to-last", "altered-further-back"])
@pytest.mark.parametrize("to_old", [0, 20], ids=["old-idle", "old-written"])
def test_an_edit_in_the_last_256_bytes_of_the_new_file_is_no_false_repeat(tmp_path, warnings, script, to_old):
    """Lines 200-299 unread when sed copies them; it removes or alters line 297 or 298 (a line is ~40 bytes: within
    the new file's last 256), or lengthens line 250. The old file delivers 200-299 (and what its writer appends), the
    new file nothing of them, and nothing is said."""
    f = edited(tmp_path, script, 100, to_old, 0)
    try:
        wrong = exactly_once(seqs(f), range(300 + to_old))
        assert not wrong, f"{wrong}; {warnings}"
        assert not [m for m in warnings if "shipped again" in m], warnings
    finally:
        f.tailer.close()


@pytest.mark.parametrize("script", ['/"seq": 100,/d', '/"seq": 230,/d'], ids=["edit-read", "edit-unread"])
def test_writers_appending_to_both_files_after_sed_deliver_once_and_the_undecidable_rest_is_named(
        tmp_path, warnings, script):
    """After the edit, the writer appends 250-269 to the old file by its descriptor and another writer 5000-5019 to
    the new one by name: the two files differ from there on, and no line of one is in the other. Every line once.
    The new file's lines past its copy may still be an edit of the old file's last lines (`sed` altering the lines
    it copied last cannot be told from lines appended to the new file: the same bytes either way), so the possible
    repeat is named, with exactly the bytes of those lines, once."""
    f = edited(tmp_path, script, 50, 20, 20)
    try:
        wrong = exactly_once(seqs(f), list(range(270)) + list(range(5000, 5020)))
        assert not wrong, f"{wrong}; {warnings}"
        rest = len("".join(numbered(i) for i in range(5000, 5020)))
        said = [m for m in warnings if "shipped again" in m]
        assert len(said) == 1 and said[0].startswith(f"{rest} bytes of "), warnings
    finally:
        f.tailer.close()


def test_an_edit_of_the_last_line_copied_is_a_repeat_that_cannot_be_ruled_out(tmp_path, warnings):
    """`sed` alters the last line it copies (299) while the writer goes on into the old file: the altered line,
    past every line the two files share, cannot be told from a line appended to the new file. Read (a line
    appended is never skipped), and its possible repeat named: the count shows it (299 twice, one altered)."""
    f = edited(tmp_path, 's/"seq": 299,/"seq": 299, "scrubbed": 1,/', 100, 20, 0)
    try:
        assert sorted(seqs(f)) == sorted(list(range(320)) + [299]), seqs(f)
        said = [m for m in warnings if "shipped again" in m]
        altered = numbered(299).replace('"seq": 299,', '"seq": 299, "scrubbed": 1,')
        assert len(said) == 1 and said[0].startswith(f"{len(altered)} bytes of "), warnings
    finally:
        f.tailer.close()
