"""Attack 24 (issue 23, a reload that changes a source's glob): a copy of a rotated backup made just before a reload
that widens the source's `paths` to the backups is taken for a copytruncate of the live log, and a loss is named that
never happened.

docs/operations.md: a reload applies a changed source's `paths` by restarting it from its checkpoint; the restart
looks at what the reload added. Found (exam24l, 2026-12-07, 2 of 2 by hand): `app.log` (read to its end) renamed
`app.log.1`, 500 lines more written to a new `app.log` and delivered, then `cp app.log.1 app.log.2` (an operator's or
a backup job's copy) and at once a SIGHUP widening `paths` from `app.log` to `app.log*`: every line is delivered
once, nothing is lost, but the journal says `data lost: an unknown number of bytes of …/app.log were written between
the copy to …/app.log.2 and the truncation of …/app.log (found by the copy, made while the file was live …;
copytruncate …)`. `app.log` was never truncated. The same copy with `app.log*` configured from the start, or made 3 s
before the reload, says nothing (2 of 2 each). Here 3 of 3 at load ~25; it needs the copy to be recent at the reload.
Fixed (session 25): the holder saw `cp` create app.log.2 while it had app.log at the live name, a copy of it by the
events (copy_events.py); the restarted source had not followed app.log again yet, so copies.copy_of_unread_live took
it for a file of which nothing past its head was read. Its saved state, read past its head, now shows a cut by its
bytes, as a followed one does: no window is named from the events."""
from __future__ import annotations

import collections
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from tests.support import stop_process, wait_until

SHIPPER = [sys.executable, "-m", "shipper.cli"]


def _config(cfg: Path, tmp_path: Path, paths: list[str]) -> None:
    cfg.write_text(json.dumps({  # JSON is YAML
        "state_dir": str(tmp_path / "state"), "shutdown_timeout": 2,
        "sources": [{"name": "app", "type": "file", "paths": paths, "parser": "json", "read_from": "beginning"}],
        "outputs": [{"type": "stdout"}]}))


def _write(log: Path, start: int, count: int) -> None:
    with open(log, "a") as f:
        f.write("".join(json.dumps({"n": n, "m": "x" * 50}) + "\n" for n in range(start, start + count)))


def _stored(out: Path) -> collections.Counter:
    return collections.Counter(json.loads(raw)["generic"]["n"] for raw in out.read_text().splitlines())


def test_a_reload_widening_paths_over_a_fresh_backup_copy_names_no_loss(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "app.log"
    cfg = tmp_path / "cfg.yaml"
    _config(cfg, tmp_path, [str(log)])
    _write(log, 0, 500)
    out, journal = tmp_path / "out.jsonl", tmp_path / "agent.err"
    with open(out, "wb") as o, open(journal, "wb") as e:
        agent = subprocess.Popen(SHIPPER + ["run", "-c", str(cfg)], stdout=o, stderr=e)
    try:
        wait_until(lambda: len(_stored(out)) >= 500, 120, "the first 500 lines")
        os.rename(log, logs / "app.log.1")
        _write(log, 500, 500)
        wait_until(lambda: len(_stored(out)) >= 1000, 120, "the lines after the rotation")
        shutil.copy(logs / "app.log.1", logs / "app.log.2")
        _config(cfg, tmp_path, [str(logs / "app.log*")])
        agent.send_signal(signal.SIGHUP)
        wait_until(lambda: "msg=reloaded" in journal.read_text(), 120, "the reload")
        _write(log, 1000, 100)
        wait_until(lambda: len(_stored(out)) >= 1100, 120, "the lines after the reload")
    finally:
        assert stop_process(agent, 60) == 0, journal.read_text()
    stored = _stored(out)
    assert sorted(stored) == list(range(1100)) and max(stored.values()) == 1  # nothing lost, nothing repeated
    text = journal.read_text()
    assert "data lost" not in text, [ln for ln in text.splitlines() if "data lost" in ln][0]
