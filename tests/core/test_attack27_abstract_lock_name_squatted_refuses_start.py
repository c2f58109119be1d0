"""Attack 27 (exam27b): the state_dir's second lock, the abstract Unix socket named after its path (docs/operations.md
"Checkpoint database": `ss -xlp | grep shipper-state-dir` shows it; it keeps a second agent out while the lock file
is gone). An abstract socket has no owner or mode: any process in the network namespace can bind the name, and every
user can read it in /proc/net/unix while the agent runs (or work it out from the path). So an unprivileged local user
(a shell account on the data platform's host, the users whose actions the audit trail records) who binds it while
the agent is down — its restart, an upgrade, a reboot — keeps it from starting: `error: …/state: in use by another
shipper (pid N); two agents on one state_dir would ship every event twice: stop that one …`, exit 2, every start
systemd's `Restart=` tries, and N is the squatter's pid, no shipper at all. Nothing is shipped meanwhile, and what
rotates away unread is lost. Found by hand 2 of 2 (the name read from /proc/net/unix while the agent ran, bound by
uid 65534 after its stop; the state_dir's flock was free). What should hold: only a shipper of the same state_dir
keeps the agent from starting — the flock decides when the lock file is there, and a holder of the socket that is
not a shipper (its credentials: SO_PEERCRED, its executable) is named as what it is."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from tests.support import abstract_names, stop_process, wait

SHIPPER = str(Path(sys.executable).with_name("shipper"))


# nobody, in the same network namespace: binds the name (sys.argv[1]) and keeps it
PLAIN_SQUATTER = "import socket, sys, time\ns = socket.socket(socket.AF_UNIX)\ns.bind('\\0' + sys.argv[1])\ns.listen(1)\n"
# the same, its accept queue full (listen(0) and its own connections waiting): a connect to it cannot complete, so no
# SO_PEERCRED can be asked of it (found after 95f449a, 2 of 2 by hand: the start refused, exit 2, `still locked by the
# checkpoint writer of a shipper that ended (pid N) … is the state_dir's filesystem frozen …`, N the last agent's pid,
# the flock free)
FULL_QUEUE_SQUATTER = ("import socket, sys, time\ns = socket.socket(socket.AF_UNIX)\ns.bind('\\0' + sys.argv[1])\n"
                       "s.listen(0)\nwaiting = []\nfor _ in range(3):\n    c = socket.socket(socket.AF_UNIX)\n"
                       "    c.setblocking(False)\n    try:\n        c.connect('\\0' + sys.argv[1])\n"
                       "    except BlockingIOError:\n        pass\n    waiting.append(c)\n")


def _start_beside(tmp_path: Path, squatter_code: str) -> tuple[str, subprocess.CompletedProcess, set]:
    """An agent run once (its abstract name read from /proc/net/unix) and stopped; then the name taken by uid 65534
    running squatter_code; then `run --once`: the name, that run, and the numbers it shipped."""
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.log").write_text("".join(json.dumps({"n": i}) + "\n" for i in range(5)))
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(json.dumps({"state_dir": str(tmp_path / "state"),
                               "sources": [{"name": "app", "type": "file", "paths": [str(logs / "*.log")],
                                            "parser": "json"}],
                               "outputs": [{"type": "stdout"}]}))
    agent = subprocess.Popen([SHIPPER, "run", "-c", str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    names: list[str] = []
    try:
        assert wait(lambda: bool(names.extend(n for n in abstract_names(agent.pid) if "state-dir" in n) or names),
                    60), "the agent holds no abstract socket"
    finally:
        stop_process(agent, 30)
    name = names[0]
    with open(logs / "a.log", "a") as f:  # (the first run shipped the first five)
        f.write("".join(json.dumps({"n": i}) + "\n" for i in range(5, 10)))
    squatter = subprocess.Popen(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-I", "-c",
         squatter_code + "print('bound', flush=True)\ntime.sleep(120)", name], stdout=subprocess.PIPE, text=True)
    try:
        assert squatter.stdout is not None and squatter.stdout.readline().strip() == "bound"
        time.sleep(0.2)
        run = subprocess.run([SHIPPER, "run", "--once", "-c", str(cfg)], capture_output=True, timeout=120)
    finally:
        squatter.kill()
        squatter.wait()
    return name, run, {json.loads(line)["generic"]["n"] for line in run.stdout.splitlines()}


def test_an_unprivileged_process_holding_the_abstract_name_does_not_keep_the_agent_out(tmp_path: Path) -> None:
    name, run, shipped = _start_beside(tmp_path, PLAIN_SQUATTER)
    assert run.returncode == 0 and shipped >= set(range(5, 10)), (
        f"a process of uid 65534 holding {name!r} kept the agent out: exit {run.returncode}, "
        f"{run.stderr.decode()[-400:]}")


def test_a_squatter_that_accepts_no_connection_does_not_keep_the_agent_out(tmp_path: Path) -> None:
    name, run, shipped = _start_beside(tmp_path, FULL_QUEUE_SQUATTER)
    assert run.returncode == 0 and shipped >= set(range(5, 10)), (
        f"a process of uid 65534 holding {name!r} with a full accept queue kept the agent out: exit {run.returncode}, "
        f"{run.stderr.decode()[-400:]}")
