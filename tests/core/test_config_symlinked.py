"""Relative paths of a config read through a symlink are taken from the folder of its path as given, not from the
link's target (a Kubernetes ConfigMap: `shipper.yaml -> ..data/shipper.yaml`, `..data -> ..2026_12_05_a`, switched
at each update, the old folder deleted). A state_dir that earlier releases put in the target's folder and that holds
this config's checkpoints refuses the start (exit 2, file, line, key), not a silent read of everything again.
The e2e side (switch + SIGHUP, switch + restart, counted): tests/e2e/test_configmap_symlinked_config.py."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

from shipper.config import load_config
from shipper.secrets import read_secret


def configmap(root, version: str, previous: str | None, files: dict[str, str]) -> None:
    """The kubelet's atomic update of a ConfigMap volume at `root`: a new folder, `..data` switched by one rename,
    the old folder deleted; each file a link `name -> ..data/name`."""
    folder = root / f"..2026_12_05_{version}"
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text)
        os.chmod(folder / name, 0o600)
        if not (root / name).is_symlink():
            os.symlink(f"..data/{name}", root / name)
    os.symlink(folder.name, root / "..data_tmp")
    os.rename(root / "..data_tmp", root / "..data")
    if previous is not None:
        shutil.rmtree(root / f"..2026_12_05_{previous}")


CONFIG = """\
state_dir: state
sources:
  - {name: app, type: file, paths: [logs/*.log], parser: json}
outputs:
  - {type: elasticsearch, hosts: ["http://127.0.0.1:9"], username: u, password_file: es-password}
"""


def test_relative_paths_stay_under_the_links_folder_across_a_switch(tmp_path):
    root = tmp_path / "shipper"
    configmap(root, "a", None, {"shipper.yaml": CONFIG, "es-password": "first\n"})
    cfg = load_config(root / "shipper.yaml")
    assert (cfg.state_dir, cfg.base_dir) == (str(root / "state"), str(root))
    [es] = cfg.outputs
    assert es.password_file == str(root / "es-password")
    assert read_secret(es.password_file, None, "password") == "first"

    configmap(root, "b", "a", {"shipper.yaml": CONFIG, "es-password": "second\n"})
    again = load_config(root / "shipper.yaml")
    assert again.state_dir == cfg.state_dir, "a switch of ..data leaves the state_dir where it was"
    assert again.earlier_state_dir == str(root / "..2026_12_05_b" / "state")
    assert read_secret(es.password_file, None, "password") == "second", "the secret is read through the link"


def test_a_config_not_read_through_a_link_has_no_earlier_state_dir(tmp_path):
    (tmp_path / "shipper.yaml").write_text(CONFIG)
    (tmp_path / "es-password").write_text("pw\n")
    os.chmod(tmp_path / "es-password", 0o600)
    os.symlink(tmp_path / "elsewhere", tmp_path / "state")  # a state_dir that is itself a link is the same folder
    (tmp_path / "elsewhere").mkdir()
    cfg = load_config(tmp_path / "shipper.yaml")
    assert cfg.state_dir == str(tmp_path / "state") and cfg.earlier_state_dir is None


def shipper(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "shipper.cli", *args], capture_output=True, text=True, timeout=120)


def test_a_start_on_a_moved_state_dir_is_refused_while_the_earlier_one_holds_its_checkpoints(tmp_path):
    """/etc/shipper.yaml -> /opt/conf/shipper.yaml with `state_dir: state`: earlier releases kept the checkpoints in
    /opt/conf/state; /etc/state is empty. Started there, the agent would ship the whole log again."""
    (tmp_path / "opt").mkdir()
    (tmp_path / "etc").mkdir()
    log = tmp_path / "app.log"
    log.write_text('{"n": 1}\n')
    text = (f"# shipped by the earlier release\nstate_dir: state\nsources:\n  - {{name: app, type: file, "
            f"paths: [\"{log}\"], parser: json, read_from: beginning}}\noutputs:\n  - {{type: stdout}}\n")
    (tmp_path / "opt" / "shipper.yaml").write_text(text)
    os.symlink("../opt/shipper.yaml", tmp_path / "etc" / "shipper.yaml")
    first = shipper("run", "--once", "-c", str(tmp_path / "opt" / "shipper.yaml"))  # the state where it was
    assert first.returncode == 0 and first.stdout.count("\n") == 1, first.stderr

    for command in (["run", "--once"], ["run"], ["check"]):
        r = shipper(*command, "-c", str(tmp_path / "etc" / "shipper.yaml"))
        assert r.returncode == 2, (command, r.stderr)
        assert r.stdout == "", "nothing shipped"
        assert r.stderr.startswith(f"error: {tmp_path / 'etc' / 'shipper.yaml'}:2: state_dir: "), r.stderr
        assert (f"{tmp_path / 'etc' / 'state'} holds no checkpoints, but {tmp_path / 'opt' / 'state'} holds the "
                f"checkpoints of source(s) app") in r.stderr
    assert not (tmp_path / "etc" / "state").exists()

    # Moved as the message says: the agent goes on from its checkpoint (nothing shipped again).
    os.rename(tmp_path / "opt" / "state", tmp_path / "etc" / "state")
    with open(log, "a") as f:
        f.write('{"n": 2}\n')
    moved = shipper("run", "--once", "-c", str(tmp_path / "etc" / "shipper.yaml"))
    assert moved.returncode == 0, moved.stderr
    assert '"n":2' in moved.stdout and '"n":1' not in moved.stdout, moved.stdout


def test_an_earlier_state_dir_of_other_sources_only_does_not_refuse(tmp_path):
    (tmp_path / "opt").mkdir()
    (tmp_path / "etc").mkdir()
    log = tmp_path / "app.log"
    log.write_text('{"n": 1}\n')

    def text(name: str) -> str:
        return (f"state_dir: state\nsources:\n  - {{name: {name}, type: file, paths: [\"{log}\"], parser: json, "
                f"read_from: beginning}}\noutputs:\n  - {{type: stdout}}\n")

    (tmp_path / "opt" / "shipper.yaml").write_text(text("other"))
    assert shipper("run", "--once", "-c", str(tmp_path / "opt" / "shipper.yaml")).returncode == 0
    (tmp_path / "opt" / "shipper.yaml").write_text(text("app"))
    os.symlink("../opt/shipper.yaml", tmp_path / "etc" / "shipper.yaml")
    r = shipper("run", "--once", "-c", str(tmp_path / "etc" / "shipper.yaml"))
    assert r.returncode == 0 and '"n":1' in r.stdout, r.stderr
