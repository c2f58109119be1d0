"""The agent's checkpoint store: one SQLite database under state_dir, written by a process of its own.

shipper.checkpoint_db is that process (and says why it is one); this module starts it and asks it,
one request at a time. A request that does not return (a frozen filesystem, a hung disk) keeps its
caller waiting, but never the agent's stop: `give_up()` lets every waiter go, and the process is left
to end by itself after the thaw. `stuck_for()` tells /health how long the current request has waited.
A writer that ended (killed: kill -9, the OOM killer) is replaced and the request it was in sent again
(every request is safe to repeat); one that keeps dying soon after its start is given up on, named.
The replacement opens the database while the agent goes on: whoever asks meanwhile waits for it as for
any request, within the time it can wait (the agent's main loop never waits past MAIN_THREAD_WAIT).
A stop bounds every wait at once (`give_up_at`), and a thread can have its waits cut by a condition
(`cut_by`: the main loop's, by a stop signal) without giving the store up for the others.
"""
from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import subprocess
import threading
import time
from multiprocessing import Pipe
from multiprocessing.connection import Connection
from multiprocessing.reduction import recv_handle
from typing import TYPE_CHECKING, Any, Callable, Iterator

import orjson

from shipper import checkpoint_db
from shipper.checkpoint_db import (  # noqa: F401  (the names the rest of shipper imports from here)
    LOCK_FILE,
    LOCK_ONLY,
    RECOVERY,
    REMADE,
    REMADE_LOCK,
    SNAPSHOT,
    SNAPSHOT_EVERY,
    StateDirError,
    StateDirGone,
    StateDirLocked,
    lock_state_dir,
)
from shipper.env_seconds import env_seconds
from shipper.helper_command import helper_command

if TYPE_CHECKING:
    from shipper.checkpoint_db import Remade

log = logging.getLogger("shipper.checkpoint")

WAIT_SLICE = 0.2  # seconds a waiting caller sleeps between looks at give_up()
# Seconds the agent waits for its database to open (a frozen filesystem never answers); SHIPPER_STATE_OPEN_SECONDS
# changes it (docs/operations.md; the frozen state_dir's test waits less).
START_WAIT = 30.0
CLOSE_WAIT = 10.0  # seconds a stop waits for the database to close (and its lock to go)
MAIN_THREAD_WAIT = 1.0  # seconds the agent's main loop waits on a check or compaction before going on
# A writer that ended is replaced at once; when the writers keep dying within SHORT_LIFE of their start,
# the second in a row is replaced after RESTART_BACKOFF_FIRST seconds, doubling, and after MAX_SHORT_LIVES
# in a row no more (a permanent failure: named, nothing saved until the agent is restarted).
SHORT_LIFE = 60.0
RESTART_BACKOFF_FIRST = 1.0
MAX_SHORT_LIVES = 5


def start_wait() -> float:
    return env_seconds("SHIPPER_STATE_OPEN_SECONDS", START_WAIT)


class CheckpointTooNew(Exception):
    """A source's checkpoint written by a later shipper in a layout this one cannot read (a downgrade).
    Raised by the source when it starts; `str()` names the checkpoint (and its file, if any). Going on
    would read its files from a guessed position; the agent refuses to start instead (exit 2)."""


class WriterEnded(OSError):
    """The writer process ended (its end of the socket closed and it was reaped): not merely slow."""


class GivenUp(OSError):
    """The agent stopped waiting for the checkpoint database (give_up): nothing more is saved this run."""


class Interrupted(GivenUp):
    """This thread's waits were cut (cut_by: the agent stops); the request may still complete later."""


_NO_REPLY = object()

# The first writer's process, started before the config is read (prestart_writer): its interpreter and imports
# (~65 ms on one core) run beside the agent's own imports, where the agent waited for them; it opens nothing until
# the first CheckpointStore gives it the state_dir the config validated.
_prestarted: tuple[Connection, subprocess.Popen[bytes]] | None = None
_prestart_lock = threading.Lock()


def _writer_command(fd: int, *args: str) -> list[str]:
    return helper_command(checkpoint_db, str(fd), *args)


