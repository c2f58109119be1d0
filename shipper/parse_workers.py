"""A source's `parse_workers`: parse, enrich and serialise its batches in worker processes.

The source thread hands each raw batch to a worker process and goes on reading; one collector
thread per source takes the results back in read order and hands them to the runner, which
registers them with the source's AckTracker and routes them to the outputs exactly as an
in-thread batch. Registration happens in read order, so checkpoints still move in order, and
nothing is registered before it is parsed: a batch whose worker died is simply parsed again by a
fresh worker, never acknowledged twice, never skipped.

The worker runs the same EventBuilder.enrich as the in-thread path and returns the events already
serialised (NDJSON), their id parts and index keys: the main process never decodes them unless an
output asks for dicts (Fluentd's msgpack).

Why not concurrent.futures.ProcessPoolExecutor (tried first): its workers share one result pipe.
A worker killed (OOM killer, SIGKILL) while writing its ~1 MB result leaves half a message in it,
and the executor's manager thread then waits in recv() forever — the agent hangs (seen here with
a kill -9 test). Here each worker has its own pipe: a worker dying mid-message is an EOF on its
pipe only, and its batches go to a fresh worker. Processes come from the forkserver start method
because the agent has threads (fork would copy their locks mid-use).
"""
from __future__ import annotations

import contextlib
import errno
import itertools
import logging
import multiprocessing
import os
import pickle
import queue
import resource
import select
import signal
import socket
import struct
import sys
import threading
import time
from collections import deque
from multiprocessing.reduction import ForkingPickler
from typing import Callable, Iterator

import orjson

from shipper.env_seconds import env_seconds
from shipper.events import EVERY_RECORD, EventBuilder, EventSettings
from shipper.parser import Parser, ParserOptions, RawBatch
from shipper.source_waits import held_a_while

log = logging.getLogger("shipper.parse_workers")

# Held while a worker starts. A start is a conversation with multiprocessing's forkserver, which launches a new
# forkserver when it finds none: end_helpers, stopping the forkserver while a pool's starter (slow on a loaded
# host) was in one, left a worker starting, or a new forkserver printing a traceback as the agent exited.
_starting = threading.Lock()

MAX_ATTEMPTS = 3  # a batch whose workers died this many times is parsed in the collector's thread
# Seconds the worker holding the head batch may return nothing while using no CPU at all before it is taken
# for stopped (SIGSTOP, a cgroup freezer, a debugger) and killed, its batches parsed again: a worker merely
# slow (a loaded host) still uses CPU, and one that uses none for this long would wedge its source for good.
# SHIPPER_PARSE_STALL_SECONDS changes it (docs/operations.md; the tests that stop a worker wait less).
STALLED_AFTER = 20.0
_TICKS_A_SECOND = os.sysconf("SC_CLK_TCK")  # the unit of /proc/PID/stat's CPU times
_IOV_MAX = os.sysconf("SC_IOV_MAX")  # buffers a writev takes at most (1,024 on Linux)


def _why_not(e: BaseException) -> str:
    """What a failed worker start says of its cause when it is the descriptor limit (each worker keeps a few descriptors
    in the agent, and its start a few more for a moment), "" otherwise."""
    if not isinstance(e, OSError) or e.errno not in (errno.EMFILE, errno.ENFILE):
        return ""
    if e.errno == errno.ENFILE:
        return ": the system is out of open files (raise fs.file-max, or set fewer `parse_workers`)"
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return (f": the agent is out of file descriptors (its soft limit, {soft}, is reached: raise LimitNOFILE, or set "
            "fewer `parse_workers`, see docs/operations.md)")


def stalled_after() -> float:
    return env_seconds("SHIPPER_PARSE_STALL_SECONDS", STALLED_AFTER)

# (NDJSON of the events, event count, id parts, index key per event or None, parse failures, unmapped actions)
Parsed = tuple[bytes, int, list, list | None, int, int]

# --- in the worker process ---------------------------------------------------------------------


def _worker_main(conn, settings: EventSettings, parser_cls: type[Parser], parser_options: ParserOptions,
                 host_name: str) -> None:
    import gc

    from shipper import address_space

    # A Ctrl-C reaches the whole process group; it is for the agent, which ends its workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:  # what top and `ps -C` show (at most 15 bytes), instead of a second "python3"
        with open("/proc/self/comm", "w") as f:
            f.write("shipper-parse")
    except OSError:
        pass
    address_space.fit()  # the limit, if any, is the agent's (inherited)
    builder = EventBuilder(settings, parser_cls(parser_options), host_name)
    # As in the main process (shipper.runner): events are short-lived dicts, reference counting
    # frees them; the cyclic GC rescanning them at default thresholds costs ~20 %.
    gc.freeze()
    gc.set_threshold(100_000, 50, 1000)
    while True:
        try:
            msg = ForkingPickler.loads(_read_frame(conn.fileno()))
        except (EOFError, OSError):
            return  # the agent is gone (its end of the pipe closed): nothing left to parse for
        if msg is None:
            return
        batch_id, records, flags, meta, with_keys, unparsed = msg
        raw = RawBatch(records, (), {}, 0, meta, flags)
        try:
            if unparsed is None:
                chunks, *rest = serialise_chunks(builder, raw, with_keys)
            else:
                chunks, *rest = serialise_chunks(builder, raw, with_keys, 1, _watch(conn.fileno(), batch_id, unparsed))
            sent = _result_frames((batch_id, (None, *rest), None), chunks)
        except Exception as e:  # not a parser error (those are _parse_failure events): the agent decides
            sent = _result_frames((batch_id, None, f"{type(e).__name__}: {e}"))
        try:
            _write_all(conn.fileno(), sent)
        except OSError:
            return


