"""Attack 29 (exam29a), on d2d5404: the journal on a pipe whose reader stalls (`2>&1 | less` at its prompt, `| tee` on a
slow disk) keeps a bounded backlog of 1,000 lines and drops what comes past it, counted in one line (docs/operations.md).
It keeps the oldest lines and drops the newest, whatever they say: 1,300 FIFOs dropped into the followed folder (each
named once, a warning) fill it, and the `data lost: N bytes or more of app.log …` warning of a log emptied in place
while stdout's reader held the agent back comes after them — dropped. When the journal's reader reads again it gets
the FIFO warnings, `file truncated: reading it again from its start` (info) and `standard error's reader did not read
the journal: 80 lines of it were dropped` — the loss (shipper_losses_total 1, ~1.3 MB never read) is named nowhere in
the journal, and not in the kernel's log either (the backlog was sent before the exit). 3 of 3 by hand (80, 282, 401
lines dropped). What should hold: a loss (or a repeat) the agent names is never among the lines its journal drops —
kept over older lines of less weight, or told in the line that counts the drops.
On 5b0ca48 (after 1d2b2e0c: the backlog keeps its oldest half and its newest, dropping from the middle): the same loss
with 700 FIFO warnings before it and 900 after sits in the backlog's middle and is dropped — `593 lines of it were
dropped here (593 warnings or errors among them …)`, the loss named nowhere (2 of 2 in the test: the second case)."""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from tests.held_back import append_busily, cut_once_seen, drain, held_back_config, padded, read_lines, with_small_journal_pipe
from tests.journal_sinks import SHIPPER
from tests.support import stop_process, wait

pytestmark = pytest.mark.slow  # (a flood of warnings, 7 MB written and cut: seconds of waits)


@pytest.mark.parametrize(("before", "after"), [
    (1300, 0),  # the loss's line the newest
    (700, 900),  # the loss's line in the backlog's middle (exam29a, after 1d2b2e0c)
])
def test_a_loss_is_named_in_a_journal_whose_reader_stalled(tmp_path: Path, before: int, after: int) -> None:
    cfg, log, port = held_back_config(tmp_path)
    logs = log.parent
    first, later = log.read_text(), padded(100_000)
    # a small journal pipe: the backlog takes over after a few lines
    agent, out_read, journal_read = with_small_journal_pipe([SHIPPER, "run", "-c", str(cfg)])
    shipped, journal = bytearray(), bytearray()
    try:
        read_lines(out_read, shipped, 10)
        # neither pipe is read from here: the journal's reader stalls, stdout's holds the agent back
        append_busily(log, later)  # a busy writer: 8 KiB writes over some 2 s
        for i in range(before):  # each named once, a warning: with `after`, more than the journal's backlog holds
            os.mkfifo(logs / f"fifo{i}.log")

        cut_once_seen(log, port, len(first) + len(later), out_read, shipped)
        time.sleep(2)
        for i in range(before, before + after):  # warnings after the loss's
            os.mkfifo(logs / f"fifo{i}.log")
        if after:
            time.sleep(5)
        threading.Thread(target=drain, args=(journal_read, journal), daemon=True).start()  # the journal's too
        assert wait(lambda: b"were dropped" in journal, 60), bytes(journal[-2000:]).decode(errors="replace")
        stop_process(agent)
        time.sleep(1)
        said = bytes(journal).decode(errors="replace")
        named = [line for line in said.splitlines() if "lost" in line]
        others = [line for line in said.splitlines() if "fifo" not in line.lower()]
        assert named, f"shipper_losses_total 1, but no loss in the journal: {others}"
    finally:
        stop_process(agent)
        os.close(out_read)
        os.close(journal_read)
