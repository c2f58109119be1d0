"""An operator whose password was refused fixes `password_file` (README: secrets come from files): the
output's next attempt must use the new password, as the postgres source reads its password at each
connect. Before, the password read at start was sent forever (until a restart), every retry refused."""
from __future__ import annotations

import signal
import subprocess

from tests.hostile_es import SHIPPER, HostileES, config
from tests.support import wait


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
        # The first retry after a refusal comes 30 s later (docs/operations.md); it must deliver.
        assert wait(lambda: es.ns() == list(range(40)), 45), f"stored {len(es.ns())} of 40 with the fixed password"
    finally:
        agent.send_signal(signal.SIGTERM)
        try:
            agent.wait(30)
        except subprocess.TimeoutExpired:
            agent.kill()
            agent.wait()
        es.stop()
    assert b"right-password" not in log.read_bytes() and b"wrong-password" not in log.read_bytes()