def _watch(fd: int, batch_id: int, unparsed: tuple[int, ...]) -> Callable[[int], str | None]:
    """For a batch that was in a worker that died: before each record's parse, the record's index sent to the agent
    (a progress frame: the batch's id, no result, the index), so that a death names the record it was parsing; the
    records in `unparsed` (each named so twice) shipped unparsed, flagged, instead of killing a third worker."""
    def before(i: int) -> str | None:
        if i in unparsed:
            return UNPARSED
        _write_all(fd, _result_frames((batch_id, None, i)))
        return None
    return before


def _read_frame(fd: int) -> bytes:
    """A message the agent sent (Connection.send's framing), read whole: as multiprocessing's recv() does, less its
    copy of the message into a BytesIO (a batch's records, ~0.3 MB: bench/README.md, session 29)."""
    (size,) = struct.unpack("!i", _read_exactly(fd, 4))
    if size == -1:
        (size,) = struct.unpack("!Q", _read_exactly(fd, 8))
    return _read_exactly(fd, size)


def _read_exactly(fd: int, n: int) -> bytes:
    """n bytes of fd: in one read when they are all there (the agent writes a message at once); EOFError at its end."""
    data = os.read(fd, n)
    if len(data) == n:
        return data
    parts = [data]
    got = len(data)
    while data and got < n:
        data = os.read(fd, n - got)
        parts.append(data)
        got += len(data)
    if got < n:
        raise EOFError
    return b"".join(parts)


def _frame_size(n: int) -> bytes:
    """multiprocessing's framing of a message of n bytes (Connection._send_bytes), which the collector reads."""
    return struct.pack("!i", n) if n <= 0x7FFFFFFF else struct.pack("!iQ", -1, n)


def _result_frames(out: tuple, chunks: list[bytes] | None = None) -> list:
    """What a worker sends for a batch: (batch, its result or None, why it failed or None) pickled, its result's lines
    None; then, when it has a result, those lines as a frame of their own, written from the chunks serialise made:
    joined into one bytes and pickled, each batch's lines (~0.7-3 MB) were copied twice more in the worker
    (bench/README.md, session 29). The collector puts them back in the result (_Frames)."""
    head = ForkingPickler.dumps(out)
    frames = [_frame_size(len(head)), head]
    if chunks is not None:
        frames += [_frame_size(sum(map(len, chunks))), *chunks]
    return frames


def _write_all(fd: int, buffers: list) -> None:
    """Write every buffer, in order, in as few system calls as the kernel takes (a write may end short: a signal, a
    socket buffer smaller than the message)."""
    views = [memoryview(b) for b in buffers]
    at = 0
    while at < len(views):
        n = os.writev(fd, views[at:at + _IOV_MAX])
        while at < len(views) and n >= len(views[at]):
            n -= len(views[at])
            at += 1
        if n:
            views[at] = views[at][n:]


# Records parsed, serialised and freed together. A batch's events all built before the first is written (a
# thousand records: megabytes of dicts) leave the CPU's caches before they are written and freed: per chunk
# they are still in them, ~25 % less CPU a record (bench/README.md, session 8).
CHUNK = 64
# What a record whose parse ended two parse workers is shipped with, flagged (its text kept).
UNPARSED = ("not parsed: its parse ended the parse worker process twice (a parser that crashes its process on it, "
            "never finishes it, or is killed for the memory it takes): shipped unparsed")
_NDJSON = orjson.OPT_APPEND_NEWLINE


def serialise(builder, raw: RawBatch, with_keys: bool = True) -> Parsed:
    """EventBuilder.enrich, then each event as its NDJSON line and (`with_keys`, else None) index key; CHUNK
    records at a time."""
    chunks, n, id_parts, keys, failures, unmapped = serialise_chunks(builder, raw, with_keys)
    return b"".join(chunks), n, id_parts, keys, failures, unmapped


def serialise_chunks(builder, raw: RawBatch, with_keys: bool = True, chunk: int = CHUNK,
                     before: Callable[[int], str | None] | None = None) -> tuple[list[bytes], int, list,
                                                                                 list | None, int, int]:
    """serialise, the lines left in the pieces they were made in (a worker writes them as they are). `before(start)`,
    before each piece's parse: None, or why the piece is shipped unparsed (EventBuilder.enrich's `unparsed`)."""
    from shipper.address_space import room_for
    from shipper.parser import index_key, serialize_event

    dumps = orjson.dumps
    chunks: list[bytes] = []
    id_parts: list = []
    keys: list[tuple] | None = [] if with_keys else None
    failures = unmapped = 0
    for start in range(0, len(raw.records), chunk):
        stop = start + chunk
        unparsed = None if before is None else before(start)
        room_for(raw.records, start, stop)  # under an address-space limit only (orjson: a SIGSEGV, no MemoryError)
        events, parts, f, u = builder.enrich(raw, False, start, stop, unparsed)
        try:  # serialize_event's very call (shipper.parser), without a Python call per event
            chunks.append(b"".join([dumps(ev, option=_NDJSON, default=str) for ev in events]))
        except orjson.JSONEncodeError:  # an event orjson does not write (too deep, an integer past 64 bits): again,
            events, parts, f, u = builder.enrich(raw, EVERY_RECORD, start, stop, unparsed)  # such records flagged
            chunks.append(b"".join([serialize_event(ev) for ev in events]))
        if len(id_parts) != start and None in parts:
            # A None part names the only event of the record whose index in the batch is the event's (LazyIds,
            # enrich gives them for a chunk whose records gave one each): the earlier records gave more or
            # fewer, so these records are named outright.
            parts = [(i, 0) if part is None else part for i, part in enumerate(parts, start)]
        id_parts += parts
        failures += f
        unmapped += u
        if keys is not None:  # ~40 % of what the dumps cost: only for outputs that name an index by the event
            keys += map(index_key, events)  # (an output wanting them decodes the lines)
    if keys is not None:  # equal keys as one object: pickle sends a repeated object as a reference
        seen: dict[tuple, tuple] = {}
        keys = [seen.setdefault(k, k) for k in keys]
    return chunks, len(id_parts), id_parts, keys, failures, unmapped


