"""Black-box attack 7 (state and stops): the checkpoint writer process (`python … checkpoint_db.py`) is
stopped with SIGSTOP while the agent is idle (every line delivered and saved; a cgroup freezer, a debugger,
a hung disk look the same), then the config is reloaded (SIGHUP) with one source changed, then the agent is
asked to stop (SIGTERM). docs/operations.md: a writer that is stopped "is the frozen filesystem above", where
"a stop meanwhile ends within `shutdown_timeout` + 5 s as always".

Found (by hand 4 of 4 with an idle writer, and 3 of 3 with two SIGHUPs 0.5 s apart while lines were being
written; shutdown_timeout 3 and 5): the reload never ends and the agent never stops. The journal says
`reloading`, then `stopping signal=SIGTERM`, and nothing more; 30 s later it still runs (SIGABRT's traceback:
the main thread waits in the restarted source's checkpoint load for an answer from the stopped writer, so the
SIGTERM is never acted on). systemd would SIGKILL it at TimeoutStopSec. With `fsfreeze` instead of SIGSTOP
the same reload and stop held (the load only reads).

Fixed: the main loop's waits on the checkpoint store end at a stop signal (CheckpointStore.cut_by): the
reload says `reload: source not started: the agent stops`, and the stop ends on time (3 passes of 3)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request

from tests.support import wait_until, writer_pid
from tests.tail.attack_agent import Agent, exactly_once, numbered

SHUTDOWN_TIMEOUT = 3
LOADED = 10  # seconds more for a loaded 2-core machine


def in_flight(agent: Agent) -> int | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{agent.port}/status", timeout=5) as r:
            return json.loads(r.read())["sources"]["app"]["in_flight_batches"]
    except (OSError, ValueError, KeyError):
        return None


def gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_stop_after_a_reload_with_the_checkpoint_writer_stopped_ends_in_time(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("".join(numbered(i) for i in range(100)))
    agent = Agent(tmp_path, [log])
    agent.cfg.write_text(agent.cfg.read_text().replace("shutdown_timeout: 20", f"shutdown_timeout: {SHUTDOWN_TIMEOUT}"))
    agent.start()
    writer = None
    try:
        assert agent.wait_delivered(range(100)), agent.errors()
        wait_until(lambda: in_flight(agent) == 0, 60, "every batch acknowledged and saved")
        writer = writer_pid(agent.proc.pid)
        os.kill(writer, signal.SIGSTOP)
        agent.cfg.write_text(agent.cfg.read_text().replace("poll_interval: 0.2", "poll_interval: 0.3"))
        agent.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "msg=reloading" in agent.errors(), 60, "the reload begun")
        time.sleep(1)
        started = time.monotonic()
        agent.proc.send_signal(signal.SIGTERM)
        try:
            code = agent.proc.wait(SHUTDOWN_TIMEOUT + 5 + LOADED)
        except subprocess.TimeoutExpired:
            code = None
        took = time.monotonic() - started
    finally:
        if agent.proc.poll() is None:
            agent.proc.kill()
            agent.proc.wait(30)
        if writer is not None:
            os.kill(writer, signal.SIGCONT)
    assert code is not None, (f"still running {took:.0f} s after SIGTERM (shutdown_timeout {SHUTDOWN_TIMEOUT}); "
                              f"journal: {agent.errors()[-400:]}")
    assert code in (0, 1) and "Traceback" not in agent.errors(), agent.errors()[-600:]
    # and nothing lost or repeated: everything was saved before the writer was stopped
    wait_until(lambda: gone(writer), 30, "the old writer ended once let go")
    with open(log, "a") as f:
        f.write("".join(numbered(i) for i in range(100, 200)))
    agent.start()
    assert agent.wait_delivered(range(200)), agent.errors()[-600:]
    assert agent.stop() == 0, agent.errors()[-600:]
    assert exactly_once(agent.seqs(), range(200)) == ""
