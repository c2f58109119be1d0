"""The journal's writer process (shipper.journal_writer) when its agent ends without reading what the writer said (a
kill -9): the socket's next read fails with ECONNRESET, and the writer ends quietly, having written what it was sent.
Its traceback went into the journal's file after every kill -9 (session 30's clean-clone run: the Elasticsearch e2e
test's killed agent, 4 of 4 flavours)."""
from __future__ import annotations

import socket
import subprocess
import time

from shipper import journal_writer
from shipper.helper_command import helper_command


def test_a_writer_whose_agent_left_its_words_unread_ends_quietly(tmp_path):
    journal = tmp_path / "journal.txt"
    ours, theirs = socket.socketpair()
    with open(journal, "ab") as err:
        writer = subprocess.Popen(helper_command(journal_writer), stdin=theirs.fileno(), stdout=theirs.fileno(), stderr=err)
    theirs.close()
    ours.sendall(b"level=info msg=one\n")
    deadline = time.monotonic() + 30
    while b"one" not in journal.read_bytes() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)  # its word of what the file took is in our queue now, unread
    ours.close()  # the agent gone with it unread: the writer's next read is ECONNRESET
    assert writer.wait(30) == 0
    assert journal.read_bytes() == b"level=info msg=one\n"
