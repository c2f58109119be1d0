"""Secrets of outputs and sources (passwords, keys, tokens): from a file or an environment variable,
never from the config itself and never into a log line.

`redact` is the one place that hides a password someone wrote into a connection string anyway: the
user-info of a URL (`https://user:pw@host`) and the `password=` of a libpq key/value dsn (or the
`?password=` of a URL's query). Every way out of the agent (log lines, config errors, `check`,
`status`, /status, sd_notify STATUS=) passes its text through it.
"""
from __future__ import annotations

import logging
import os
import re
import select
import stat
import time
from typing import Any

log = logging.getLogger("shipper.secrets")

MASK = "***"

# scheme://user:password@  (the password is anything up to the last @ before the host part; a
# careless password may hold a space, a tab or a newline, and the URL is then printed with it)
_URL_USERINFO = re.compile(r"(?P<pre>\b[A-Za-z][A-Za-z0-9+.\-]*://[^:/?#@\r\n'\"]*:)(?P<pw>[^/?#]*)(?=@)")
# password=secret, password = 'se cret', ?password=secret&… (libpq dsn keywords and URL query keys)
_KEYWORD = re.compile(r"(?P<pre>\b(?:password|passwd|pwd|sslpassword|api_key|apikey|token|secret)\s*=\s*)"
                      r"(?P<pw>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|[^\s&;,]+)", re.IGNORECASE)


class SecretError(ValueError):
    """A secret cannot be read (a missing or unreadable file, an empty one, a FIFO with no writer): the
    message says what and where, never the secret."""


def redact(text: str) -> str:
    """`text` with every password inside a URL or a dsn replaced by ***."""
    if not isinstance(text, str) or ("@" not in text and "=" not in text):
        return text
    text = _URL_USERINFO.sub(lambda m: m["pre"] + MASK, text)
    return _KEYWORD.sub(lambda m: m["pre"] + MASK, text)


def redact_obj(value: Any) -> Any:
    """redact() applied to every string inside a JSON-like value (dicts, lists)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_obj(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_obj(v) for v in value]
    return value


_warned: set[tuple[str, int, int]] = set()


def check_permissions(path: str, st: os.stat_result, what: str) -> None:
    """Warn (once per file and mode) when a secret file can be read by others, or by a group that is
    not the agent's own (root:shipper 0640 is the intended setup and stays quiet)."""
    mode = stat.S_IMODE(st.st_mode)
    others = mode & stat.S_IROTH
    foreign_group = mode & stat.S_IRGRP and st.st_gid not in {os.getegid(), *os.getgroups()}
    if not (others or foreign_group):
        return
    key = (path, st.st_ino, mode)
    if key in _warned:
        return
    _warned.add(key)
    who = "everyone" if others else "group " + _group_name(st.st_gid)
    log.warning(f"{what} file {path} is readable by {who} (mode {mode:04o}): chmod 0600 it (or 0640 with the "
                f"agent's group)", extra={"file": path, "mode": f"{mode:04o}"})


def _group_name(gid: int) -> str:
    try:
        import grp

        return grp.getgrgid(gid).gr_name
    except (KeyError, ImportError):
        return str(gid)


# A secret may come through a pipe (`--key-file <(gpg -d key.gpg)`): its writer gets this long to
# write it. A FIFO with no writer is refused at once (EOF, nothing read), never waited on.
PIPE_WAIT = 15.0
MAX_SECRET = 1 << 20  # a key or password is short; /dev/zero named by mistake is not read forever


def read_secret(file: str | None, env: str | None, what: str, wait: float = PIPE_WAIT) -> str | None:
    """A secret from `file` (its first line, trimmed) or else the environment variable `env`; None when
    neither is given. Never logged. A file others may read is warned about (once). Raises SecretError
    saying what is wrong (`what` names the secret: "token", "password"), never the secret: a file
    missing, unreadable, empty, not UTF-8 or over 1 MiB, a folder, a FIFO with no writer (at once, not
    waited on), or a pipe whose writer sent nothing within `wait` seconds; an `env` not set or empty."""
    if file:
        try:
            value = _read_bounded(file, what, wait).decode("utf-8").strip()
        except OSError as e:
            raise SecretError(f"cannot read {what} file {file}: {e.strerror}") from None
        except UnicodeDecodeError:
            raise SecretError(f"{what} file {file} is not UTF-8 text") from None
        if not value:
            raise SecretError(f"{what} file {file} is empty")
        return value
    if env:
        value = os.environ.get(env, "").strip()
        if not value:
            raise SecretError(f"environment variable {env} ({what}) is not set")
        return value
    return None


def _read_bounded(file: str, what: str, wait: float) -> bytes:
    """The bytes of a secret file without ever blocking past `wait`: opened O_NONBLOCK (opening a
    FIFO nobody writes to would wait forever: check, start, a reload, verify), then read until EOF.
    A pipe with no writer reads EOF at once; one whose writer has not written yet is polled."""
    fd = os.open(file, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        check_permissions(file, st, what)
        deadline = time.monotonic() + wait
        data = bytearray()
        while True:
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:  # a writer is there and has not written (all) yet
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SecretError(f"{what} file {file}: its writer sent nothing within {wait:g} s (a pipe "
                                      f"held open): refused") from None
                poller = select.poll()  # poll, not select: the agent's fds may be past 1024
                poller.register(fd, select.POLLIN)
                poller.poll(left * 1000)
                continue
            if not chunk:
                break
            data += chunk
            if len(data) > MAX_SECRET:
                raise SecretError(f"{what} file {file} is over {MAX_SECRET} bytes: refused")
        if not data and stat.S_ISFIFO(st.st_mode):
            raise SecretError(f"{what} file {file} is a FIFO or pipe with nothing written to it (no writer): "
                              f"refused, not waited on")
        return bytes(data)
    finally:
        os.close(fd)
