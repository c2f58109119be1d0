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
import stat
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
    pass


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


def read_secret(file: str | None, env: str | None, what: str) -> str | None:
    """A secret from a file (first line, trimmed) or an environment variable; never logged."""
    if file:
        try:
            with open(file, encoding="utf-8") as f:
                check_permissions(file, os.fstat(f.fileno()), what)
                value = f.read().strip()
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
