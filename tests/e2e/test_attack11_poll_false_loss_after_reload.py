"""Black-box attack 11: integrity on; one http_poll source, two outputs (stdout and Fluentd). Fluentd is down; a run
stops with batches undelivered ("read again next run"); the next agent starts while Fluentd is still down, and a
reload changes the source's `tags` (the source restarts once its batches complete); then Fluentd comes back.
Nothing was pruned: every commit is still listed, and both outputs end with every commit once. Promised
(docs/evidence.md): "every loss the agent knew of is declared", and `verify` exits 0 "only when every chain is
intact … and no loss was declared"; docs/operations.md: commits read before a stop are called lost only when the
listing, read to its end, no longer has them. Found: the restarted source warns "7 commit(s) … read before the last
stop but not delivered are no longer listed: deleted by the activity service … they are lost", the attestation
declares that loss, and `verify` of the complete stdout trail says NOT VERIFIED (3 of 3 runs; 0 of 3 without
integrity, 0 without the reload or without the stop)."""
from __future__ import annotations

import base64
import os
import signal
import subprocess
from collections import Counter
from pathlib import Path

import orjson

from tests.e2e.poll_setup import SHIPPER, write_poll_config
from tests.peers.forward_server import ForwardServer
from tests.peers.puppet_activity_api import PuppetActivityAPI
from tests.support import wait, wait_until


def write_config(tmp_path: Path, api: PuppetActivityAPI, port: int, tags: str = "[]") -> Path:
    return write_poll_config(
        tmp_path, api, ["{type: stdout, name: out}", f"{{type: fluentd, name: fd, host: 127.0.0.1, port: {port}, "
                                                      "batch_size: 5}"],
        services="[rbac, classifier]", source_extra=f", tags: {tags}",
        settings=f"shutdown_timeout: 3\nintegrity: {{key_file: {tmp_path / 'key'}, attest_interval: 1}}")


def commits_in(path: Path) -> list[str]:
    out = []
    for line in path.read_bytes().splitlines():
        m = orjson.loads(line).get("message", "")
        if m.startswith("change "):
            out.append(m)
    return out


def test_no_loss_is_declared_when_nothing_was_lost(tmp_path):
    (tmp_path / "key").write_text(base64.b64encode(os.urandom(32)).decode() + "\n")
    (tmp_path / "key").chmod(0o600)
    trail = tmp_path / "stdout.jsonl"
    log = tmp_path / "agent.log"
    everything = {f"change {i}" for i in range(80)}
    with PuppetActivityAPI(tmp_path, tls=False) as api:
        fluentd = ForwardServer().start()
        port = fluentd.port
        cfg = write_config(tmp_path, api, port)
        for i in range(20):
            api.add("rbac" if i % 2 else "classifier", [f"change {i}"])
        with open(trail, "ab") as out, open(log, "ab") as err:
            first = subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], stdout=out, stderr=err, timeout=300)
        assert first.returncode == 0, log.read_text()[-2000:]
        fluentd.stop()  # Fluentd goes down
        for i in range(20, 60):
            api.add("rbac" if i % 2 else "classifier", [f"change {i}"], same_second=i % 3 == 0)
        with open(trail, "ab") as out, open(log, "ab") as err:
            down = subprocess.run(SHIPPER + ["run", "--once", "--timeout", "3", "-c", str(cfg)], stdout=out,
                                  stderr=err, timeout=300)
            assert down.returncode == 1, log.read_text()[-2000:]
            agent = subprocess.Popen(SHIPPER + ["run", "-c", str(cfg)], stdout=out, stderr=err)
            try:
                wait_until(lambda: log.read_text().count("msg=started") >= 3, 60, "the agent to start")
                wait_until(lambda: "fluentd delivery failed" in log.read_text().rsplit("msg=started", 1)[1], 60,
                           "the agent held up by Fluentd")
                write_config(tmp_path, api, port, tags="[reloaded]")
                agent.send_signal(signal.SIGHUP)
                wait_until(lambda: "reload" in log.read_text().rsplit("msg=started", 1)[1], 60, "the reload")
                fluentd = ForwardServer(port=port).start()
                for i in range(60, 80):
                    api.add("rbac" if i % 2 else "classifier", [f"change {i}"])
                wait_until(lambda: everything - {f"change {i}" for i in range(20)}
                           <= {r[2].get("message") for r in fluentd.records}, 120, "Fluentd to get every commit")
                wait_until(lambda: everything <= set(commits_in(trail)), 60, "stdout to get every commit")
                wait(lambda: False, 2)  # an attestation after the last commits
            finally:
                agent.send_signal(signal.SIGTERM)
                agent.wait(60)
                fluentd.stop()
    at_stdout = Counter(commits_in(trail))
    assert set(at_stdout) == everything and max(at_stdout.values()) == 1  # nothing lost, nothing repeated
    said = [x for x in log.read_text().splitlines() if "kind=commits_lost" in x or "they are lost" in x]
    verify = subprocess.run(SHIPPER + ["verify", "--key-file", str(tmp_path / "key"), "--output", "out", str(trail)],
                            capture_output=True, text=True, timeout=300)
    assert not said and verify.returncode == 0, f"a loss declared though every commit was delivered: {said[:1]}; " \
                                                f"verify: {verify.stdout[-1200:]}"
