"""Attack (issue 14): a careless operator writes an Elasticsearch URL whose password holds a character
URL syntax reserves or forbids (a space, a tab, '/', '?', '#', a backslash). The promise: a password
written into a URL shows as `***` in logs, config errors, `shipper check` and `shipper status`, and
bad config is a config error (exit 2), never a traceback."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _config(tmp: Path, host: str) -> Path:
    (tmp / "a.log").write_text('{"a": 1}\n')
    cfg = tmp / "shipper.yaml"
    cfg.write_text(f"state_dir: {tmp}/state\n"
                   f"sources:\n  - {{name: a, type: file, paths: [{tmp}/a.log], parser: json}}\n"
                   f"outputs:\n  - type: elasticsearch\n    hosts: [{host}]\n")
    return cfg


def _shipper(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "shipper.cli", *args], capture_output=True,
                          timeout=timeout, cwd=str(REPO))


# Written as YAML double-quoted scalars, so "\t" and "\n" are a real tab and newline.
WHITESPACE = [('"http://bob:Pa ss9Zq@127.0.0.1:1"', "Pa ss9Zq"),
              ('"http://bob:Pa\\tss9Zq@127.0.0.1:1"', "Pa\tss9Zq"),
              ('"http://bob:Pa\\nss9Zq@127.0.0.1:1"', "Pa\nss9Zq")]


@pytest.mark.parametrize("host,pw", WHITESPACE, ids=["space", "tab", "newline"])
def test_password_with_whitespace_hidden_by_check(tmp_path, host, pw):
    cfg = _config(tmp_path, host)
    for args in (["check", "-c", str(cfg)], ["check", "--outputs", "-c", str(cfg)]):
        r = _shipper(*args)
        out = (r.stdout + r.stderr).decode(errors="replace")
        for piece in pw.split():
            assert piece not in out, (args, out)
        assert "Traceback" not in out


def test_password_with_space_hidden_in_run_logs_and_status(tmp_path):
    cfg = _config(tmp_path, '"http://bob:Pa ss9Zq@127.0.0.1:1"')
    r = _shipper("run", "--once", "--timeout", "5", "-c", str(cfg), timeout=90)
    out = (r.stdout + r.stderr).decode(errors="replace")
    assert r.returncode == 1, out  # nothing delivered: the output is down
    assert "ss9Zq" not in out, out
    for args in (["status", "-c", str(cfg)], ["status", "--json", "-c", str(cfg)]):
        s = _shipper(*args)
        text = (s.stdout + s.stderr).decode(errors="replace")
        assert "ss9Zq" not in text, (args, text)


@pytest.mark.parametrize("pw", ["Pa/ss9Zq", "Pa?ss9Zq", "Pa#ss9Zq"], ids=["slash", "question", "hash"])
def test_password_with_reserved_character_hidden_in_config_error(tmp_path, pw):
    cfg = _config(tmp_path, f'"http://bob:{pw}@127.0.0.1:1"')
    r = _shipper("check", "-c", str(cfg))
    err = r.stderr.decode(errors="replace")
    assert r.returncode == 2, err
    assert "shipper.yaml" in err and "hosts" in err
    assert "Pa" + pw[2] not in err and "ss9Zq" not in err and "Pa'" not in err, err


def test_password_with_backslash_is_a_config_error_not_a_traceback(tmp_path):
    cfg = _config(tmp_path, '"http://bob:Pa\\\\ss9Zq@127.0.0.1:1"')  # YAML "\\" is one backslash
    r = _shipper("check", "-c", str(cfg))
    out = (r.stdout + r.stderr).decode(errors="replace")
    assert "Traceback" not in out, out
    assert "ss9Zq" not in out, out
    assert r.returncode == 2, out
    assert "shipper.yaml:6" in out and "hosts" in out, out