def prestart_writer() -> None:
    """Start the first writer's process now (`run`, before its config is read); it waits for its state_dir. Not
    started (OSError): the store starts one the usual way, and says what is wrong."""
    global _prestarted
    with _prestart_lock:
        if _prestarted is not None:
            return
        ours, theirs = Pipe()
        try:
            proc = subprocess.Popen(_writer_command(theirs.fileno(), checkpoint_db.PRESTARTED, str(os.getpid())),
                                    pass_fds=[theirs.fileno()],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except OSError:
            ours.close()
            return
        finally:
            theirs.close()
        _prestarted = (ours, proc)
    atexit.register(_end_prestarted)


def _take_prestarted() -> tuple[Connection, subprocess.Popen[bytes]] | None:
    global _prestarted
    with _prestart_lock:
        taken, _prestarted = _prestarted, None
    return taken


def _end_prestarted() -> None:
    """At exit, one never taken (the config refused, exit 2): its end of the socket closed, it ends at once."""
    taken = _take_prestarted()
    if taken is None:
        return
    conn, proc = taken
    conn.close()
    try:
        proc.wait(1.0)
    except subprocess.TimeoutExpired:
        proc.kill()
# A request's name as a stop that leaves it behind says it.
_WHAT = {"update": "commit", "load": "read", "names": "read", "ensure_present": "check of the state_dir",
         "compact": "compaction", "close": "close", "opening": "opening", "note_failing": "note of failing sources"}


class CheckpointStore:
    def __init__(self, state_dir: str):
        self.state_dir = state_dir
        self.path = os.path.join(state_dir, checkpoint_db.DB_FILE)
        self._lock = threading.Lock()  # one request at a time
        self._given_up = threading.Event()
        self._give_up_at: float | None = None  # time.monotonic() after which nothing is waited for (a stop's end)
        self._cuts = threading.local()  # per thread: a condition that ends its waits (cut_by)
        self._busy_since: float | None = None  # time.monotonic() the request waited on was sent
        self._busy_op = ""  # that request's name, for the message of a stop that leaves it behind
        self._owed: list[str] = []  # requests whose caller stopped waiting: their replies come first
        self._opening = False  # the writer has not said yet whether its database opened
        self.recreated = 0  # times the state_dir was removed under the agent and made again
        self._confirmed: tuple[tuple[int, int, int], tuple[int, int]] | None = None  # _files_now the writer vouched for
        self._conn: Connection | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._started_at = 0.0  # time.monotonic() the current writer was started
        self._short_lives = 0  # writers in a row that died within SHORT_LIFE of their start
        self._restart_due = 0.0  # time.monotonic() from which a writer that ended may be replaced
        self._failed: str | None = None  # why no writer is started any more (they keep dying)
        # The state_dir's locks (lock file, claims), held by the agent too: the first writer sent them, later
        # writers inherit them (checkpoint_db: a writer that ended leaves the state_dir locked while the agent runs).
        self._locks: list[int] = []
        try:
            waited = start_wait()
            opened = self._open_first(time.monotonic() + waited)
        except StateDirGone as e:
            if self._proc is not None:
                try:
                    self._proc.wait(CLOSE_WAIT)  # it ends right after its answer
                except subprocess.TimeoutExpired:
                    pass
            raise StateDirError(str(e)) from None
        if not opened:  # left behind: it ends when it can, after the thaw
            self._drop()
            raise StateDirError(f"{self.path}: the checkpoint database did not open within {waited:g}s: is the "
                                "state_dir's filesystem frozen (fsfreeze, a snapshot's backup) or its disk hung?")

    def _open_first(self, deadline: float) -> bool:
        """The first writer started and its database open by `deadline` (False: still opening). A writer
        that ends meanwhile (the OOM killer as services start) is replaced as any other (_ended: at once,
        then after backoffs); writers that keep dying are a StateDirError naming it."""
        while True:
            try:
                if self._conn is None:
                    self._replace()
                return self._opened(deadline)
            except WriterEnded as e:
                if self._failed is not None:
                    raise StateDirError(self._failed) from None
                wait = self._restart_due - time.monotonic()
                if time.monotonic() + max(wait, 0.0) >= deadline:
                    raise StateDirError(str(e)) from None
                time.sleep(max(wait, 0.0))

    def _spawn(self) -> None:
        """A writer process started (or the prestarted one given its state_dir); it takes the lock and opens the
        database (_opened says when)."""
        taken = None if self._locks else _take_prestarted()  # (a later writer inherits the locks: started anew)
        if taken is not None:
            ours, proc = taken
            try:
                ours.send(self.state_dir)
            except OSError:  # it ended meanwhile: one started the usual way
                ours.close()
            else:
                self._proc = proc
                self._started(ours)
                return
        ours, theirs = Pipe()
        try:
            self._proc = subprocess.Popen(
                _writer_command(theirs.fileno(), self.state_dir, str(os.getpid()),
                                *([",".join(map(str, self._locks))] if self._locks else [])),
                pass_fds=[theirs.fileno(), *self._locks],
                # Not the agent's stdout and stderr: a writer left behind would hold a pipe's reader
                # (`run --once | …`) open until the thaw; it says what went wrong in its answers.
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except OSError as e:
            ours.close()
            raise StateDirGone(f"{self.path}: cannot start the process that writes the checkpoint database "
                               f"({e.strerror})") from None
        finally:
            theirs.close()
        self._started(ours)

    def _started(self, ours: Connection) -> None:
        self._conn, self._owed, self._started_at = ours, [], time.monotonic()
        # Opening waits on the filesystem like a commit: /health and a stop see it as the request in progress.
        self._opening, self._busy_since, self._busy_op = True, self._started_at, "opening"

    def _opened(self, deadline: float | None) -> bool:
        """True once the writer's database is open, False while it is still opening at `deadline`;
        StateDirGone (one line: what is wrong, what to do) if it could not open it."""
        if not self._opening:
            return True
        reply = self._wait(deadline)
        if reply is _NO_REPLY:
            return False
        self._opening, self._busy_since = False, None
        kind, value = reply
        if kind == "error":
            self._drop()
            raise StateDirGone(str(value))
        if value:  # (the first writer's locks: held here too, not handed to any other child)
            assert self._conn is not None
            try:
                for _ in range(value):
                    lock = recv_handle(self._conn)
                    os.set_inheritable(lock, False)
                    self._locks.append(lock)
            except (EOFError, OSError, RuntimeError):
                self._let_go_locks()  # (the writer ended meanwhile: its replacement takes the locks anew)
        return True

    def _drop(self) -> None:
        """Forget the writer process (it ended, or is left to end by itself)."""
        if self._conn is not None:
            self._conn.close()
        self._conn = None
        self._busy_since = None
        self._opening = False
        self._owed = []

    def _check(self, waiting: bool = True) -> None:
        """GivenUp when this wait must end: give_up(), the stop's end (give_up_at: the store is given up,
        named once; only for a wait, not a request yet to be tried), or this thread's cut (cut_by)."""
        if self._given_up.is_set():
            raise GivenUp(f"{self.path}: no longer waiting for the checkpoint database (stopping)")
        if waiting and self._give_up_at is not None and time.monotonic() >= self._give_up_at:
            self._expire()
            raise GivenUp(f"{self.path}: no longer waiting for the checkpoint database (stopping)")
        cut = getattr(self._cuts, "when", None)
        if cut is not None and cut():
            raise Interrupted(f"{self.path}: no longer waiting for the checkpoint database (the agent is stopping)")

    def _expire(self) -> None:
        """The stop's end came with a request unanswered: say so once, and wait for nothing any more."""
        if self._given_up.is_set():
            return
        self._given_up.set()
        stuck = self.stuck_for()
        pid = self._proc.pid if self._proc is not None else None
        log.error("stopping without waiting any longer for the checkpoint database: "
                  + (f"its {self.busy_with()} has not returned for {stuck:.0f}s"
                     if stuck is not None else
                     "it did not answer in time")
                  + " (is the state_dir's filesystem frozen, or its disk hung?); what was delivered since the last "
                  "saved checkpoint is read and sent again at the next start; its process"
                  + (f" (pid {pid})" if pid is not None else "") + " ends by itself once its write returns, and "
                  "holds the state_dir's lock until then", extra={"path": self.path})

    def _ended(self) -> WriterEnded:
        """The writer's end of the socket is closed: reap it, name it once, and decide when (if ever) a
        new one is started. Returns the error for the request it was in."""
        assert self._proc is not None
        while (code := self._proc.poll()) is None:  # at once but for the kernel's last steps of its exit
            try:
                self._check()
            except GivenUp:
                self._drop()
                raise
            time.sleep(0.01)
        self._drop()
        how = (f"killed by {signal.Signals(-code).name}" if code < 0 and -code in signal.valid_signals()
               else f"exit status {code}")
        now = time.monotonic()
        self._short_lives = self._short_lives + 1 if now - self._started_at < SHORT_LIFE else 0
        if self._short_lives >= MAX_SHORT_LIVES:
            self._failed = (f"{self.path}: the process writing the checkpoint database ended {self._short_lives} "
                            f"times in a row within {SHORT_LIFE:.0f}s of its start (last: {how}): no new one is "
                            "started; nothing is saved until the agent is restarted")
            log.error(self._failed, extra={"path": self.path})
            return WriterEnded(self._failed)
        delay = 0.0 if self._short_lives < 2 else RESTART_BACKOFF_FIRST * 2 ** (self._short_lives - 2)
        self._restart_due = now + delay
        log.warning(f"the process writing the checkpoint database ended ({how}): a new one is started"
                    + (f" in {delay:g}s" if delay else ""), extra={"path": self.path, "exit": code})
        return WriterEnded(f"{self.path}: the process writing the checkpoint database ended ({how})")

    def _replace(self) -> None:
        """A new writer for one that ended (it takes the lock the old one's death let go), started, not
        waited for; WriterEnded while it may not be started yet, or no more."""
        if self._failed is not None:
            raise WriterEnded(self._failed)
        wait = self._restart_due - time.monotonic()
        if wait > 0:
            raise WriterEnded(f"{self.path}: the process writing the checkpoint database ended; a new one is "
                              f"started in {wait:.1f}s")
        self._spawn()

    def _wait(self, deadline: float | None) -> Any:
        """The writer's next reply, ("ok", value) or ("error", exception); _NO_REPLY at `deadline`
        (time.monotonic()). GivenUp when the wait must end (_check), WriterEnded when the writer ended."""
        assert self._conn is not None and self._proc is not None
        while True:
            if self._given_up.is_set():
                raise GivenUp(f"{self.path}: no longer waiting for the checkpoint database (stopping)")
            step = WAIT_SLICE if deadline is None else min(WAIT_SLICE, deadline - time.monotonic())
            if step <= 0:
                return _NO_REPLY
            try:
                if self._conn.poll(step):
                    return self._reply()
            except (EOFError, OSError):
                raise self._ended() from None
            # After a slice without an answer: a request sent past the stop's end still has one.
            self._check()

    def _acquire(self, blocking: bool) -> bool:
        """The request lock, waited for in slices (its holder may be stuck: this wait ends as _check says)."""
        if not blocking:
            return self._lock.acquire(False)
        while not self._lock.acquire(timeout=WAIT_SLICE):
            self._check()
        return True

    def _call(self, op: str, *args: Any, timeout: float | None = None, blocking: bool = True) -> Any:
        """The writer's answer to one request; _NO_REPLY when busy (blocking=False) or after `timeout`
        (the reply is read and dropped by the next request). Raises what the writer raised."""
        self._check(waiting=False)
        if not self._acquire(blocking):
            return _NO_REPLY
        try:
            deadline = None if timeout is None else time.monotonic() + timeout
            for attempt in range(2):  # the request a writer died in is sent once more, to its successor
                try:
                    return self._request(op, args, deadline)
                except WriterEnded:
                    if attempt or self._failed is not None or self._restart_due > time.monotonic():
                        raise
            raise AssertionError("unreachable")
        finally:
            self._lock.release()

    def _request(self, op: str, args: tuple[Any, ...], deadline: float | None) -> Any:
        """_call's one try, the lock held."""
        if self._conn is None:  # the writer ended (killed?): a new one takes the lock again
            self._replace()
        if not self._opened(deadline):
            return _NO_REPLY
        while self._owed:
            reply = self._wait(deadline)
            if reply is _NO_REPLY:
                return _NO_REPLY
            self._owed_answered(reply)
        assert self._conn is not None
        self._busy_since, self._busy_op = time.monotonic(), op
        try:
            self._conn.send((op, args))
        except OSError:  # BrokenPipeError: it ended (EOF follows, then it is reaped)
            raise self._ended() from None
        try:
            reply = self._wait(deadline)
        except GivenUp:
            self._owed.append(op)  # (the writer answers it still; the next request reads that first)
            raise
        if reply is _NO_REPLY:
            self._owed.append(op)
            return _NO_REPLY
        self._busy_since = None
        kind, value = reply
        if kind == "error":
            raise value
        return value

    def _reply(self) -> Any:
        """The writer's next reply; after one saying it made the state_dir's lock again, the new lock's descriptor
        it sends, held here in place of the old one (on a file removed: it keeps nobody out)."""
        assert self._conn is not None
        reply = self._conn.recv()
        if reply[0] == REMADE_LOCK:
            reply = ("ok", reply[1])
            lock = recv_handle(self._conn)
            os.set_inheritable(lock, False)
            if self._locks:
                with contextlib.suppress(OSError):
                    os.close(self._locks[0])
                self._locks[0] = lock
            else:
                self._locks.append(lock)
        return reply

    def _owed_answered(self, reply: Any) -> None:
        """The writer's reply to the oldest request whose caller stopped waiting: dropped, but a state_dir
        made again, found by a check nobody waited for, is still named."""
        if self._owed.pop(0) == "ensure_present" and reply[0] == "ok" and reply[1] in REMADE:
            self._remade(reply[1])

    def _settle(self) -> None:
        """Read the replies already come to requests whose callers stopped waiting (a release_reserve at a
        stop with no time left, a check from the main loop), when no request holds the writer: the writer
        answered them, and is in none. Else the time since one was sent counted as a request not returning,
        and a stop on a full disk blamed a frozen filesystem."""
        if not self._owed or self._opening or not self._lock.acquire(False):
            return
        try:
            while self._owed and self._conn is not None and self._conn.poll(0):
                self._owed_answered(self._reply())
            if not self._owed:
                self._busy_since = None
        except (EOFError, OSError):
            pass  # the writer ended: the next request finds it so (and replaces it)
        finally:
            self._lock.release()

    def stuck_for(self, now: float | None = None) -> float | None:
        """Seconds the writer has been in the current request, None when it is in none."""
        self._settle()
        since = self._busy_since
        return None if since is None else (time.monotonic() if now is None else now) - since

    def busy_with(self) -> str:
        """What the request in progress (stuck_for) is, in words: "commit", "read", "opening", …"""
        return _WHAT.get(self._busy_op, self._busy_op)

    def wait_idle(self, timeout: float) -> bool:
        """True once no request is in progress, False after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while self.stuck_for() is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        return self._busy_since is None

    def give_up(self) -> None:
        """Stop waiting for the writer (the agent stops while a request has not returned): every
        waiting and later request raises GivenUp at once, and close() leaves the writer behind."""
        self._given_up.set()

    def give_up_at(self, when: float) -> None:
        """A stop's end (time.monotonic()): a wait still going on then gives the store up, named once;
        a request answered sooner is not affected."""
        self._give_up_at = when

    def given_up(self) -> bool:
        return self._given_up.is_set()

    @contextlib.contextmanager
    def cut_by(self, when: Callable[[], bool]) -> Iterator[None]:
        """Within it, this thread's waits end (Interrupted) as soon as `when()` is true: the agent's main
        loop, whose reload may wait on a commit stuck on a frozen filesystem, must see a stop signal."""
        self._cuts.when = when
        try:
            yield
        finally:
            self._cuts.when = None

    def _remade(self, how: Remade) -> None:
        self.recreated += 1
        if how == LOCK_ONLY:  # (a tmpfiles cleaner ages out the lock file, written once; the database is written on)
            log.error("the state_dir's lock file was removed under the running agent (a tmpfiles cleaner?): taken "
                      "again; the checkpoints are as they were", extra={"path": self.path})
            return
        log.error("the state_dir was removed under the running agent (rm -rf, a tmpfiles cleaner?): made again, "
                  "with its lock and the checkpoints this agent held; anything else kept there is gone",
                  extra={"path": self.path})

    def ensure_present(self) -> bool:
        """Check that the state_dir is still there; remake it if it was removed (True then: the caller
        names it loudly). Raises StateDirGone when it cannot be remade. From the agent's main loop:
        False at once when a request is in progress, or after MAIN_THREAD_WAIT (checked again later).
        The writer is asked only when its files changed since it last said they were its own, or it
        ended: a stat from here wakes nobody, a request wakes both processes (an idle agent's main loop
        checks every second)."""
        before = self._files_now()
        proc = self._proc
        if before is not None and before == self._confirmed and proc is not None and proc.poll() is None:
            return False
        remade = self._call("ensure_present", blocking=False, timeout=MAIN_THREAD_WAIT)
        # Taken before the writer looked: a change after `before` is seen by the next check.
        self._confirmed = before if remade is False else None
        if remade in REMADE:
            self._remade(remade)
            return True
        return False

    def _files_now(self) -> tuple[tuple[int, int, int], tuple[int, int]] | None:
        """The lock file (its creation shows in st_ctime: an inode number may be given again) and the
        database, as a stat sees them now; None if either is missing."""
        try:
            lock = os.stat(os.path.join(self.state_dir, LOCK_FILE))
            db = os.stat(self.path)
        except OSError:
            return None
        return (lock.st_dev, lock.st_ino, lock.st_ctime_ns), (db.st_dev, db.st_ino)

    def names(self) -> set[str]:
        """The sources that have a checkpoint here (configured now or not)."""
        return set(self._call("names"))

    def load(self, source: str) -> dict[str, Any]:
        return {k: orjson.loads(v) for k, v in self._call("load", source)}

    def update(self, source: str, fragment: dict[str, Any]) -> None:
        """Merge a fragment into a source's state in one transaction; None deletes a key.
        Raises sqlite3.Error (a full disk, an I/O error) or OSError with nothing changed: the caller
        retries; GivenUp once the agent stopped waiting (give_up)."""
        if not fragment:
            return
        rows = [(k, None if v is None else orjson.dumps(v)) for k, v in fragment.items()]
        if (remade := self._call("update", source, rows, time.time())) in REMADE:
            self._remade(remade)

    def compact(self) -> bool:
        """Keep the state's size flat over months (checkpoint_db.CheckpointDb.compact). From the
        agent's main loop: False when a request is in progress (tried again later); an answer later
        than MAIN_THREAD_WAIT is not waited for. Raises sqlite3.Error (a full disk)."""
        return self._call("compact", blocking=False, timeout=MAIN_THREAD_WAIT) is not _NO_REPLY

    def note_failing(self, failing: dict[str, Any]) -> bool:
        """The sources failing now ({name: last error}), for the snapshot `shipper status` reads while the agent
        runs (checkpoint_db.write_snapshot). From the agent's main loop: False when a request is in progress or
        no answer came within MAIN_THREAD_WAIT (said again at the next check)."""
        try:
            return self._call("note_failing", failing, blocking=False, timeout=MAIN_THREAD_WAIT) is not _NO_REPLY
        except (OSError, StateDirError):  # a writer ended or given up: its commits say so
            return False

    def release_reserve(self, timeout: float, blocking: bool = True, only_if_full: bool = False) -> bool:
        """On a full disk (a stop, or held deleted files only reading frees): the writer gives the reserve's
        space back for the commits (checkpoint_db.RESERVE). True if there was one (`only_if_full`: and the
        filesystem is full now); False also when no answer came within `timeout` (or, not `blocking`, another
        request is in progress)."""
        try:
            return self._call("release_reserve", only_if_full, timeout=timeout, blocking=blocking) is True
        except (OSError, StateDirError):  # (GivenUp, a writer ended or gone are OSErrors)
            return False

    def make_reserve(self) -> bool:
        """From the agent's main loop, after release_reserve at run time: True once the reserve is there again
        (the filesystem has room for it several times over); False also when no answer came in MAIN_THREAD_WAIT."""
        try:
            return self._call("make_reserve", blocking=False, timeout=MAIN_THREAD_WAIT) is True
        except (OSError, StateDirError):
            return False

    def size(self) -> int:
        """Bytes on disk: the database and its WAL."""
        total = 0
        for suffix in ("", "-wal"):
            try:
                total += os.stat(self.path + suffix).st_size
            except OSError:
                pass
        return total

    def close(self) -> None:
        """The database closed and its lock let go, within CLOSE_WAIT (and by give_up_at's time). After
        give_up(), or when the writer does not answer meanwhile, it is left to end by itself once it can
        (its end of the socket is closed: it ends after the write it is in)."""
        end = time.monotonic() + CLOSE_WAIT
        if self._give_up_at is None or self._give_up_at > end:
            self._give_up_at = end
        try:
            self._acquire(True)
        except GivenUp:  # the request in progress lets go of the lock within WAIT_SLICE
            self._lock.acquire()
        try:
            if self._conn is None or self._proc is None:
                return
            try:
                if not self._opened(None):
                    return
                while self._owed:
                    self._wait(None)
                    self._owed.pop(0)
                self._busy_since, self._busy_op = time.monotonic(), "close"
                self._conn.send(("close", ()))
                self._wait(None)
                self._busy_since = None
                proc, left = self._proc, max(0.0, self._give_up_at - time.monotonic())
                proc.wait(left)
            except (OSError, subprocess.TimeoutExpired):
                pass
            self._drop()
        finally:
            self._let_go_locks()
            self._lock.release()

    def _let_go_locks(self) -> None:
        """The agent's hold on the state_dir's locks let go (a writer left behind keeps its own until it ends)."""
        for lock in self._locks:
            with contextlib.suppress(OSError):
                os.close(lock)
        self._locks = []
