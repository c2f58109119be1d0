"""Issue 13 item 7: an unreadable matched file is named (errno), retried, shown in status, and never
called "rotated away". Root reads everything, so the scenario runs in a child process without the
capabilities that override file permissions (setpriv, util-linux); as another user it is the same."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SCRIPT = textwrap.dedent("""
    import json, logging, os, sys, time
    from shipper.tail import scan_rules
    from tests.tail.conftest import Follower
    scan_rules.MISSING_SECONDS = 0.0
    d = sys.argv[1]
    msgs = []
    class Keep(logging.Handler):
        def emit(self, r):
            msgs.append(r.getMessage())
    logging.getLogger("shipper.tail").addHandler(Keep())
    logging.getLogger("shipper.tail").setLevel(logging.INFO)
    a, b = os.path.join(d, "a.log"), os.path.join(d, "b.log")
    with open(a, "w") as fh:
        fh.write("".join(f"a{i}\\n" for i in range(5)))
    with open(b, "w") as fh:
        fh.write("".join(f"b{i}\\n" for i in range(3)))
    os.chmod(b, 0)
    f = Follower([os.path.join(d, "*.log")], d)
    for _ in range(3):
        f.poll()
    out = {"first": [x.decode() for x in f.lines()], "unreadable": dict(f.tailer.unreadable),
           "status": [s for s in f.tailer.status() if s["path"] == b], "first_msgs": list(msgs)}
    # a followed file becomes unreadable across a restart: it waits, it is not "rotated away"
    os.chmod(a, 0)
    f.restart()
    f.settle()
    out["while_unreadable"] = dict(f.tailer.unreadable)
    os.chmod(a, 0o644)
    with open(a, "a") as fh:
        fh.write("a5\\n")
    os.chmod(b, 0o644)
    f.settle()
    out["all"] = [x.decode() for x in f.lines()]
    out["losses"] = f.tailer.losses
    out["msgs"] = msgs
    print(json.dumps(out))
""")


def test_unreadable_file_is_named_retried_and_not_called_gone():
    d = tempfile.mkdtemp(prefix="unreadable")
    try:
        os.chmod(d, 0o777)

        cmd = [sys.executable, "-c", SCRIPT, d]
        if os.geteuid() == 0:
            cmd = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"] + cmd
        res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120,
                             env={**os.environ, "PYTHONPATH": ROOT})
        assert res.returncode == 0, res.stderr[-3000:]
        out = json.loads(res.stdout)
    finally:
        subprocess.run(["rm", "-rf", d])
    b = os.path.join(d, "b.log")
    a = os.path.join(d, "a.log")
    assert out["first"] == [f"a{i}" for i in range(5)]
    assert out["unreadable"] == {b: "[Errno 13] Permission denied"}
    assert out["status"] and out["status"][0]["note"] == "unreadable: [Errno 13] Permission denied"
    assert a in out["while_unreadable"]
    assert sorted(out["all"]) == sorted([f"a{i}" for i in range(6)] + [f"b{i}" for i in range(3)])
    assert len(out["all"]) == 9
    assert out["losses"] == 0
    warned = [m for m in out["first_msgs"] if m.startswith(f"cannot read {b}")]  # 3 scans, one warning
    assert len(warned) == 1 and "Errno 13" in warned[0]
    assert not any("data lost" in m or "rotated away" in m for m in out["msgs"]), out["msgs"]
    assert any(m == f"{a} is readable again" for m in out["msgs"])


def test_check_names_an_unreadable_matched_file(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "ok.log").write_text("x\n")
    bad = logs / "secret.log"
    bad.write_text("y\n")
    bad.chmod(0)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"state_dir: {tmp_path}/state\nsources:\n  - name: s\n    type: file\n    paths: ['{logs}/*.log']\n"
                   "    parser: json\noutputs:\n  - type: stdout\n")
    cmd = [sys.executable, "-m", "shipper.cli", "check", "-c", str(cfg)]
    if os.geteuid() == 0:
        cmd = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"] + cmd
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert f"{bad}  UNREADABLE: [Errno 13] Permission denied" in res.stdout
    assert f"{logs / 'ok.log'}  UNREADABLE" not in res.stdout