# --- in the agent ------------------------------------------------------------------------------


# What either end of a worker's socket pair may have sent and the other not read yet. Linux gives a socket ~208 KiB
# by default, and a batch's result (0.8-3 MB at 1,000 records) went through in four pieces or more, each a wait of
# the worker in write() (it parsed nothing meanwhile) and a wake of the collector. Room for a whole message lets a
# worker go on to its next batch at once (Datameer 400 k, the default: ~2-5 % less wall, bench/README.md, session 27).
# The kernel caps it at twice net.core.wmem_max (~416 KiB on a default kernel: room for a batch's records at least).
# SHIPPER_PARSE_SOCKET_BUFFER changes it (bytes; 0: the kernel's default, as before session 27: a test stops a worker
# inside a write of its result).
SOCKET_SEND_BUFFER = 4 << 20
READ_SIZE = 1 << 20  # what the collector reads of a worker's results at once, at most


def socket_send_buffer() -> int:
    raw = os.environ.get("SHIPPER_PARSE_SOCKET_BUFFER")
    try:
        return SOCKET_SEND_BUFFER if raw is None else max(0, int(raw))
    except ValueError:
        log.warning(f"SHIPPER_PARSE_SOCKET_BUFFER={raw!r} is not a number of bytes: {SOCKET_SEND_BUFFER} is used",
                    extra={"variable": "SHIPPER_PARSE_SOCKET_BUFFER"})
        return SOCKET_SEND_BUFFER


def _room_for_a_message(conn, size: int) -> None:
    """SO_SNDBUF of a connection's socket (multiprocessing's Pipe has no say in it), through a second descriptor of the
    same socket, closed at once. Not possible (out of descriptors): the worker runs with the default."""
    if not size:
        return
    try:
        fd = os.dup(conn.fileno())
    except OSError:
        return
    try:
        sock = socket.socket(fileno=fd)
    except OSError:
        os.close(fd)
        return
    with sock:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)
        except OSError:
            pass


def _start_deaf_to_the_terminal(proc: multiprocessing.process.BaseProcess) -> None:
    """Start a worker with SIGINT blocked. A terminal's Ctrl-C goes to its whole foreground process group, which holds
    the workers and their forkserver; the agent stops them itself. Taken while the forkserver imported the agent, it
    ended it ('cannot start parse workers … EOFError'), and in a worker before _worker_main ignores it, a
    KeyboardInterrupt traceback. A blocked signal stays blocked across fork and exec: the forkserver (launched by the
    first start, from this thread) has it blocked from its first instruction, and every worker it forks too. (The
    resource tracker blocks it itself, and unblocks it in the thread that started it: so it is started first.) Only
    this thread's mask, for the start: the agent's main thread takes the Ctrl-C."""
    from multiprocessing import resource_tracker

    with _working_directory_off_the_path():
        resource_tracker.ensure_running()
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            proc.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


@contextlib.contextmanager
def _working_directory_off_the_path() -> Iterator[None]:
    """PYTHONSAFEPATH while a start may launch the forkserver or the resource tracker. multiprocessing launches both as
    `python -c …`, whose sys.path begins with the working directory: a bisect.py in the folder an operator ran `shipper
    run --once` from ran inside them, as the agent's user (exam30a; root running it from a folder another user writes
    runs that user's code as root). multiprocessing takes no environment of the launch's own, so the agent's is set
    for the start only (under _starting; a worker forked later inherits nothing of it): set for the agent's life, it
    would reach every Python program a plugin starts, dropping its script's folder from its path too."""
    before = os.environ.get("PYTHONSAFEPATH")
    os.environ["PYTHONSAFEPATH"] = "1"
    try:
        yield
    finally:
        if before is None:
            del os.environ["PYTHONSAFEPATH"]
        else:
            os.environ["PYTHONSAFEPATH"] = before


