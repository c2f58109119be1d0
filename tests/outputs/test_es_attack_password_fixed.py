"""An operator whose password was refused fixes `password_file` (README: secrets come from files): the
output's next attempt must use the new password, as the postgres source reads its password at each
connect. Before, the password read at start was sent forever (until a restart), every retry refused.
A SIGHUP after the fix has the refused output try again at once (before, after its 30 s backoff)."""
from __future__ import annotations

import signal
import subprocess
import time

from tests.hostile_es import SHIPPER, HostileES, config
from tests.support import stop_process, wait


def test_a_password_fixed_in_its_file_is_used_at_the_next_retry(tmp_path):
    es = HostileES()
    es.password = "right-password"
    pw = tmp_path / "es.password"
    pw.write_text("wrong-password\n")
    pw.chmod(0o600)
    cfg = config(tmp_path, [es.url], n=40, extra=f", username: elastic, password_file: '{pw}'")
    log = tmp_path / "agent.log"
    with open(log, "wb") as err:
        agent = subprocess.Popen([SHIPPER, "run", "-c", str(cfg)], stdout=subprocess.DEVNULL, stderr=err)
    try:
        assert wait(lambda: b"401 credentials refused" in log.read_bytes(), 30), "the wrong password was refused"
        pw.write_text("right-password\n")
        # The config is unchanged, so the reload keeps the output; it only cuts the refusal's 30 s
        # backoff short (docs/operations.md), and the retry must read the fixed file.
        agent.send_signal(signal.SIGHUP)
        hup = time.monotonic()
        assert wait(lambda: es.ns() == list(range(40)), 45), f"stored {len(es.ns())} of 40 with the fixed password"
        assert time.monotonic() - hup < 20, "a reload after a refusal tries again at once, not after the backoff"
    finally:
        stop_process(agent)
        es.stop()
    assert b"right-password" not in log.read_bytes() and b"wrong-password" not in log.read_bytes()
