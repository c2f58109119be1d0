"""Attack 29 (exam29a), on e66bbf1: two agents on one state_dir, one on the host and one in a container (a pid and
mount namespace of its own, the state_dir bind-mounted there under another path, as a sidecar or a migration to a
container would have it). The container's start is refused — nothing is shipped twice — but the refusal says the host's
running agent has ended: `still locked by the checkpoint writer of a shipper that ended (pid N): it ends once the write
it is in returns (is the state_dir's filesystem frozen, or its disk hung?); start again then`. The pid in the lock file
is the host's, which the container cannot see; the holder /proc/locks lists is pid 0 there (not visible). The operator
is sent after a frozen filesystem and a dead shipper's writer, and told to start again, while the other agent ships on.
(The other way round, host agent second, it says `in use by another shipper (pid 1)`: the container's pid, which on the
host is init.) 2 of 2 by hand, 1 of 1 in the test. What should hold: a lock whose holder cannot be seen is named as held
by a shipper this one cannot see (another pid namespace), not as one that ended on a frozen filesystem — as docs/
operations.md says of a second agent: `in use by another shipper`."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.journal_sinks import SHIPPER, numbered
from tests.support import stop_process, wait


def test_a_start_in_another_pid_namespace_names_the_running_agent(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.log").write_text(numbered(0, 50))
    state, mount_point = tmp_path / "state", tmp_path / "container-state"
    mount_point.mkdir()

    def config(name: str, state_dir: Path) -> Path:
        cfg = tmp_path / name
        cfg.write_text(json.dumps({"state_dir": str(state_dir), "shutdown_timeout": 5,
                                   "sources": [{"name": "app", "type": "file", "paths": [str(logs / "*.log")],
                                                "parser": "json", "poll_interval": 0.2}],
                                   "outputs": [{"type": "stdout"}]}))
        return cfg

    out = tmp_path / "out.jsonl"
    with open(out, "wb") as o:
        host = subprocess.Popen([SHIPPER, "run", "-c", str(config("host.yaml", state))], stdout=o,
                                stderr=subprocess.DEVNULL)
    try:
        assert wait(lambda: out.read_bytes().count(b"\n") == 50, 60), "the host's agent did not ship"
        container = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "--pid", "--fork", "--mount-proc", "sh", "-c",
             'mount --bind "$0" "$1" && exec "$2" run -c "$3"', str(state), str(mount_point), SHIPPER,
             str(config("container.yaml", mount_point))], capture_output=True, text=True, timeout=120)
        assert container.returncode == 2, container.stderr[-2000:]  # refused (it is, on main too)
        assert host.poll() is None
        assert "ended" not in container.stderr and "frozen" not in container.stderr, container.stderr
        assert "in use by another shipper" in container.stderr, container.stderr
    finally:
        stop_process(host)