class _Frames:
    """What a worker sent of its results, read into one buffer kept for it and unpickled where it lies. The framing is
    multiprocessing's (Connection._send_bytes): a 4-byte signed size, or -1 and an 8-byte size, then the pickle.
    A read goes on where the last one stopped, so a result that comes in pieces (~40 % of them: the worker writes its
    size first) is copied once, by the kernel: a fresh 1 MiB bytes a read, and each piece of a result appended to a
    bytearray, copied it again and touched new memory each time (bench/README.md, session 29)."""

    def __init__(self) -> None:
        self._buf = bytearray(READ_SIZE)
        self._got = 0  # bytes read into _buf and not unpickled yet, from its start: a result begun
        self._head: tuple | None = None  # a result read but its lines, which come next

    def begun(self) -> int:
        """Bytes of a result read and not complete yet (its lines to come: 1 at least)."""
        return self._got or int(self._head is not None)

    def read(self, fd: int) -> list | None:
        """One read of `fd` (what it holds, as much as the buffer has room for), then the results it completed, in
        order; None at its end."""
        buf, got = self._buf, self._got
        frame = self._frame(0, got)
        if frame is not None and frame[1] > len(buf):  # a result larger than the buffer: room for all of it
            buf.extend(bytes(frame[1] - len(buf)))
        with memoryview(buf) as view:
            try:
                n = os.readv(fd, [view[got:]])
            except OSError:
                return None
            if not n:
                return None
            got += n
            done = []
            at = 0
            while (frame := self._frame(at, got)) is not None and frame[1] <= got:
                if self._head is not None:  # the lines of the result before (_result_frames)
                    batch_id, parsed, error = self._head
                    done.append((batch_id, (bytes(view[frame[0]:frame[1]]), *parsed[1:]), error))
                    self._head = None
                else:
                    out = ForkingPickler.loads(view[frame[0]:frame[1]])
                    if out[1] is not None and out[1][0] is None:
                        self._head = out  # its lines come as the next frame
                    else:
                        done.append(out)
                at = frame[1]
            if at and at < got:  # a result begun after those: moved to the start (the part of it read)
                view[:got - at] = view[at:got]
        self._got = got - at
        if not self._got and len(buf) > READ_SIZE:
            del buf[READ_SIZE:]  # (what a large result took goes back)
        return done

    def _frame(self, at: int, got: int) -> tuple[int, int] | None:
        """Where the pickle of the result framed at `at` starts and ends (the end may be past `got`, what was read);
        None while its size is not all read."""
        buf = self._buf
        if got - at < 4:
            return None
        (size,) = struct.unpack_from("!i", buf, at)
        if size != -1:
            return at + 4, at + 4 + size
        if got - at < 12:
            return None
        (size,) = struct.unpack_from("!Q", buf, at + 4)
        return at + 12, at + 12 + size


class _Readable:
    """The workers whose pipes have something to read (a result, or their end), by one poll object kept while
    their pipes stay the same: multiprocessing.connection.wait made a selector, registered each pipe in it and
    closed it again at every call (~1.3 a batch)."""

    def __init__(self) -> None:
        self._fds: list[int] = []
        self._poll = select.poll()

    def among(self, workers: list[_Worker], timeout: float) -> list[_Worker]:
        fds = [w.conn.fileno() for w in workers]  # (OSError for a pipe closed meanwhile, as wait() raised)
        if fds != self._fds:
            self._poll = select.poll()
            for fd in fds:
                self._poll.register(fd, select.POLLIN)  # (a hang-up or an error is reported too: a pipe's end)
            self._fds = fds
        ready = {fd for fd, _ in self._poll.poll(timeout * 1000)}
        return [w for w, fd in zip(workers, fds) if fd in ready]


class _Worker:
    """One worker process, its pipe, and a thread sending it batches: sends never block the
    source thread or the collector (a worker busy writing a result reads nothing meanwhile)."""

    def __init__(self, ctx, initargs: tuple, name: str):
        self.conn, child = ctx.Pipe(duplex=True)
        room = socket_send_buffer()
        for end in (self.conn, child):  # the records one way, the result the other
            _room_for_a_message(end, room)
        self.proc = ctx.Process(target=_worker_main, args=(child, *initargs), name=f"shipper-parse-{name}",
                                daemon=True)
        _start_deaf_to_the_terminal(self.proc)
        child.close()  # only the worker holds its end now: its death is an EOF here
        self._in = _Frames()  # what it sent of results not unpickled yet
        self._out: queue.SimpleQueue = queue.SimpleQueue()
        self._sender = threading.Thread(target=self._send_loop, name=f"parse-send-{name}", daemon=True)
        self._sender.start()

    def send(self, msg) -> None:
        self._out.put(msg)

    def results(self) -> list | None:
        """The results it finished sending, read once a wait said its pipe is readable (what is there: no
        wait for more); None at its end (gone). conn.recv() waited for the rest of a result, and a worker a
        cgroup freezer held halfway through sending one (its 1-3 MB come in many pieces) held the collector
        for good: the source stopped, and nothing named the worker."""
        return self._in.read(self.conn.fileno())

    def cpu_ticks(self) -> int | None:
        """The CPU time the process has used (utime + stime, clock ticks), None once it is gone."""
        try:
            after_name = proc_stat(self.proc.pid)
            return int(after_name[11]) + int(after_name[12])
        except (OSError, IndexError, ValueError):
            return None

    def _send_loop(self) -> None:
        while True:
            msg = self._out.get()
            try:
                # Pickled by pickle.dumps, not Connection.send: ForkingPickler pickles into a BytesIO, which copied a
                # batch's records a second time (~0.3 MB: bench/README.md, session 29). A batch holds none of the
                # objects only ForkingPickler reduces (connections, sockets, methods). One write, its size with it.
                pickled = pickle.dumps(msg)
                _write_all(self.conn.fileno(), [_frame_size(len(pickled)), pickled])
            except (OSError, ValueError):
                return  # dead worker or closed pipe: the collector sees it on recv
            if msg is None:
                return

    def close(self, timeout: float) -> None:
        """Asked to end, killed if it has not within a second: it may be blocked writing a result nobody
        reads any more (outputs wedged at a stop; nothing of it was registered, so it is read again),
        and its sender blocked feeding it. The pipe is closed only once the sender is out of send()."""
        self._out.put(None)
        self.proc.join(min(timeout, 1.0))
        if self.proc.is_alive():
            self.proc.kill()  # dead at once; the join waits only for the forkserver's word of it
            self.proc.join(min(timeout, 1.0))
        self._sender.join(timeout)  # a send to a worker that is gone fails at once
        if not self._sender.is_alive():
            self.conn.close()


