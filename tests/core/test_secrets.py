"""Secrets are never shown: passwords in a dsn or URL are redacted on every way out; a secret file
others can read is named once."""
from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from shipper.log import JsonFormatter, LogfmtFormatter
from shipper.secrets import SecretError, read_secret, redact

REPO = Path(__file__).resolve().parents[2]
# What a password may hold in a URL (percent-encoded reserved characters) and in a dsn (no space).
_pw = st.text(st.sampled_from("abcXYZ019!$%*+-._~()[]@'"), min_size=4, max_size=30).filter(lambda s: "***" not in s)


@given(_pw, st.sampled_from(["postgresql", "postgres", "https", "http"]))
def test_url_password_redacted(pw, scheme):
    text = f"cannot connect to {scheme}://alice:{pw}@db.example:5432/audit?sslmode=require: refused"
    out = redact(text)
    assert pw not in out
    assert f"{scheme}://alice:***@db.example:5432/audit?sslmode=require: refused" in out


@given(_pw.filter(lambda s: "'" not in s))
def test_dsn_keyword_password_redacted(pw):
    for text in (f"host=db user=alice password={pw} dbname=audit", f"host=db password = '{pw} x' user=a",
                 f"postgresql://db/audit?user=alice&password={pw}&sslmode=require"):
        out = redact(text)
        assert pw not in out and "***" in out and "host=db" in out or "postgresql://db/audit" in out


def test_text_without_secrets_is_unchanged():
    for text in ("https://es:9200/_bulk", "a = b", "user=alice host=db", "key=value&other=x"):
        assert redact(text) == text


def _record(msg, **extra):
    rec = logging.LogRecord("shipper.x", logging.ERROR, __file__, 1, msg, (), None)
    rec.__dict__.update(extra)
    return rec


def test_log_lines_redacted():
    rec = _record("cannot connect to postgresql://u:hunter2@db/x", error="password=hunter2 host=db")
    for fmt in (LogfmtFormatter(), JsonFormatter()):
        line = fmt.format(rec)
        assert "hunter2" not in line and "***" in line, line


def _cli(*args, **env):
    return subprocess.run([sys.executable, "-m", "shipper.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, cwd=str(REPO), timeout=120)


def test_config_error_and_check_hide_passwords(tmp_path):
    (tmp_path / "a.log").write_text("")
    cfg = tmp_path / "shipper.yaml"
    # A dsn with its password and one wrong character (an unterminated quote).
    cfg.write_text(f"state_dir: {tmp_path}/state\n"
                   "sources:\n"
                   "  - {name: pg, type: postgres, parser: json, dsn: \"host=db password=Sup3rSecret dbname='x\"}\n"
                   "outputs:\n  - {type: stdout}\n")
    r = _cli("check", "-c", str(cfg))
    assert r.returncode == 2
    assert "Sup3rSecret" not in r.stdout + r.stderr and "dsn" in r.stderr, r.stderr
    cfg.write_text(f"state_dir: {tmp_path}/state\n"
                   f"sources:\n  - {{name: a, type: file, parser: json, paths: [{tmp_path}/a.log]}}\n"
                   "outputs:\n  - {type: elasticsearch, hosts: [\"https://elastic:Ch4ngeMe@127.0.0.1:9200\"]}\n")
    r = _cli("check", "-c", str(cfg))
    assert "Ch4ngeMe" not in r.stdout + r.stderr, r.stdout + r.stderr
    assert "elastic:***@127.0.0.1:9200" in r.stdout + r.stderr


def test_readable_secret_file_warned_once(tmp_path, caplog):
    f = tmp_path / "pw"
    f.write_text("s3cret\n")
    os.chmod(f, 0o600)
    with caplog.at_level(logging.WARNING, logger="shipper.secrets"):
        assert read_secret(str(f), None, "password") == "s3cret"
        assert not caplog.records
        os.chmod(f, 0o644)
        read_secret(str(f), None, "password")
        read_secret(str(f), None, "password")
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 1 and str(f) in warned[0] and "readable by everyone" in warned[0] and "0644" in warned[0]
    assert "s3cret" not in warned[0]


def test_sd_notify_status_redacted_and_one_line(tmp_path, monkeypatch):
    import socket

    from shipper.notify import Notifier

    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(10)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    try:
        n = Notifier()
        n.status("reload refused: c.yaml:3: dsn: bad (got 'host=db password=hunter2')\nREADY=1")
        msg = sock.recv(65536).decode()
    finally:
        sock.close()
    assert "hunter2" not in msg and "password=***" in msg
    assert msg.count("\n") == 0 and not msg.startswith("READY=1"), msg  # the newline cannot add an assignment


def test_a_secret_file_that_is_a_pipe_is_read_or_refused_never_waited_on(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(SecretError, match="no writer"):  # a named FIFO nobody writes to: at once
        read_secret(str(fifo), None, "test key")
    r, w = os.pipe()
    try:
        os.write(w, b"s3cret-from-a-pipe\n")  # what the writer wrote, read up to EOF when it closes
        os.close(w)
        w = -1
        assert read_secret(f"/proc/self/fd/{r}", None, "test key") == "s3cret-from-a-pipe"
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)
    r, w = os.pipe()
    try:  # a writer that holds the pipe open and never writes: refused after the bounded wait
        with pytest.raises(SecretError, match="sent nothing within"):
            read_secret(f"/proc/self/fd/{r}", None, "test key", wait=0.3)
    finally:
        os.close(r)
        os.close(w)
