"""The unit as systemd itself reads it: `systemd-analyze verify` and `security --offline=true`."""
from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "systemd" / "shipper.service"


def unit_copy(tmp_path: Path) -> Path:
    """The unit with ExecStart on a shipper that exists here (verify checks the binary is executable)."""
    shipper = Path(sys.executable).with_name("shipper")
    assert shipper.exists(), shipper
    text = UNIT.read_text()
    assert "ExecStart=/opt/shipper/bin/shipper " in text
    copy = tmp_path / "shipper.service"
    copy.write_text(text.replace("ExecStart=/opt/shipper/bin/shipper ", f"ExecStart={shipper} "))
    return copy


def test_verify_has_no_errors(tmp_path):
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit_copy(tmp_path))],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "shipper.service" not in r.stderr, r.stderr  # warnings name the unit too


def test_security_exposure_at_most_2(tmp_path):
    r = subprocess.run(["systemd-analyze", "security", "--offline=true", "--no-pager", str(unit_copy(tmp_path))],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    m = re.search(r"Overall exposure level for shipper\.service: (\d+\.\d+)", r.stdout)
    assert m, r.stdout
    assert float(m.group(1)) <= 2.0, r.stdout


def test_unit_settings_the_issue_asks_for():
    cp = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    cp.optionxform = str
    cp.read_string(UNIT.read_text())
    svc = cp["Service"]
    assert svc["Type"] == "notify"
    assert svc["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert int(svc["WatchdogSec"]) > 0
    assert svc["User"] == "shipper" and "DynamicUser" not in svc
    assert svc["StateDirectory"] == "shipper"
    for key, value in {"ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
                       "NoNewPrivileges": "yes", "CapabilityBoundingSet": "", "MemoryDenyWriteExecute": "yes"}.items():
        assert svc[key] == value, key
    assert "@system-service" in svc["SystemCallFilter"] or "SystemCallFilter=@system-service" in UNIT.read_text()
    assert svc["RestrictAddressFamilies"]
    # The agent stops within TimeoutStopSec: its own shutdown_timeout default must fit inside.
    from shipper.config import AgentSettings

    assert AgentSettings.model_fields["shutdown_timeout"].default < int(svc["TimeoutStopSec"])


def test_sysusers_and_tmpfiles_apply_to_a_root(tmp_path):
    """systemd-sysusers and systemd-tmpfiles accept the snippets and create what the unit needs."""
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    r = subprocess.run(["systemd-sysusers", f"--root={root}", str(REPO / "systemd" / "shipper.sysusers")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    passwd = (root / "etc" / "passwd").read_text()
    assert re.search(r"^shipper:x:\d+:\d+:[^:]*:/var/lib/shipper:/usr/sbin/nologin$", passwd, re.M), passwd
    group = (root / "etc" / "group").read_text()
    assert re.search(r"^adm:x:\d+:.*\bshipper\b", group, re.M), group
    r = subprocess.run(["systemd-tmpfiles", f"--root={root}", "--create", str(REPO / "systemd" / "shipper.tmpfiles")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert (root / "etc" / "shipper").is_dir() and (root / "var" / "lib" / "shipper").is_dir()
    assert oct((root / "etc" / "shipper").stat().st_mode & 0o777) == "0o750"
    assert shutil.which("systemd-analyze")