class _Entry:
    __slots__ = ("id", "raw", "with_keys", "worker", "result", "error", "attempts", "here", "unparsed", "reached",
                 "suspect")

    def __init__(self, batch_id: int, raw: RawBatch, with_keys: bool = True):
        self.id = batch_id
        self.raw = raw
        self.with_keys = with_keys
        self.worker: _Worker | None = None  # None: not sent yet (no worker up yet)
        self.result: Parsed | None = None
        self.error: str | None = None
        self.attempts = 0
        self.here = False  # taken by the collector to parse itself (it came before any worker was up)
        # Once it was in a worker that died: watched (parsed a record at a time, each record's index sent before its
        # parse), the records whose parse ended two workers in it, the one the last worker began, the one before.
        self.unparsed: set[int] | None = None
        self.reached: int | None = None
        self.suspect: int | None = None


class _StallWatch:
    """Whether the worker holding the head batch stopped: it returned nothing and used no CPU for `after`
    seconds (stalled_after()), counted only while the collector itself ran (an agent stopped whole and continued
    later did not see its workers stall); or spins: it used `after` seconds of CPU on the head batch (on its record
    being parsed, once watched) without a result, where a batch takes tens of milliseconds — a parser that never
    returns on a record (a backtracking regular expression, a loop) held the source for good, unnamed (exam30a)."""

    def __init__(self) -> None:
        self.after = stalled_after()
        self._worker: _Worker | None = None
        self._ticks: int | None = None
        self._since = self._looked = 0.0
        self._spin_at: tuple | None = None  # (worker, batch, record) the spin is counted on
        self._spin_from = 0  # the worker's CPU ticks when it began

    def spinning(self, worker: _Worker, entry: _Entry) -> bool:
        ticks = worker.cpu_ticks()
        if ticks is None:
            return False
        at = (worker, entry.id, entry.reached)
        if at != self._spin_at:
            self._spin_at, self._spin_from = at, ticks
        return (ticks - self._spin_from) / _TICKS_A_SECOND > self.after

    def stalled(self, worker: _Worker) -> bool:
        now = time.monotonic()
        ticks = worker.cpu_ticks()
        if ticks is None:
            return False  # gone: its pipe's EOF says so
        if worker is not self._worker or ticks != self._ticks or now - self._looked > 5.0:
            self._worker, self._ticks, self._since = worker, ticks, now
        self._looked = now
        return now - self._since > self.after


