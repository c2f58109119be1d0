"""The acme_archive output, installed as a plugin, driven by shipper itself: `shipper run --once` on a
file, the archive written once, a failing write named and nothing lost or doubled once it works."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import orjson
import pytest
from shipper_plugin_example.output import AcmeArchiveConfig, AcmeArchiveOutput

from shipper.api import Batch, OutputContext, load_config, serialize_event

SHIPPER = [sys.executable, "-m", "shipper.cli"]
LINES = [orjson.dumps({"time": f"2026-03-01T10:00:{i:02d}Z", "request_id": f"r-{i}", "actor": "alice",
                       "operation": "secret.read", "path": f"kv/{i}", "status": "ok"}) for i in range(25)]


def shipper(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(SHIPPER + list(args), capture_output=True, text=True, timeout=180)


def write_config(folder: Path, archive: str, log: Path) -> Path:
    conf = folder / "shipper.yaml"
    conf.write_text(f"""\
state_dir: state
sources:
  - {{name: vault, type: file, parser: acme_vault, paths: ["{log}"], batch_size: 10}}
outputs:
  - {{type: acme_archive, path: {archive}, fsync: true, once_retry_seconds: 0.5}}
""")
    return conf


def archived(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_the_plugins_are_installed_and_accepted():
    r = shipper("plugins")
    assert r.returncode == 0, r.stdout + r.stderr
    for name in ("acme_vault", "acme_vault_socket", "acme_archive"):
        line = next(line for line in r.stdout.splitlines() if line.split()[:1] == [name])
        assert "shipper-plugin-example 0.1.0" in line and "REFUSED" not in r.stdout


def test_a_relative_archive_path_is_taken_from_the_config_folder(tmp_path):
    conf = write_config(tmp_path, "archive/vault.ndjson", tmp_path / "audit.log")
    config = load_config(conf)
    [out] = config.outputs
    assert isinstance(out, AcmeArchiveConfig) and out.path == str(tmp_path / "archive" / "vault.ndjson")


def test_run_once_archives_every_record_once_and_a_failing_folder_loses_nothing(tmp_path):
    log = tmp_path / "audit.log"
    log.write_bytes(b"\n".join(LINES[:20]) + b"\n")
    conf = write_config(tmp_path, "archive/vault.ndjson", log)
    archive = tmp_path / "archive" / "vault.ndjson"

    # The archive's folder is missing: the run says so and ends 1; nothing is checkpointed.
    r = shipper("run", "--once", "-c", str(conf))
    assert r.returncode == 1, r.stderr
    assert f"cannot append to {archive}" in r.stderr
    assert not archive.exists()

    (tmp_path / "archive").mkdir()
    r = shipper("run", "--once", "-c", str(conf))
    assert r.returncode == 0, r.stderr
    events = archived(archive)
    assert [e["event"]["id"] for e in events] == [f"r-{i}" for i in range(20)]
    assert all(e["event"]["module"] == "acme_vault" and e["host"]["name"] for e in events)

    with log.open("ab") as f:  # more lines: only those are archived by the next run
        f.write(b"\n".join(LINES[20:]) + b"\n")
    r = shipper("run", "--once", "-c", str(conf))
    assert r.returncode == 0, r.stderr
    assert [e["event"]["id"] for e in archived(archive)] == [f"r-{i}" for i in range(25)]


def test_a_write_cut_short_leaves_no_torn_batch(tmp_path):
    """A file size limit (RLIMIT_FSIZE) cuts a batch part-way, like a full disk: the batch is taken back
    whole, and written once when there is room again."""
    archive = tmp_path / "vault.ndjson"
    cfg = AcmeArchiveConfig(path=str(archive), fsync=False, once_retry_seconds=0.0)
    stop = threading.Event()
    output = AcmeArchiveOutput(cfg, OutputContext("archive", stop, str(tmp_path), once=True))
    events = [{"event": {"id": str(i)}, "message": "x" * 100} for i in range(40)]
    lines = b"".join(serialize_event(e) for e in events)
    first = Batch("s", "t", events[:10], [str(i) for i in range(10)], 0)
    second = Batch("s", "t", events[10:], [str(i) for i in range(10, 40)], 0, lines=lines[len(b"".join(
        serialize_event(e) for e in events[:10])):])
    output.send(first)
    size_after_first = archive.stat().st_size
    code = f"""
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
resource.setrlimit(resource.RLIMIT_FSIZE, ({size_after_first + 1000}, {size_after_first + 1000}))
from shipper.api import Batch, EndRun, OutputContext
from shipper_plugin_example.output import AcmeArchiveConfig, AcmeArchiveOutput
import threading
out = AcmeArchiveOutput(AcmeArchiveConfig(path={str(archive)!r}, fsync=False, once_retry_seconds=0.0),
                        OutputContext("archive", threading.Event(), {str(tmp_path)!r}, once=True))
try:
    out.send(Batch("s", "t", [], [], 0, lines={second.lines!r}))
except EndRun as e:
    print(e)
    sys.exit(3)
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 3, r.stderr
    assert "cannot append" in r.stdout and "too large" in r.stdout.lower()
    assert archive.stat().st_size == size_after_first  # the cut batch was taken back
    output.send(second)  # room again: written once, whole
    assert [e["event"]["id"] for e in archived(archive)] == [str(i) for i in range(40)]
    assert os.path.getsize(archive) == len(lines)


@pytest.mark.parametrize("folder_exists", [True, False])
def test_probe_says_whether_the_folder_is_writable(tmp_path, folder_exists):
    folder = tmp_path / "archive"
    if folder_exists:
        folder.mkdir()
    output = AcmeArchiveOutput(AcmeArchiveConfig(path=str(folder / "a.ndjson")),
                               OutputContext("archive", threading.Event(), str(tmp_path)))
    if folder_exists:
        assert "folder writable" in output.probe()
    else:
        with pytest.raises(OSError, match="does not exist"):
            output.probe()
