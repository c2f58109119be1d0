"""Config validation: errors name the file, the line and the key path, and `shipper check` exits 2."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from shipper.config import ConfigError, load_config, parse_config

SHIPPER = [sys.executable, "-m", "shipper.cli"]

GOOD = """\
state_dir: {state}
sources:
  - name: datameer
    type: file
    paths: [{logs}/*.log]
    parser: datameer
outputs:
  - type: stdout
    match: "audit.*"
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "shipper.yaml"
    p.write_text(textwrap.dedent(text))
    return p


def check(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(SHIPPER + ["check", "-c", str(path)], capture_output=True, text=True, timeout=60)


def test_valid_config_lists_matched_files_and_outputs(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "useraction.log").write_text("")
    cfg = write(tmp_path, GOOD.format(state=tmp_path / "state", logs=logs))
    r = check(cfg)
    assert r.returncode == 0, r.stderr
    assert str(logs / "useraction.log") in r.stdout
    assert "source datameer" in r.stdout and "output stdout" in r.stdout


def test_defaults(tmp_path):
    cfg = load_config(write(tmp_path, GOOD.format(state="st", logs="logs")))
    [src] = cfg.sources
    assert src.effective_tag == "audit.datameer"
    assert src.read_from == "beginning"
    assert cfg.outputs[0].name == "stdout"
    assert cfg.state_dir == str(tmp_path / "st"), "relative state_dir is taken from the config's folder"


@pytest.mark.parametrize("text,line,path,words", [
    # unknown key, with a suggestion
    ("""\
     state_dir: /tmp/x
     sources:
       - name: a
         type: file
         pathz: [/var/log/a.log]
         parser: datameer
     outputs:
       - type: stdout
     """, 5, "sources[0].pathz", ["unknown key", "did you mean 'paths'"]),
    # wrong type in the second source
    ("""\
     state_dir: /tmp/x
     sources:
       - name: a
         type: file
         paths: [/var/log/a.log]
         parser: datameer
       - name: b
         type: file
         paths: 5
         parser: datameer
     outputs:
       - type: stdout
     """, 9, "sources[1].paths", ["list"]),
    # unknown parser
    ("""\
     sources:
       - name: a
         type: file
         paths: [/x]
         parser: datamer
     outputs:
       - type: stdout
     """, 5, "sources[0].parser", ["unknown parser", "did you mean 'datameer'"]),
    # unknown output type
    ("""\
     sources:
       - {name: a, type: file, paths: [/x], parser: datameer}
     outputs:
       - type: stdot
     """, 4, "outputs[0].type", ["unknown output", "did you mean 'stdout'"]),
    # bad name
    ("""\
     sources:
       - name: Bad-Name
         type: file
         paths: [/x]
         parser: datameer
     outputs:
       - type: stdout
     """, 2, "sources[0].name", ["[a-z0-9_]+"]),
    # duplicate names
    ("""\
     sources:
       - {name: a, type: file, paths: [/x], parser: datameer}
       - {name: a, type: file, paths: [/y], parser: datameer}
     outputs:
       - type: stdout
     """, 3, "sources[1].name", ["duplicate"]),
    # bad enum
    ("""\
     sources:
       - name: a
         type: file
         paths: [/x]
         parser: datameer
         read_from: middle
     outputs:
       - type: stdout
     """, 6, "sources[0].read_from", ["beginning", "end"]),
    # unknown top-level key
    ("""\
     state_dri: /tmp
     sources:
       - {name: a, type: file, paths: [/x], parser: datameer}
     outputs:
       - type: stdout
     """, 1, "state_dri", ["did you mean 'state_dir'"]),
    # missing required key
    ("""\
     sources:
       - {name: a, type: file, parser: datameer}
     outputs:
       - type: stdout
     """, 2, "sources[0].paths", ["required"]),
    # unknown time zone
    ("""\
     sources:
       - {name: a, type: file, paths: [/x], parser: datameer, timezone: Mars/Base}
     outputs:
       - type: stdout
     """, 2, "sources[0].timezone", ["time zone"]),
])
def test_broken_configs_exit_2_naming_file_line_and_key(tmp_path, text, line, path, words):
    cfg = write(tmp_path, text)
    r = check(cfg)
    assert r.returncode == 2, r.stdout + r.stderr
    assert f"{cfg}:{line}: {path}:" in r.stderr, r.stderr
    for w in words:
        assert w in r.stderr, r.stderr


def test_yaml_syntax_error_names_the_line(tmp_path):
    cfg = write(tmp_path, "sources:\n  - name: a\n    paths: [unclosed\noutputs: []\n")
    r = check(cfg)
    assert r.returncode == 2
    assert f"{cfg}:" in r.stderr and "not valid YAML" in r.stderr


def test_missing_config_file(tmp_path):
    r = check(tmp_path / "nope.yaml")
    assert r.returncode == 2 and "not found" in r.stderr


def test_config_from_environment(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    cfg = write(tmp_path, GOOD.format(state=tmp_path / "s", logs=logs))
    r = subprocess.run(SHIPPER + ["check"], capture_output=True, text=True, timeout=60,
                       env={**__import__("os").environ, "SHIPPER_CONFIG": str(cfg)})
    assert r.returncode == 0 and str(cfg) in r.stdout


KEYS = ["name", "type", "paths", "parser", "tag", "read_from", "timezone", "tags", "exclude", "max_line_bytes"]


@settings(max_examples=60, deadline=None)
@given(typo=st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12).filter(lambda k: k not in KEYS))
def test_any_unknown_source_key_is_an_error_naming_it(typo):
    """Whatever the typo, it is reported with its key path and line; nothing is silently ignored."""
    from shipper import registry

    fields = registry.load("source", "file").Config.model_fields
    if typo in fields:
        return
    text = f"sources:\n  - name: a\n    type: file\n    paths: [/x]\n    parser: datameer\n    {typo}: 1\noutputs:\n  - type: stdout\n"
    with pytest.raises(ConfigError) as e:
        parse_config(text, "f.yaml")
    assert any(p.path == f"sources[0].{typo}" and p.line == 6 for p in e.value.problems), e.value.problems


def test_relative_secret_and_socket_paths_are_taken_from_the_config_folder(tmp_path):
    (tmp_path / "conf").mkdir()
    cfg_path = tmp_path / "conf" / "shipper.yaml"
    cfg_path.write_text(textwrap.dedent("""\
        sources:
          - {name: a, type: file, paths: [/x], parser: datameer}
        outputs:
          - {type: elasticsearch, hosts: ["http://127.0.0.1:9"], username: u, password_file: secrets/es.pw,
             ca_file: /etc/ssl/ca.pem, dead_letter: dl.ndjson}
          - {type: fluentd, socket: run/fluent.sock}
        """))
    (tmp_path / "conf" / "secrets").mkdir()
    (tmp_path / "conf" / "secrets" / "es.pw").write_text("s3cret\n")
    cfg = load_config(cfg_path)
    es, fl = cfg.outputs
    assert es.password_file == str(tmp_path / "conf" / "secrets" / "es.pw")
    assert es.ca_file == "/etc/ssl/ca.pem", "absolute paths are left alone"
    assert es.dead_letter == str(tmp_path / "conf" / "dl.ndjson")
    assert fl.socket == str(tmp_path / "conf" / "run" / "fluent.sock")


def test_duplicate_name_after_an_invalid_source_names_the_right_index(tmp_path):
    text = ("sources:\n"
            "  - {name: a, type: file, paths: 5, parser: datameer}\n"
            "  - {name: b, type: file, paths: [/x], parser: datameer}\n"
            "  - {name: b, type: file, paths: [/y], parser: datameer}\n"
            "outputs:\n  - type: stdout\n")
    with pytest.raises(ConfigError) as e:
        parse_config(text, "f.yaml")
    dup = [p for p in e.value.problems if "duplicate" in p.message]
    assert [(p.path, p.line) for p in dup] == [("sources[2].name", 4)]
