"""The command line: --help everywhere, plugins with their distribution, cat on files, .gz and stdin."""
from __future__ import annotations

import gzip
import subprocess
import sys

import orjson

from shipper import __version__

SHIPPER = [sys.executable, "-m", "shipper.cli"]

LINE = b'{"timestamp":"2026-01-02 03:04:05","actionType":"USER_MANAGEMENT","action":"CREATE_USER","performingUser":"root","userName":"eve"}'


def sh(*args, input=None) -> subprocess.CompletedProcess:
    return subprocess.run(SHIPPER + list(args), capture_output=True, input=input, timeout=60)


def test_version():
    r = sh("--version")
    assert r.returncode == 0 and __version__ in r.stdout.decode()


def test_every_command_has_help():
    r = sh("--help")
    assert r.returncode == 0
    commands = [l.split()[0] for l in r.stdout.decode().split("Commands:")[1].splitlines() if l.strip()]
    assert {"run", "check", "cat", "plugins"} <= set(commands)
    for c in commands:
        sub = sh(c, "--help")
        assert sub.returncode == 0 and "Usage:" in sub.stdout.decode(), c


def test_plugins_lists_every_kind_with_its_distribution():
    out = sh("plugins").stdout.decode()
    for kind, name in [("parsers", "datameer"), ("sources", "file"), ("outputs", "stdout")]:
        assert f"{kind}:" in out
        line = next(l for l in out.splitlines() if l.split() and l.split()[0] == name)
        assert "shipper" in line.split()[1], line


def test_cat_reads_plain_gz_and_stdin(tmp_path):
    plain = tmp_path / "a.log"
    plain.write_bytes(LINE + b"\nbroken\n")
    gz = tmp_path / "b.log.gz"
    with gzip.open(gz, "wb") as f:
        f.write(LINE + b"\n")
    r = sh("cat", "-p", "datameer", str(plain), str(gz))
    assert r.returncode == 0, r.stderr
    events = [orjson.loads(l) for l in r.stdout.splitlines()]
    assert len(events) == 3
    assert events[0]["user"]["target"]["name"] == "eve" and events[2]["event"]["action"] == "CREATE_USER"
    assert events[1]["tags"] == ["_parse_failure"] and events[1]["event"]["original"] == "broken"
    r = sh("cat", "-p", "datameer", input=LINE + b"\r\n")
    [ev] = [orjson.loads(l) for l in r.stdout.splitlines()]
    assert ev["event"]["category"] == ["iam"]


def test_cat_with_unknown_parser_exits_2():
    r = sh("cat", "-p", "nosuch")
    assert r.returncode == 2 and b"no parser named 'nosuch'" in r.stderr


def test_cat_on_missing_file_names_it(tmp_path):
    r = sh("cat", "-p", "datameer", str(tmp_path / "missing.log"))
    assert r.returncode == 1 and b"missing.log" in r.stderr


def test_cat_on_a_full_disk_says_so_without_a_traceback(tmp_path):
    log = tmp_path / "a.log"
    log.write_bytes((LINE + b"\n") * 20000)
    with open("/dev/full", "wb") as full:
        r = subprocess.run(SHIPPER + ["cat", "-p", "datameer", str(log)], stdout=full, stderr=subprocess.PIPE, timeout=60)
    assert r.returncode == 1
    assert b"No space left on device" in r.stderr and b"Traceback" not in r.stderr


def test_cat_into_a_closed_pipe_stops_quietly(tmp_path):
    log = tmp_path / "a.log"
    log.write_bytes((LINE + b"\n") * 50000)
    p = subprocess.Popen(SHIPPER + ["cat", "-p", "datameer", str(log)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.readline()
    p.stdout.close()  # like `| head -1`
    err = p.stderr.read()
    assert p.wait(60) == 141
    assert b"Traceback" not in err and b"Exception" not in err
