"""A kill -9 replay across rotations made while the agent is down, and the ids the replayed lines come with (issue
21 case 10: lines delivered but not committed are read again at the restart; a tier deduplicating by the stable id
drops them only when they come with the same ids). Shared by attack 27's and attack 29's tests."""
from __future__ import annotations

import json
import os
import signal
import time
from collections import defaultdict
from collections.abc import Callable

from tests.support import writer_pid
from tests.tail.attack_agent import Agent, logrotate_of


def _lines(lo: int, hi: int) -> bytes:
    return "".join(json.dumps({"seq": i, "pad": "x" * 40}) + "\n" for i in range(lo, hi)).encode()


def replay_after_rotations_while_down(tmp_path, rotate: str | Callable[[], None], rotations_while_down: int,
                                      backups: str = "", source_extra: str = "", while_down: tuple = (),
                                      appending: bool = True, header: bytes = b"") -> tuple[list, str]:
    """100 lines delivered and committed, a rotation the running agent sees, 30 lines delivered and not committed
    (its checkpoint writer stopped), a kill -9, `rotations_while_down` rotations (20 lines after each; of the
    directives `while_down` lists, one each, if it does), a restart. `rotate`: logrotate's directives, or a function
    rotating logs/app.log by hand. Not `appending`: one descriptor without O_APPEND writes every line (`prog >
    app.log`: after a copytruncate its next write leaves a hole). `header`: the writer's, at the start of each content
    (a `create` rotation's writer reopening its file writes it first).
    Returns the lines delivered under two ids and the restarted agent's journal."""
    logs = tmp_path / "logs"
    logs.mkdir(exist_ok=True)
    live = logs / "app.log"

    fd = None if appending else os.open(live, os.O_WRONLY | os.O_CREAT, 0o644)

    def write(data: bytes) -> None:  # opened at each write: after a `create` rotation, into the new live file
        if fd is not None:
            os.write(fd, data)
            return
        with open(live, "ab") as f:
            f.write(data)
    logrotate = logrotate_of(tmp_path, live, rotate, settle=0.1) if isinstance(rotate, str) else rotate
    agent = Agent(tmp_path, [live] + ([backups] if backups else []), source_extra)
    agent.cfg.write_text(agent.cfg.read_text().replace("  - type: stdout\n",
                                                       "  - type: stdout\n    id_field: _shipper_id\n"))
    checkpoint_writer = None
    try:
        write(header + _lines(0, 100))
        agent.start()
        assert agent.wait_delivered(range(100)), agent.errors()
        time.sleep(2)  # committed
        logrotate()
        checkpoint_writer = writer_pid(agent.proc.pid)
        os.kill(checkpoint_writer, signal.SIGSTOP)  # what is delivered from now on is not committed
        write(header + _lines(100, 130))
        assert agent.wait_delivered(range(130)), agent.errors()
        time.sleep(1)  # delivered, its commit held by the stopped writer
        agent.proc.kill()
        agent.proc.wait()
        os.kill(checkpoint_writer, signal.SIGKILL)
        checkpoint_writer = None
        n = 130
        for i in range(rotations_while_down):
            if while_down:
                logrotate_of(tmp_path, live, while_down[i], settle=0.1)()
            else:
                logrotate()
            write(header + _lines(n, n + 20))
            n += 20
        agent.start()
        assert agent.wait_delivered(range(n)), agent.errors()[-3000:]
        time.sleep(3)  # whatever else it reads or says
    finally:
        if fd is not None:
            os.close(fd)
        if checkpoint_writer is not None:
            os.kill(checkpoint_writer, signal.SIGKILL)
        if agent.proc is not None and agent.proc.poll() is None:
            agent.stop()
    ids = ids_by_line(tmp_path)
    assert set(ids) == set(range(n))
    return sorted(seq for seq, seen in ids.items() if len(seen) > 1), (tmp_path / "out2.err").read_text(errors="replace")


def ids_by_line(tmp_path) -> dict[int, set]:
    """The ids each line (its seq) was delivered under, in both runs."""
    ids: dict[int, set] = defaultdict(set)
    for run in (1, 2):
        for line in (tmp_path / f"out{run}.jsonl").read_bytes().splitlines():
            record = json.loads(line)
            if "seq" in record["generic"]:  # (not a header line)
                ids[record["generic"]["seq"]].add(record["_shipper_id"])
    return ids


def repeat_named(journal: str) -> list:
    """The lines of `journal` that name a repeat."""
    return [ln for ln in journal.splitlines() if "shipped again" in ln or "read again" in ln or "repeat" in ln]