class ParsePool:
    """One source's worker processes and the collector thread that delivers their results in order.

    `deliver(raw, parsed)` is called in the collector thread, in read order; it may block
    (outputs full: backpressure reaches submit() through the bounded queue). `parse_here(raw)`
    parses in the calling thread (a batch that keeps killing its workers, or failed in one).

    The workers start in a thread of their own: the first one starts multiprocessing's forkserver,
    which imports the agent (~0.5 s of a core), and the source must not wait for that with a backlog
    in front of it. Until they are up the collector parses the batches at the head of the queue
    itself, in order, as the source's thread would have (and for good if they cannot be started).
    """

    def __init__(self, name: str, workers: int, settings: EventSettings, parser_options: ParserOptions,
                 host_name: str, deliver: Callable[[RawBatch, Parsed], None],
                 parse_here: Callable[[RawBatch], Parsed], abandon: threading.Event,
                 on_error: Callable[[BaseException], None], parser_module: str | None = None,
                 parser_cls: type[Parser] | None = None):
        self.name = name
        # A worker gets these, not the source's config: rebuilding a SourceConfig imported pydantic and the config
        # models into the forkserver (~60 % of the workers' start). The parser class is pickled by its name.
        self._initargs = (settings, parser_cls, parser_options, host_name)
        if parser_module is None and parser_cls is not None:
            parser_module = parser_cls.__module__
        self._deliver = deliver
        self._parse_here = parse_here
        self._abandon = abandon
        self._on_error = on_error
        # Every worker with one batch parsing and one waiting, and one more being delivered; each
        # holds a raw batch and its result (~1-3 MB at 1000 records).
        self.depth = 2 * workers + 1
        self._queue: deque[_Entry] = deque()
        self._cond = threading.Condition()
        self._closing = False
        self.failed = False
        self.restarts = 0
        self._ids = itertools.count()
        self._ctx = multiprocessing.get_context("forkserver")
        # Imported once in the forkserver, so every worker it forks starts with them: what a worker runs (this
        # module and what it imports), and its parser (each worker imported it, ~40 ms). Not shipper.pipeline (outputs, the HTTP
        # endpoint): no worker uses them. The first pool's list is the one used (the forkserver is shared).
        # shipper.forkserver_guard: a start the agent breaks off (out of descriptors) leaves the forkserver serving, and
        # what would end it is one line, not a traceback.
        self._ctx.set_forkserver_preload([__name__, "orjson", "shipper.forkserver_guard",
                                          *([parser_module] if parser_module else []), *_main_run_again()])
        self.workers = workers
        self._workers: list[_Worker] = []  # those up; published by _add_workers once every one it starts is up
        self._names = itertools.count()
        self._stall = _StallWatch()
        self._readable = _Readable()
        self._starters = [threading.Thread(target=self._add_workers, args=(workers,), name=f"parse-start-{name}",
                                           daemon=True)]
        self._starters[0].start()
        self._thread = threading.Thread(target=self._collect, name=f"parse-{name}", daemon=True)
        self._thread.start()

    def _add_workers(self, count: int) -> None:
        """Start `count` workers, then hand them what waits for one. In a thread of its own: a start waits on
        multiprocessing's forkserver (stopped or wedged, for ever), and meanwhile the collector parses the
        batches at the head of the queue itself, as the source's thread would have."""
        started: list[_Worker] = []
        try:
            for _ in range(count):
                # Closed meanwhile (a stop while the forkserver was starting, slow on a loaded host): no more
                # starts, whose wait overran the stop and left a worker starting as the agent ended its helpers.
                with _starting:  # (end_helpers waits for a start in progress, or kills the forkserver it waits on)
                    with self._cond:
                        if self._closing:
                            break
                    started.append(_Worker(self._ctx, self._initargs, f"{self.name}-{next(self._names)}"))
        except Exception as e:  # no processes to be had (limits, memory): the collector parses without them
            with self._cond:
                closing = self._closing
                if not self._workers:
                    self.workers = 0
            if not closing:
                log.warning(f"cannot start parse workers{_why_not(e)}; parsing in the agent",
                            extra={"source": self.name, "error": f"{type(e).__name__}: {e}"})
            for w in started:
                w.close(1.0)
            return
        with self._cond:
            if not self._closing:
                self._workers += started
                for entry in self._queue:  # what came meanwhile and the collector has not taken
                    if entry.worker is None and not entry.here and entry.result is None and entry.error is None:
                        self._send(entry, self._least_loaded())
                self._cond.notify_all()
                return
        for w in started:  # closed while they started
            w.close(1.0)

    def _send(self, entry: _Entry, worker: _Worker) -> None:
        """Under the lock."""
        entry.worker = worker
        entry.attempts += 1
        raw = entry.raw
        watched = None if entry.unparsed is None else tuple(sorted(entry.unparsed))
        worker.send((entry.id, raw.records, raw.flags, raw.meta, entry.with_keys, watched))

    def _least_loaded(self) -> _Worker:
        """Under the lock: the worker with the fewest records waiting for it (batches differ in
        size: round robin gave one of two workers three times the work of the other)."""
        load = {id(w): 0 for w in self._workers}
        for e in self._queue:
            if e.result is None and e.error is None and id(e.worker) in load:
                load[id(e.worker)] += len(e.raw.records)
        return min(self._workers, key=lambda w: load[id(w)])

    def submit(self, raw: RawBatch, with_keys: bool = True) -> bool:
        """Hand a raw batch to a worker; blocks while the queue is full. False if given up. `with_keys`:
        its events' index keys are wanted (an output of its route names an index by the event)."""
        with self._cond:
            while len(self._queue) >= self.depth:
                if self._abandon.is_set() or self._closing or self.failed:
                    return False
                self._cond.wait(0.2)
                held_a_while()  # (the source's look at its inputs while it is held: source_waits)
            if self._closing or self.failed:
                return False
            entry = _Entry(next(self._ids), raw, with_keys)
            if self._workers:  # else the collector or, once they are up, _add_workers sends it
                self._send(entry, self._least_loaded())
            self._queue.append(entry)
            self._cond.notify_all()
        return True

    def in_queue(self) -> int:
        with self._cond:
            return len(self._queue)

    def drain(self, give_up: threading.Event) -> bool:
        """Wait until every submitted batch was handed to deliver (or give_up / a failure)."""
        with self._cond:
            while self._queue and not (give_up.is_set() or self.failed or self._closing):
                self._cond.wait(0.2)
            return not self._queue

    def _collect(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait(0.5)
                if self._closing or self._abandon.is_set():
                    return
                entry = self._queue[0]
                # No worker was up when it came: parsed here. Not one a worker died with (watched), while workers
                # can be had: its record may be why, and it would end the agent (exam30a).
                entry.here = entry.worker is None and (entry.unparsed is None or not self.workers)
            parsed = self._here(entry) if entry.here else self._result(entry)
            if parsed is None:
                if self.failed:
                    return  # the source was told (on_error): parsing it again would only fail again
                continue  # its worker died and a fresh one has it, or stopping
            try:
                self._deliver(entry.raw, parsed)
            except BaseException as e:  # as a raise in emit() ends an in-thread source
                self._fail(e)
                return
            with self._cond:
                self._queue.popleft()
                self._cond.notify_all()

    def _result(self, entry: _Entry) -> Parsed | None:
        """The head entry's result. Every worker's pipe is read as soon as it has a result, kept on
        its entry until that entry is the head: a worker whose result waited in its pipe for the
        head's would sit blocked in send() instead of parsing (it left each worker idle ~40 % of a
        backfill). None after replacing a dead worker."""
        waiting_since = time.monotonic()
        while entry.result is None and entry.error is None:
            if self._closing or self._abandon.is_set():
                return None
            if entry.worker is None and (not self.workers or time.monotonic() - waiting_since > self._stall.after):
                entry.unparsed = None  # no worker to be had (none can start, or none came): parsed here (_collect)
                return None
            try:
                ready = self._readable.among(list(self._workers), 0.2)
            except OSError:
                ready = []
            for worker in ready:
                results = worker.results()
                if results is None:
                    return self._replace(worker, entry)
                with self._cond:
                    for batch_id, parsed, error in results:
                        for e in self._queue:
                            if e.id == batch_id and e.worker is worker:
                                if isinstance(error, int):  # a watched batch's progress (_watch): not a result
                                    e.reached = error
                                else:
                                    e.result, e.error = parsed, error
                                break
            holder = entry.worker
            if not ready and holder is not None and self._stall.stalled(holder):
                log.warning("a parse worker returned nothing and used no CPU for %g s (stopped?): it is killed and "
                            "its batches parsed again", self._stall.after,
                            extra={"source": self.name, "pid": holder.proc.pid})
                holder.proc.kill()  # a stopped process dies of it; one a cgroup freezer holds only once thawed:
                return self._replace(holder, entry, blame=False)  # so it is replaced now, not at its pipe's EOF
            if not ready and holder is not None and self._stall.spinning(holder, entry):
                log.warning("a parse worker used %g s of CPU on one batch without a result (a record its parser "
                            "does not finish?): it is killed and the batch parsed again a record at a time",
                            self._stall.after, extra={"source": self.name, "pid": holder.proc.pid})
                holder.proc.kill()  # (a watched worker spinning on a record: that record is shipped unparsed)
                return self._replace(holder, entry, certain=True)
        if entry.error is not None:
            log.warning("parse worker failed on a batch: parsing it in the agent",
                        extra={"source": self.name, "error": entry.error})
            return self._here(entry)
        return entry.result

    def _replace(self, dead: _Worker, head: _Entry, blame: bool = True, certain: bool = False) -> Parsed | None:
        """`dead` exited (killed, or crashed in a parser): its batches without a result go to the other workers
        or, with none up, wait for the fresh one started meanwhile (the collector parses the head itself until
        then). Nothing of them was registered, so nothing was acked. `blame`: it died of itself (the agent did
        not kill it for being stopped), so the record it was parsing may be why (_blame); `certain`: it is (the agent
        killed it for spinning on that record)."""
        with self._cond:
            if self._closing:
                return None
            self._workers.remove(dead)
            self.restarts += 1
            again = [e for e in self._queue if e.worker is dead and e.result is None and e.error is None]
            log.warning("a parse worker died; its batches are parsed again by a fresh worker",
                        extra={"source": self.name, "batches": len(again), "restarts": self.restarts,
                               "exitcode": dead.proc.exitcode})
            for e in again:
                self._blame(e, dead, blame, certain and e is head)
            here = head.here = head in again and head.attempts >= MAX_ATTEMPTS
            for e in again:
                e.worker = None
                if self._workers and not (here and e is head):
                    self._send(e, self._least_loaded())
            self._starters = [t for t in self._starters if t.is_alive()]
            starter = threading.Thread(target=self._add_workers, args=(1,), name=f"parse-start-{self.name}",
                                       daemon=True)
            self._starters.append(starter)
        starter.start()
        dead.close(timeout=1.0)
        if here:
            log.warning("a batch was in flight in %d workers that died: parsing it in the agent", MAX_ATTEMPTS,
                        extra={"source": self.name, "records": len(head.raw.records)})
            return self._here(head)
        return None

    def _blame(self, entry: _Entry, dead: _Worker, blame: bool, certain: bool = False) -> None:
        """Under the lock. A batch in a worker that died is watched from then on; a record a watched worker died
        parsing twice (or once, `certain`ly: spinning on it) is shipped unparsed, flagged, and named here: parsed in
        the agent after three deaths, as every batch was, it killed the agent (exam30a: every source stopped, and
        each restart died on it again)."""
        reached, entry.reached = entry.reached, None
        if not blame:  # killed by the agent for being stopped: its records are not why
            return
        if entry.unparsed is None:
            entry.unparsed = set()
        elif reached is not None:
            if reached != entry.suspect and not certain:
                entry.suspect = reached
                return
            entry.unparsed.add(reached)
            entry.suspect = None
            entry.attempts = 0  # this death is explained: the batch goes on in workers
            log.warning("a record's parse ended two parse workers: it is shipped unparsed, flagged with its text",
                        extra={"source": self.name, "record": entry.raw.keys[reached] if entry.raw.keys else reached,
                               "exitcode": dead.proc.exitcode})

    def _here(self, entry: _Entry) -> Parsed | None:
        try:
            return self._parse_here(entry.raw)
        except BaseException as e:
            self._fail(e)
            return None

    def _fail(self, e: BaseException) -> None:
        with self._cond:
            self.failed = True
            self._cond.notify_all()
        self._on_error(e)

    def undelivered(self) -> tuple[int, int]:
        """After close(): (batches, records) submitted and never handed to deliver (never registered)."""
        with self._cond:
            return len(self._queue), sum(len(e.raw.records) for e in self._queue)

    def close(self, timeout: float = 5.0) -> None:
        """Stop collecting (what is not delivered yet stays unregistered) and end the workers."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        deadline = time.monotonic() + timeout
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)
        with self._cond:
            starters = list(self._starters)
        for t in starters:  # workers they start after this are closed by them (they see _closing)
            t.join(max(0.0, deadline - time.monotonic()))
        with self._cond:
            workers = list(self._workers)
        kill_stopped_forkserver()
        for w in workers:
            w.close(max(0.1, deadline - time.monotonic()))


def proc_stat(pid: int) -> list[bytes]:
    """The fields of /proc/<pid>/stat after the process's name: its state (field 3 of proc(5)) first. The
    name, in parentheses, may hold spaces and parentheses: the fields start after its last ")". OSError when
    the process is gone; IndexError when the file reads short."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        return f.read().rsplit(b")", 1)[1].split()


