"""Where the agent's journal can go when standard error cannot take it, as the tests of shipper/journal_syslog.py
set them up: a syslog daemon's datagram socket the test binds (the agent is pointed at it with SHIPPER_SYSLOG_SOCKET),
and the kernel's log — a file bind-mounted over /dev/kmsg in a mount namespace of the agent's own (unshare), so the
host's log is never written."""
from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

SHIPPER = str(Path(sys.executable).with_name("shipper"))


def numbered(lo: int, hi: int) -> str:
    """JSON lines {"n": lo} … {"n": hi - 1}."""
    return "".join(json.dumps({"n": i}) + "\n" for i in range(lo, hi))


def folder_config(tmp_path: Path, logs: Path, **settings: object) -> Path:
    """An agent that follows logs/*.log (JSON lines) to stdout, polling often."""
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(json.dumps({"state_dir": str(tmp_path / "state"), **settings,
                               "sources": [{"name": "app", "type": "file", "paths": [str(logs / "*.log")],
                                            "parser": "json", "poll_interval": 0.2}],
                               "outputs": [{"type": "stdout"}]}))
    return cfg


def followed_log(tmp_path: Path, lines: int, **settings: object) -> tuple[Path, Path]:
    """logs/a.log of `lines` numbered JSON lines and an agent following its folder to stdout (folder_config with
    `settings`): (cfg, the log)."""
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "a.log"
    log.write_text(numbered(0, lines))
    return folder_config(tmp_path, logs, **settings), log


def bound_syslog(path: Path) -> socket.socket:
    """A syslog daemon's datagram socket, with room for every line a test makes the agent say."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.setblocking(False)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    return sock


def received(sock: socket.socket) -> list[str]:
    """Every datagram waiting on the socket, one string each."""
    sock.setblocking(False)
    got = []
    while True:
        try:
            got.append(sock.recv(65536).decode(errors="replace"))
        except BlockingIOError:
            return got


def stderr_closed(argv: list[str]) -> list[str]:
    """argv run with its standard error closed (`2>&-`)."""
    return ["sh", "-c", 'exec "$@" 2>&-', "sh", *argv]


def own_kmsg(kmsg: Path, argv: list[str], *, close_stderr: bool = False) -> list[str]:
    """argv run in a mount namespace of its own whose /dev/kmsg is the file kmsg (made empty here)."""
    kmsg.write_text("")
    script = 'mount --bind "$0" /dev/kmsg && exec "$@"' + (" 2>&-" if close_stderr else "")
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, str(kmsg), *argv]
