"""An agent whose output or journal goes to a reader that stops reading (a pipe, `| less` at the end of its screen, a
terminal suspended with Ctrl-S), as the attack28 tests of the journal and stdout set it up: a log of numbered lines the
agent follows to stdout, the pipe's unread bytes, and the pipe filled until the agent's writes wait."""
from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import signal
import subprocess
import termios
import time
import tty
from pathlib import Path

from tests import journal_sinks
from tests.journal_sinks import SHIPPER, numbered
from tests.support import read_steady, wait

SHIPPED = b'{"n":'  # how each shipped line of numbered() begins on stdout


def followed_log(tmp_path: Path, lines: int = 100, **settings: object) -> tuple[Path, Path]:
    """journal_sinks.followed_log, shutdown_timeout 5 unless `settings` say otherwise: (cfg, the log)."""
    return journal_sinks.followed_log(tmp_path, lines, **{"shutdown_timeout": 5, **settings})


def unread(fd: int) -> int:
    """Bytes in the pipe not read yet (FIONREAD on its read end; on a pty's master side, those the terminal holds)."""
    return int.from_bytes(fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"), "little")


def read_shipped(fd: int, lines: int, timeout: float = 60.0) -> bytes:
    """What the pipe gives (blocking reads) until it holds `lines` shipped lines, or timeout seconds pass."""
    got = b""
    end = time.monotonic() + timeout
    while got.count(SHIPPED) < lines and time.monotonic() < end:
        got += os.read(fd, 65536)
    return got


def fill_the_pipe(fd: int, log: Path, timeout: float = 60.0) -> None:
    """Appends lines 100-4999 to the log until the pipe whose read end is fd is full (64 KiB, less the room no whole
    line fits in): the agent's next write into it waits."""
    with open(log, "a") as f:
        f.write(numbered(100, 5000))
    assert read_steady(lambda: unread(fd), lambda n: n > 50_000, timeout) > 50_000, "the pipe did not fill"


def ships_on_then_stops(agent: subprocess.Popen, log: Path, out: Path) -> tuple[bool, bool]:
    """Appends lines 100-199 to the log (its first 100 shipped to `out`): were all 200 shipped within 20 s; then a
    SIGTERM: did the agent end within 30 s. (The agent is killed by the caller's clean-up if it did not.)"""
    with open(log, "a") as f:
        f.write(numbered(100, 200))
    shipped = wait(lambda: out.read_bytes().count(b"\n") >= 200, 20)
    agent.send_signal(signal.SIGTERM)
    return shipped, wait(lambda: agent.poll() is not None, 30)


def written_again(cfg: Path, out: Path) -> bytes:
    """The next start's `run --once`, its stdout into the file `out`: what it wrote (it must exit 0)."""
    with open(out, "wb") as o:
        done = subprocess.run([SHIPPER, "run", "--once", "-c", str(cfg)], stdout=o, stderr=subprocess.PIPE,
                              timeout=120)
    assert done.returncode == 0, done.stderr.decode()[-800:]
    return out.read_bytes()


def shipped_numbers(data: bytes) -> list[int]:
    """The numbers of the whole shipped lines in data (a read may end inside a line; a terminal may add \r)."""
    whole = data[:data.rfind(b"\n") + 1].replace(b"\r", b"")
    return [json.loads(line)["generic"]["n"] for line in whole.splitlines() if line.strip().startswith(b"{")]


def on_a_terminal(cfg: Path, err: Path, controlling: bool = True) -> tuple[subprocess.Popen, int]:
    """`shipper run` with its stdout on a new pty's raw slave side (its controlling terminal unless `controlling` is
    False: then a session without one) and its stderr into the file err: (the agent, the pty's master side)."""
    master, slave = pty.openpty()
    tty.setraw(slave)
    name = os.ttyname(slave)

    def take_the_terminal() -> None:  # in the child, after setsid: a session leader opening a tty gets it
        os.close(os.open(name, os.O_RDWR))

    with open(err, "wb") as e:
        agent = subprocess.Popen([SHIPPER, "run", "-c", str(cfg)], stdout=slave, stderr=e, start_new_session=True,
                                 preexec_fn=take_the_terminal if controlling else None)
    os.close(slave)
    return agent, master


def read_terminal(master: int, lines: int, timeout: float = 60.0) -> bytes:
    """What the terminal gives until it holds `lines` shipped lines, or timeout seconds pass."""
    got = b""
    end = time.monotonic() + timeout
    while len(shipped_numbers(got)) < lines and time.monotonic() < end:
        if select.select([master], [], [], 0.1)[0]:
            got += os.read(master, 65536)
    return got