def _main_run_again() -> list[str]:
    """What each worker's start imports again: multiprocessing's preparation of a process it starts runs the parent's
    main module in it (as __mp_main__), here the `shipper` console script or shipper.cli run with -m, and with it the
    CLI and click (~64 M instructions a worker: bench/README.md, session 28). Imported once in the forkserver, the
    workers find them there. Nothing when the main module has no file (`python -c`: nothing is run again), nor when
    it is shipper.cli run with -m: runpy then warns in each worker that the module it runs is imported already (a
    RuntimeWarning in the journal of every start with parse workers)."""
    main = sys.modules.get("__main__")
    if getattr(main, "__file__", None) is None:
        return []
    ran_as = getattr(getattr(main, "__spec__", None), "name", None)
    return ["shipper.cli"] if "shipper.cli" in sys.modules and ran_as != "shipper.cli" else []


def kill_stopped_forkserver() -> None:
    """A forkserver stopped (SIGSTOP, a debugger) never reports its workers' exits, and each join of one waits for
    that report: kill it before its workers are ended (multiprocessing starts another when one is next needed)."""
    from multiprocessing import forkserver

    pid = getattr(forkserver._forkserver, "_forkserver_pid", None)
    if pid is None:
        return
    try:
        state = proc_stat(pid)[0]
        if state in (b"T", b"t"):
            log.warning("the parse workers' forkserver is stopped: killed, and its workers ended",
                        extra={"pid": pid})
            os.kill(pid, signal.SIGKILL)
    except (OSError, IndexError):
        pass  # gone already


