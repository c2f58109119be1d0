"""Black-box attack 30 (exam30a, the parse workers' hand-off): a record whose parse kills the process it runs in
(a plugin parser's C extension crashing on one input, a parse the kernel's OOM killer ends: a SIGKILL stands for
them here). docs/operations.md: "A killed worker is replaced, and its batches are parsed again, so nothing is
lost or repeated"; the README: "Bad input never stops the agent". With the parse in worker processes, the agent
is the one process such a record need not reach.

Found (by hand, 2 of 2: SIGKILL and abort(), `parse_workers: 2`, the record after 100,000 lines): three workers
die on the batch that holds it, then the agent says `a batch was in flight in 3 workers that died: parsing it in
the agent`, parses it in its own process and dies with it (exit 137, or 134 for abort()): every source and
output of the agent ends, the lines after the record are never shipped, and each restart (systemd's
Restart=) reads the same batch and dies again. Nothing names the record.

The test puts the record in a backlog written once the workers are up: a batch parsed while they start is parsed
in the agent (docs/operations.md says so), and the record then ends the agent as it does with `parse_workers: 0`."""
from __future__ import annotations

import os
import subprocess
import sys

from tests.plugin_install import installed
from tests.support import stop_process, wait, wait_until

SHIPPER = os.path.join(os.path.dirname(sys.executable), "shipper")

PARSER = """
import os, signal
from shipper.api import Parser, base_event

class KillerParser(Parser):
    module = "killer"
    dataset = "killer.audit"

    def parse(self, raw: bytes):
        if raw == b"POISON":
            os.kill(os.getpid(), signal.SIGKILL)
        ev = base_event(self.module, self.dataset, "line")
        ev["message"] = raw.decode()
        return [ev]
"""
BACKLOG = 20_000
AFTER = 5_000


def _parse_workers_of(agent: int) -> int:
    """The agent's parse workers that are up (children of its forkserver, named shipper-parse)."""
    parents: dict[int, int] = {}
    names: dict[int, str] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        names[int(pid)] = stat[stat.index("(") + 1:stat.rindex(")")]
        parents[int(pid)] = int(stat[stat.rindex(")") + 2:].split()[1])
    return sum(1 for pid, name in names.items() if name == "shipper-parse" and parents.get(parents[pid]) == agent)


def test_a_record_that_kills_its_parse_worker_does_not_kill_the_agent(tmp_path):
    env = installed(tmp_path, "killer_parser", PARSER, "1.0", "[shipper.parsers]\nkiller = killer_parser:KillerParser\n")
    log = tmp_path / "app.log"
    log.write_text("".join(f"line {i}\n" for i in range(BACKLOG)))
    out = tmp_path / "out.ndjson"
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"""
state_dir: {tmp_path / 'state'}
sources:
  - name: app
    type: file
    paths: [{log}]
    parser: killer
    parse_workers: 2
outputs:
  - type: stdout
""")

    def shipped() -> int:
        return sum(1 for ln in out.read_text(errors="replace").splitlines() if '"message":"line ' in ln)

    err = tmp_path / "agent.err"
    with open(out, "wb") as o, open(err, "wb") as e:
        agent = subprocess.Popen([SHIPPER, "run", "-c", str(cfg)], env=env, stdout=o, stderr=e)
    try:
        wait_until(lambda: _parse_workers_of(agent.pid) == 2, 120, "the two parse workers up")
        wait_until(lambda: shipped() == BACKLOG, 120, "the first backlog shipped")
        with open(log, "a") as f:  # parsed in the workers, who are up
            f.write("".join(f"line {i}\n" for i in range(BACKLOG, 2 * BACKLOG)) + "POISON\n"
                    + "".join(f"line {i}\n" for i in range(2 * BACKLOG, 2 * BACKLOG + AFTER)))
        wait(lambda: agent.poll() is not None or shipped() == 2 * BACKLOG + AFTER, 180)
        assert agent.poll() is None, f"the agent ended ({agent.returncode}); {err.read_text()[-1500:]}"
    finally:
        stop_process(agent)
    text = out.read_text(errors="replace")
    lines = sum(1 for ln in text.splitlines() if '"message":"line ' in ln)
    assert lines == 2 * BACKLOG + AFTER, f"{lines} of {2 * BACKLOG + AFTER} lines shipped; {err.read_text()[-800:]}"
    assert "POISON" in text, "the record is not shipped"
    assert "shipped unparsed" in err.read_text(), "the record's parse is named nowhere"
