"""Attack 24 (issue 23, reloads that add and remove sources): a source added over other files than a removed one's
is warned as if it were that source renamed.

docs/operations.md: a source renamed is a new source that reads its input from its start; "a start after a rename
while stopped says so (`source app_audit starts without a checkpoint, and the state_dir holds source app's … for N
file(s) still there`)". Found (exam24l, by hand 2 of 2, and 200 reloads each adding source s<k> over its own u<k>.log
and removing s<k-1>): the warning is given for every new source, whatever files it follows: `source b starts without
a checkpoint, and the state_dir holds source a's (no longer configured) for 1 file(s) still there, e.g. …/a.log: if a
was renamed b, they are read again from their start (every event shipped again …)` though b never reads a.log and
nothing is shipped again. Each new source is warned once per removed source whose files are still on disk: the 200th
reload of that run gave 199 such warnings, 20,100 in all, none true.
Fixed: Source.reads_file (the file source: its globs, or a rotated name of a file they list) keeps the warning to the
files the new source reads again."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from tests.support import stop_process, wait_until

SHIPPER = [sys.executable, "-m", "shipper.cli"]
RENAMED = "starts without a checkpoint"


def _config(tmp_path: Path, name: str, log: Path) -> Path:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(json.dumps({  # JSON is YAML
        "state_dir": str(tmp_path / "state"), "shutdown_timeout": 2,
        "sources": [{"name": name, "type": "file", "paths": [str(log)], "parser": "json", "read_from": "beginning"}],
        "outputs": [{"type": "stdout"}]}))
    return cfg


def _once(cfg: Path) -> str:
    run = subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], capture_output=True, timeout=120)
    assert run.returncode == 0, run.stderr.decode()
    return run.stderr.decode()


def _logs(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "logs").mkdir()
    a, b = tmp_path / "logs" / "a.log", tmp_path / "logs" / "b.log"
    a.write_text('{"n": 1}\n')
    b.write_text('{"n": 2}\n')
    return a, b


def test_a_source_renamed_over_the_same_file_is_warned(tmp_path):
    """The warning's own case (passes on main): b follows the file a read, and reads it again."""
    a, _b = _logs(tmp_path)
    _once(_config(tmp_path, "a", a))
    assert "a was renamed b" in _once(_config(tmp_path, "b", a))


def test_a_source_over_other_files_is_not_called_renamed_at_a_start(tmp_path):
    a, b = _logs(tmp_path)
    _once(_config(tmp_path, "a", a))
    err = _once(_config(tmp_path, "b", b))
    assert RENAMED not in err, [ln for ln in err.splitlines() if RENAMED in ln]


def test_a_source_a_reload_adds_over_other_files_is_not_called_renamed(tmp_path):
    a, b = _logs(tmp_path)
    cfg = _config(tmp_path, "a", a)
    journal = tmp_path / "agent.err"
    with open(journal, "wb") as err:
        agent = subprocess.Popen(SHIPPER + ["run", "-c", str(cfg)], stdout=subprocess.DEVNULL, stderr=err)
    try:
        wait_until(lambda: "msg=started" in journal.read_text(), 90, "the agent to start")
        _config(tmp_path, "b", b)
        agent.send_signal(signal.SIGHUP)
        wait_until(lambda: "msg=reloaded" in journal.read_text(), 90, "the reload")
    finally:
        assert stop_process(agent, 60) == 0, journal.read_text()
    text = journal.read_text()
    assert "sources_added=b" in text  # b was started
    assert RENAMED not in text, [ln for ln in text.splitlines() if RENAMED in ln]
