"""Imported only in the parse workers' forkserver (parse_workers: set_forkserver_preload), never by the agent: what
would end it with a raw traceback on the agent's stderr is one log line, or nothing when the agent says it already.

A worker's start is a conversation: the agent connects to the forkserver, makes two pipes and sends their ends. Out
of descriptors (EMFILE at a pipe, the soft limit reached), the agent breaks it off after the connect, and the
forkserver's recvfds met the closed connection as an EOFError that ended the forkserver with a traceback (exam23d:
7 sources with parse_workers 2 under nofile=64), and the next starts met its socket gone ("Connection refused"). The
agent names that failure itself, with the limit (parse_workers: "cannot start parse workers"); the forkserver takes
the broken-off start as the aborted connection its loop already passes over (ECONNABORTED), and goes on serving."""
from __future__ import annotations

import errno
import resource
import sys
from multiprocessing import reduction
from types import TracebackType
from typing import Any


def _recvfds_or_aborted(recvfds: Any) -> Any:
    def recv(sock: Any, size: int) -> list[int]:
        try:
            return recvfds(sock, size)
        except EOFError:  # the client closed before sending: a start broken off by the agent
            raise ConnectionAbortedError(errno.ECONNABORTED, "a parse worker's start broken off by the agent") from None
    return recv


def _one_line(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
    """What ends the forkserver, or a worker forked from it before it runs: one line in the agent's log format."""
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    why = f"{kind.__name__}: {value}".replace('"', "'").replace("\n", " ")
    sys.stderr.write(f'level=error logger=shipper.parse_workers msg="a parse worker process ended: {why} (the soft '
                     f'descriptor limit is {soft}: raise LimitNOFILE if the agent says it is out of descriptors, see '
                     'docs/operations.md); the agent parses in its own threads what no worker takes"\n')
    sys.stderr.flush()


reduction.recvfds = _recvfds_or_aborted(reduction.recvfds)
sys.excepthook = _one_line
