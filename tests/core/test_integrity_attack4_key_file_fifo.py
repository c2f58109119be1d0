"""Attack on the agent and `shipper verify` (issue 18): the integrity key file is a FIFO. The config
file itself is opened so that a FIFO is refused ("would wait forever (check, start, a reload)"), but
the key file is not: whoever can put a FIFO where the key file is named (or a secret delivered
through a named pipe) makes `shipper check` and `shipper run` hang at start, `shipper verify` hang,
and a running agent that reloads (SIGHUP) wedge: it goes on shipping but no longer stops on
SIGTERM (still running 40 s later, past shutdown_timeout) — a page at 3 a.m. It must be refused,
named, at once."""
from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time

from tests.core.test_integrity import SHIPPER, append, record, setup, shipped


def test_a_fifo_as_the_key_file_is_refused_not_waited_on(tmp_path):
    capture, _ = shipped(tmp_path, n=3)  # a trail, sealed with the regular key file
    log, cfg = setup(tmp_path)
    cfg.write_text(cfg.read_text().replace("state_dir:", "shutdown_timeout: 5\nstate_dir:"))
    key = tmp_path / "key"
    key.rename(tmp_path / "key.real")
    os.mkfifo(key)

    # An answer takes a second or two; 20 s is the generous bound on a loaded host (a hang fails here).
    r = subprocess.run(SHIPPER + ["check", "-c", str(cfg)], capture_output=True, text=True, timeout=20)
    assert r.returncode == 2 and "key" in r.stderr, r.stderr
    r = subprocess.run(SHIPPER + ["verify", "--key-file", str(key), str(capture)], capture_output=True, text=True,
                       timeout=20)
    assert r.returncode == 2, r.stdout + r.stderr

    # A running agent whose key file becomes a FIFO before a reload.
    key.unlink()
    (tmp_path / "key.real").rename(key)
    append(log, [record(i) for i in range(3)])
    out = tmp_path / "daemon.jsonl"
    with open(out, "wb") as f:
        proc = subprocess.Popen(SHIPPER + ["run", "-c", str(cfg)], stdout=f, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while out.read_bytes().count(b"\n") < 4:  # start attestation and the three events
            assert time.monotonic() < deadline and proc.poll() is None, "the agent did not ship"
            time.sleep(0.1)
        key.rename(tmp_path / "key.real")
        os.mkfifo(key)
        proc.send_signal(signal.SIGHUP)
        time.sleep(2)  # the reload is read (and refused)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) in (0, 1)  # it stops (shutdown_timeout is 5 s)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)


def test_a_key_from_process_substitution_still_verifies(tmp_path):
    """`--key-file <(gpg -d key.gpg)`: /dev/fd/N is a pipe with a writer, read to its end; one whose
    writer writes nothing is refused as empty (exit 2), not waited on."""
    capture, _ = shipped(tmp_path, n=3)
    cmd = " ".join(map(shlex.quote, SHIPPER + ["verify", "--key-file"]))
    trail = shlex.quote(str(capture))
    r = subprocess.run(["bash", "-c", f"{cmd} <(sleep 1; cat {shlex.quote(str(tmp_path / 'key'))}) {trail}"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run(["bash", "-c", f"{cmd} <(true) {trail}"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "integrity key file /dev/fd/" in r.stderr, r.stdout + r.stderr
