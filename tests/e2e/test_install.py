"""`make install` / scripts/install.sh into a temporary root (DESTDIR), upgrade, uninstall.

Offline: pip gets `--no-index --no-deps`, so the staged venv holds shipper itself; its
dependencies are borrowed from the test venv through PYTHONPATH when the staged copy is run.
The build needs `wheel`, taken from Debian's python3-wheel-whl (scripts/install-test-deps.sh).
"""
from __future__ import annotations

import glob
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
OFFLINE = "--no-index --no-deps --no-build-isolation"


def prepare_venv(destdir: Path, prefix: str) -> Path:
    """The venv install.sh will reuse, with `wheel` from the Debian .whl (no network here)."""
    venv = Path(str(destdir) + prefix)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    wheels = glob.glob("/usr/share/python-wheels/wheel-*.whl")
    assert wheels, "python3-wheel-whl is missing: run scripts/install-test-deps.sh"
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    "--no-index", wheels[0]], check=True, timeout=300)
    return venv


def make(target: str, destdir: Path, prefix: str) -> subprocess.CompletedProcess:
    r = subprocess.run(["make", "-s", "-C", str(REPO), target, f"DESTDIR={destdir}", f"PREFIX={prefix}",
                        f"PYTHON={sys.executable}", f"PIP_OPTS={OFFLINE}"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def run_staged(venv: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": sysconfig.get_paths()["purelib"]}
    return subprocess.run([str(venv / "bin" / "python"), *args], capture_output=True, text=True, env=env,
                          cwd="/", timeout=120)


def test_install_upgrade_uninstall_into_destdir(tmp_path):
    """Staged at a PREFIX other than the default /opt/shipper: the venv, the unit and the scripts follow it."""
    prefix = "/usr/local/shipper"
    root = tmp_path / "root"
    venv = prepare_venv(root, prefix)
    out = make("install", root, prefix=prefix).stdout
    assert "installed /etc/shipper/shipper.yaml" in out

    unit = root / "etc/systemd/system/shipper.service"
    assert "ExecStart=/usr/local/shipper/bin/shipper run -c /etc/shipper/shipper.yaml" in unit.read_text()
    assert "/opt/shipper" not in unit.read_text() and not (root / "opt").exists()
    assert (root / "usr/lib/sysusers.d/shipper.conf").read_text() == (REPO / "systemd/shipper.sysusers").read_text()
    assert (root / "usr/lib/tmpfiles.d/shipper.conf").read_text() == (REPO / "systemd/shipper.tmpfiles").read_text()
    assert not (root / "etc/sysusers.d").exists() and not (root / "etc/tmpfiles.d").exists()
    cfg = root / "etc/shipper/shipper.yaml"
    assert cfg.read_text() == (REPO / "config/shipper.yaml").read_text()
    assert cfg.stat().st_mode & 0o777 == 0o640  # it may hold output credentials
    assert (root / "usr/local/shipper/share/doc/shipper/operations.md").is_file()

    # The staged venv names the prefix, not the staging root, so it works once moved there.
    script = venv / "bin" / "shipper"
    assert script.read_text().splitlines()[0] == "#!/usr/local/shipper/bin/python"
    for f in (venv / "bin").iterdir():
        if f.is_file() and not f.is_symlink():
            assert str(root) not in f.read_text(errors="replace"), f
    # The installed copy (not the checkout) runs, with its plugins registered.
    r = run_staged(venv, "-c", "import shipper, shipper_plugins; from shipper import registry; "
                               "print(shipper.__file__); print(registry.names('output'))")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0].startswith(str(venv)), r.stdout
    assert "stdout" in r.stdout
    r = run_staged(venv, "-m", "shipper.cli", "check", "-c", str(cfg))
    assert r.returncode == 0 and "valid" in r.stdout, r.stdout + r.stderr

    # systemd accepts the installed unit (ExecStart pointed into the staging root for the check).
    staged_unit = tmp_path / "shipper.service"
    staged_unit.write_text(unit.read_text().replace(f"ExecStart={prefix}/", f"ExecStart={venv}/"))
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", str(staged_unit)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0 and not r.stderr, r.stderr

    # Upgrade: the operator's config stays, the example is refreshed.
    cfg.write_text(cfg.read_text().replace("level: info", "level: debug"))
    out = make("install", root, prefix=prefix).stdout
    assert "kept /etc/shipper/shipper.yaml" in out
    assert "level: debug" in cfg.read_text()
    assert (root / "etc/shipper/shipper.yaml.example").read_text() == (REPO / "config/shipper.yaml").read_text()

    # Uninstall keeps config and checkpoints; --purge removes them.
    (root / "var/lib/shipper").mkdir(parents=True)
    (root / "var/lib/shipper/checkpoints.sqlite").write_bytes(b"")
    make("uninstall", root, prefix=prefix)
    assert not venv.exists() and not unit.exists() and not (root / "usr/lib/sysusers.d/shipper.conf").exists()
    assert cfg.exists() and (root / "var/lib/shipper/checkpoints.sqlite").exists()
    r = subprocess.run([str(REPO / "scripts/install.sh"), "uninstall", "--purge"], capture_output=True, text=True,
                       env={**os.environ, "DESTDIR": str(root), "PREFIX": prefix}, timeout=120)
    assert r.returncode == 0, r.stderr
    assert not (root / "etc/shipper").exists() and not (root / "var/lib/shipper").exists()


LIVE_IN_NAMESPACE = r"""
set -eu
T="$1"
# This process's own view of /etc, /usr/lib/{sysusers,tmpfiles}.d and /var/lib: the host's stay untouched.
cp -a /etc "$T/etc"
mkdir -p "$T/sysusers" "$T/tmpfiles" "$T/varlib"
mount --bind "$T/etc" /etc
mount --bind "$T/sysusers" /usr/lib/sysusers.d
mount --bind "$T/tmpfiles" /usr/lib/tmpfiles.d
mount --bind "$T/varlib" /var/lib
# What an earlier install left, edited by the operator; and the operator's own group snippet.
mkdir -p /etc/sysusers.d /etc/tmpfiles.d
cp "$2/systemd/shipper.tmpfiles" /etc/tmpfiles.d/shipper.conf
printf 'g auditors -\nm shipper auditors\n' > /etc/sysusers.d/shipper-local.conf
"$2/scripts/install.sh" install
echo "--- passwd: $(getent passwd shipper)"
echo "--- groups: $(id -nG shipper)"
ls -ld /etc/shipper /var/lib/shipper | awk '{print "--- dir:", $1, $3, $4, $NF}'
test -e /etc/tmpfiles.d/shipper.conf && echo "--- old tmpfiles kept" || echo "--- old tmpfiles retired"
"$2/scripts/install.sh" install >/dev/null
echo "--- after upgrade: $(id -nG shipper); local: $(cat /etc/sysusers.d/shipper-local.conf | tr '\n' ' ')"
"""


def test_live_install_without_running_systemd(tmp_path):
    """As in an image build (root, systemd installed, not running): make install completes, creates
    the user and folders, restarts nothing, and keeps the operator's snippets in /etc."""
    if os.geteuid() != 0 or Path("/run/systemd/system").exists():
        raise AssertionError("this test needs root without a running systemd (an image build, a CI container)")
    prefix = tmp_path / "opt" / "shipper"
    prepare_venv(Path("/"), str(prefix))
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", "bash", "-c", LIVE_IN_NAMESPACE, "x",
                        str(tmp_path), str(REPO)],
                       capture_output=True, text=True, timeout=600,
                       env={**os.environ, "PREFIX": str(prefix), "PYTHON": sys.executable, "PIP_OPTS": OFFLINE})
    out = r.stdout
    assert r.returncode == 0, out + r.stderr
    assert "systemd is not running (an image build?)" in out
    assert "removed /etc/tmpfiles.d/shipper.conf (now in /usr/lib/tmpfiles.d/shipper.conf)" in out
    assert "--- old tmpfiles retired" in out
    assert "--- passwd: shipper:" in out and ":/var/lib/shipper:/usr/sbin/nologin" in out
    groups = out.split("--- groups: ")[1].split("\n")[0].split()
    assert {"shipper", "adm", "auditors"} <= set(groups), out
    assert "--- dir: drwxr-x--- root shipper /etc/shipper" in out, out
    assert "--- dir: drwxr-x--- shipper shipper /var/lib/shipper" in out, out
    after = out.split("--- after upgrade: ")[1]
    assert "auditors" in after and "m shipper auditors" in after
    # Nothing leaked to the host.
    assert not Path("/usr/lib/sysusers.d/shipper.conf").exists() and not Path("/etc/shipper").exists()
