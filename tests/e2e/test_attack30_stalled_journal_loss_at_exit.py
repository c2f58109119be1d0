"""Black-box attack 30 (exam30a, the journal's backlog when its reader stalls, at the exit). docs/operations.md
("Standard error closed"): a stalled journal keeps a backlog (its oldest half, a line counting what it dropped from
the middle, the newest), never drops a `data lost` line while another can go, and at the exit has 3 s; "what it
still holds then … is counted in the kernel's log with its last warnings". A loss named while the reader stalls,
followed by more warnings than the kernel's log is given, then a stop while the reader still stalls: is the loss
named anywhere?

The loss is the one of test_attack29_stalled_journal_drops_loss_warning.py (a log emptied in place while stdout's
reader held the agent back: `data lost: N bytes or more of a.log …`); 1,200 FIFOs dropped into the followed folder
after it (a warning each); then SIGTERM with the journal's pipe still unread; then the journal's reader reads what
the pipe holds. The kernel's log is a file over /dev/kmsg in a mount namespace of the agent's own.

Found (2 of 2 by hand, each case; 100 FIFOs before the loss so that the journal's pipe is full before it): the
kernel's log gets `standard error's reader did not read the journal: 1296 lines of it were left unwritten at the
exit (996 warnings or errors among the last 1000; the last of them follow)` and the last eight FIFO warnings (and,
at a second signal, `second signal: exiting …`); the pipe holds the first lines. The `data lost: 5742326 bytes or
more of a.log …` line, which the backlog kept while the agent ran, is in neither: shipper_losses_total said 1, and
with the agent gone the loss is named nowhere. (Without the 100 earlier warnings the loss's line is in the pipe and
this passes.)"""
from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from tests.held_back import append_busily, cut_once_seen, drain, held_back_config, padded, read_lines, with_small_journal_pipe
from tests.journal_sinks import SHIPPER, own_kmsg
from tests.support import stop_process

pytestmark = pytest.mark.slow  # (a flood of warnings, 7 MB written and cut: seconds of waits)


@pytest.mark.parametrize("signals", [1, 2], ids=["stop", "second_signal"])
def test_a_loss_named_while_the_journal_stalls_is_named_somewhere_after_a_stop(tmp_path: Path, signals: int) -> None:
    cfg, log, port = held_back_config(tmp_path)
    logs = log.parent
    first, later = log.read_text(), padded(100_000)
    kmsg = tmp_path / "kmsg"
    # a small journal pipe: the backlog takes over after a few lines
    agent, out_read, journal_read = with_small_journal_pipe(own_kmsg(kmsg, [SHIPPER, "run", "-c", str(cfg)]))
    shipped, journal = bytearray(), bytearray()
    try:
        read_lines(out_read, shipped, 10)
        # neither pipe is read from here: the journal's reader stalls, stdout's holds the agent back
        for i in range(100):  # warnings before the loss's: the journal's pipe is full before it
            os.mkfifo(logs / f"early{i}.log")
        append_busily(log, later)  # a busy writer: 8 KiB writes over some 2 s

        cut_once_seen(log, port, len(first) + len(later), out_read, shipped)
        time.sleep(2)
        for i in range(1200):  # warnings after the loss's, more than the kernel's log is given at the exit
            os.mkfifo(logs / f"fifo{i}.log")
        time.sleep(5)
        if signals == 2:
            agent.send_signal(signal.SIGTERM)
            time.sleep(0.5)
        code = stop_process(agent, 60)  # the journal's reader still stalls
        assert code is not None, "the stop did not end the agent"
        reader = threading.Thread(target=drain, args=(journal_read, journal), daemon=True)
        reader.start()  # the reader is back, after the agent ended: what the pipe holds
        reader.join(10)
        said = bytes(journal).decode(errors="replace").splitlines() + kmsg.read_text(errors="replace").splitlines()
        named = [line for line in said if "lost" in line]
        others = [line[:300] for line in said if "fifo" not in line.lower()]
        assert named, f"shipper_losses_total 1, but no loss in the journal nor the kernel's log: {others}"
    finally:
        stop_process(agent)
        os.close(out_read)
        os.close(journal_read)