def end_helpers(timeout: float = 5.0) -> None:
    """End multiprocessing's forkserver, then its resource tracker, and wait for both: at a stop the
    agent leaves no process behind it (systemd's KillMode=mixed would SIGKILL them, and a
    `run --once` would leave them to end after it). The forkserver first: it and the workers hold
    the tracker's pipe, which ends the tracker only once every holder closed it.

    multiprocessing has no public call for this; `_stop()` is what its own tests use (3.8+). Each is
    waited for in a thread, a second at most and all within `timeout`: a stop must never hang on a helper.
    A forkserver that did not end by then (stopped, wedged) is killed: multiprocessing's own exit would wait
    for it for ever, joining the workers it forked (their exit codes come through it). A child that has
    still not ended (a cgroup freezer holds it: not even SIGKILL ends it until thawed) is let go, for the
    same reason: multiprocessing's exit joins every child it knows of without a timeout, and it has no
    public way to forget one."""
    from multiprocessing import forkserver, process, resource_tracker

    end = time.monotonic() + timeout
    server = forkserver._forkserver
    # Every pool is closed by now; a worker's start still in progress (on a loaded host the forkserver's own
    # start takes seconds) gets the budget but its last second, then the forkserver it waits on is killed,
    # which ends it. Held until the helpers are gone: no start runs into their stop.
    got = _starting.acquire(timeout=max(0.0, end - time.monotonic() - 1.0))
    if not got:
        _kill_forkserver(getattr(server, "_forkserver_pid", None), "a parse worker's start did not finish in time")
        got = _starting.acquire(timeout=min(1.0, max(0.0, end - time.monotonic())))
    try:
        for stop, pid in ((getattr(server, "_stop", None), getattr(server, "_forkserver_pid", None)),
                          (getattr(resource_tracker._resource_tracker, "_stop", None), None)):
            if stop is None:
                continue
            if pid is not None:
                # Asked by its pipe's EOF, it exits through its interpreter's teardown, freeing every module it
                # preloaded (~56 M instructions): the last thing a `run --once` waits for. It has nothing to
                # flush, and SIGTERM (it sets no handler for it) ends it at once.
                _signal(pid, signal.SIGTERM)
            t = threading.Thread(target=_quietly, args=(stop,), name="end-helper", daemon=True)
            t.start()
            t.join(min(1.0, max(0.0, end - time.monotonic())))
            if t.is_alive() and pid is not None:
                _kill_forkserver(pid, "the parse workers' forkserver did not end in time")
                t.join(min(1.0, max(0.0, end - time.monotonic())))
    finally:
        if got:
            _starting.release()
    for child in multiprocessing.active_children():
        child.kill()
        # Its exit comes through the forkserver: one killed above (a loaded host) never reported it, and a
        # worker that ended (a zombie until init reaps it) was taken for one held by a cgroup freezer.
        if not _ended(child.pid, min(0.5, max(0.1, end - time.monotonic()))):
            log.warning("a parse worker did not end (held by a cgroup freezer?): the agent ends without it",
                        extra={"pid": child.pid})
        process._children.discard(child)  # type: ignore[attr-defined]


def _ended(pid: int | None, timeout: float) -> bool:
    """True once the process is gone or a zombie (within `timeout` seconds)."""
    if pid is None:
        return True
    deadline = time.monotonic() + timeout
    while True:
        try:
            if proc_stat(pid)[0] == b"Z":
                return True
        except (OSError, IndexError):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def _kill_forkserver(pid: int | None, why: str) -> None:
    """Kill the forkserver at a stop: named (a warning) when it is stopped (SIGSTOP, a debugger); one merely
    slow (a loaded host) is no fault: nothing of it is lost (what its workers had not delivered is read again)."""
    if pid is None:
        return
    try:
        stopped = proc_stat(pid)[0] in (b"T", b"t")
    except (OSError, IndexError):
        return  # gone already
    if stopped:
        log.warning(f"{why} (it is stopped): killed", extra={"pid": pid})
    else:
        log.debug(f"{why} (a loaded host?): killed", extra={"pid": pid})
    _signal(pid, signal.SIGKILL)


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except OSError:
        pass  # gone already


def _quietly(stop) -> None:
    try:
        stop()
    except (OSError, ChildProcessError) as e:  # already gone
        log.debug("multiprocessing helper already ended", extra={"error": str(e)})
