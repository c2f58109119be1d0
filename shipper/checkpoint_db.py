"""The checkpoint database, in the process that writes it (shipper.checkpoint starts it and talks to it).

Why a process of its own: a write to a filesystem that is frozen (`fsfreeze`, an LVM or VM snapshot's
backup) or to a hung disk sleeps in the kernel until the thaw, and no signal, not even SIGKILL, ends
it; a process with such a thread cannot exit (its pid stays until the thread wakes). Here only this
process waits; the agent can stop on time and leave it behind, and what it had not committed is read
again at the next start. It ends when the agent's end of its socket closes (the agent ended, even by
kill -9), after the write it was in returns.

SQLite in WAL mode gives atomic, durable updates of many keys at once without hand-written
fsync/rename dances; a kill -9 never leaves a half-written checkpoint.

The state_dir belongs to one agent at a time: an flock on `shipper.lock` (holding the agent's pid) is
taken here before the database is opened and held until this process ends; the kernel drops it when
the process dies, so a kill -9 leaves no stale lock. The agent holds them too: the first writer sends it their
descriptors (the same locks, not new ones) and the writers started after it inherit them, so a writer killed (the OOM
killer, an operator's kill -9) or no longer replaced leaves the state_dir locked while the agent lives (a second agent
started meanwhile shipped again what the first had delivered:
tests/e2e/test_attack25_second_agent_while_checkpoint_writer_down.py). Besides it, this process holds an abstract Unix
socket named after the state_dir's path (claim_state_dir): a lock that does not live in the directory,
so an `rm -rf` of the state_dir does not free it for a second agent in the second before the running one
notices and makes its state_dir again (with its flock) from what it holds. The database itself stays locked while the
agent runs (see _connect); a snapshot of its rows (SNAPSHOT, written every SNAPSHOT_EVERY seconds
while they change) is what `shipper status` reads meanwhile.

Standard library only: this runs as `python -I -S`, started in a fraction of the agent's time.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import signal
import socket
import sqlite3
import stat
import struct
import sys
import time
from multiprocessing.connection import Connection
from multiprocessing.reduction import send_handle

# typing is not imported when run: the writer starts in every agent, and typing is ~13 M instructions of its ~165 M
# (bench/README.md, session 28); its names here are annotations only (mypy reads a TYPE_CHECKING of our own).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any, Final, Literal

SCHEMA = """
CREATE TABLE IF NOT EXISTS checkpoints (
    source TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    updated REAL NOT NULL,
    PRIMARY KEY (source, key)
);
"""

LOCK_FILE = "shipper.lock"
DB_FILE = "checkpoints.sqlite"
SNAPSHOT = "checkpoints.snapshot.json"
SNAPSHOT_EVERY = 5.0  # seconds: how stale `shipper status` may show saved positions while the agent runs
# Space kept in the state_dir for a stop on a full disk: given up then (release_reserve), the last commits fit
# in it, and what was delivered is not sent again at the next start. Made at the writer's start only where
# the filesystem has room for it several times over (never the space that would make commits fail).
# The WAL is synced this long at most after a commit (bench/README.md "durability"): SQLite's synchronous=NORMAL
# syncs it only at its checkpoints, so a power cut or a filesystem that fails (ext4 errors=remount-ro) lost the
# commits the kernel had not written back yet (up to its ~30 s writeback), and the restart sent their events
# again without a word. FULL (a sync per commit) costs ~25 times a commit's wall time; this, one sync a second.
SYNC_EVERY = 1.0
# The WAL is folded into the database (checkpointed) before it holds an eighth of the state_dir's filesystem:
# SQLite's default, 1,000 pages (~4 MiB), on a 2 MiB filesystem let the WAL take all of it before its first
# checkpoint, which then needed room to grow the database (its pages lived only in the WAL: 12 KiB to 40 KiB for
# 20 sources): no commit succeeded again (tests/core/test_attack9_small_state_dir_own_wal_fills.py). Not lower
# where there is room: a checkpoint syncs the WAL and the database, a smaller WAL costs a commit up to ~3 times
# its wall time (bench/README.md, "the WAL's size").
WAL_PAGES = (64, 1000)  # the fewest and the most pages it may hold before a checkpoint
WAL_SHARE = 8  # of the filesystem
RESERVE = "checkpoints.reserve"
RESERVE_BYTES = 1 << 20
RECOVERY = "see 'Checkpoint database' in docs/operations.md"


class StateDirError(Exception):
    """The state_dir cannot be used. `str()` is one line: the path, what is wrong, what to do."""


class StateDirLocked(StateDirError):
    """Another process holds the state_dir's lock: `holder` is the pid it wrote there ("unknown" if
    none), `ended` True when that agent ended and only its checkpoint writer still holds it."""

    def __init__(self, message: str, holder: str, ended: bool, who: str = ""):
        super().__init__(message)
        self.holder = holder
        self.ended = ended
        self.who = who  # a running shipper holding it, as `run` names it ("another shipper (pid N)"); "" for the others

    def __reduce__(self) -> tuple[type, tuple[str, str, bool, str]]:
        # The writer process sends it to the agent pickled: an exception's default pickling passes
        # only the message back to __init__.
        return type(self), (str(self), self.holder, self.ended, self.who)


class StateDirInUse(StateDirLocked):
    """Held by a shipper running where this process can see it (its pid alive here): `shipper reset` says "stop it
    first"; the other refusals (another pid namespace, a backup holding the lock, an ended agent's writer) say what
    they are."""


# ensure_present's and update's answer: False (nothing to do), True (the state_dir made again), or this (its lock
# file alone was removed and taken again: the checkpoints are as they were).
LOCK_ONLY: Final = "lock only"
# The ops that make the state_dir (or its lock) again when it was removed, and the reply kind that says they did and is
# followed by the new lock's descriptor, for the agent to hold.
REMAKING = ("ensure_present", "update")
REMADE = (True, LOCK_ONLY)  # their answers that say the state_dir (or its lock) was made again
REMADE_LOCK: Final = "ok, lock taken again"
if TYPE_CHECKING:
    Remade = Literal[False, True, "lock only"]


class StateDirGone(OSError):
    """The state_dir (its database or lock file) was removed under the running agent and could not be
    made again (another agent took it meanwhile, or it cannot be created). `str()` says what to do."""


def _claim_names(state_dir: str) -> list[bytes]:
    """The abstract socket names standing for the state_dir: one per way of naming it (as configured, made
    absolute; and resolved, through symlinks), within this mount namespace (another container's
    /var/lib/shipper is another directory). Abstract names are per network namespace: agents in two of
    them sharing one state_dir are told apart by the flock alone."""
    try:
        mnt = os.readlink("/proc/self/ns/mnt")
    except OSError:
        mnt = ""
    paths = dict.fromkeys([os.path.abspath(state_dir), os.path.realpath(state_dir)])
    return [b"\0shipper-state-dir-" + hashlib.sha256(f"{mnt}\0{p}".encode()).hexdigest()[:40].encode()
            for p in paths]


def _claim_peer(name: bytes) -> tuple[int, int, list[bytes] | None] | None:
    """Who holds the claim `name`: its pid and uid (SO_PEERCRED) and its command line (None when it cannot be read);
    None when it cannot be asked."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC) as s:
            s.settimeout(1.0)
            s.connect(name)
            pid, uid, _gid = struct.unpack("3i", s.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                              struct.calcsize("3i")))
    except OSError:
        # Its accept queue full (a squatter that never accepts: exam27b), no credentials to ask: found by the socket's
        # inode instead, among the processes whose descriptors can be read here.
        return _listener_of(name)
    return _with_command_line(pid, uid)


def _with_command_line(pid: int, uid: int) -> tuple[int, int, list[bytes] | None]:
    """A claim's or lock's holder as the judgement takes it: (pid, uid, its command line; None when it cannot be
    read)."""
    try:
        return pid, uid, _command_line(pid)
    except OSError:
        return pid, uid, None


def _open_files(pid: int) -> Iterator[os.stat_result]:
    """What each descriptor of process `pid` is open on (those that cannot be read left out); OSError when its
    descriptors cannot be listed."""
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            yield os.stat(f"/proc/{pid}/fd/{fd}")


def _listener_of(name: bytes) -> tuple[int, int, list[bytes] | None] | None:
    """The process holding the listening abstract socket `name` (/proc/net/unix gives its inode, a socket descriptor
    of the process is open on it), as _claim_peer gives it; None when none can be found."""
    shown = b"@" + name[1:]
    inodes = set()
    try:
        with open("/proc/net/unix", "rb") as f:
            for line in f:
                fields = line.split()
                if len(fields) >= 8 and fields[7] == shown:
                    inodes.add(int(fields[6]))
        if not inodes:
            return None
        for pid in (int(p) for p in os.listdir("/proc") if p.isdigit()):
            with contextlib.suppress(OSError):
                if any(stat.S_ISSOCK(t.st_mode) and t.st_ino in inodes for t in _open_files(pid)):
                    return _with_command_line(pid, os.stat(f"/proc/{pid}").st_uid)
    except (OSError, ValueError):
        return None
    return None


def _command_line(pid: int) -> list[bytes]:
    """Its words (none for a zombie); OSError when it cannot be read."""
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().split(b"\0")[:-1]


def _claim_holder(peer: tuple[int, int, list[bytes] | None] | None) -> str:
    """The pid of the agent holding a claim (`peer`: _claim_peer's; "unknown" if it cannot be told): its holder is
    the checkpoint writer (its command line ends with the agent's pid) or a `shipper reset` (its own pid)."""
    if peer is None:
        return "unknown"
    pid, _uid, argv = peer
    if argv is None:
        return str(pid)
    if not argv:
        # A writer that was killed while its agent is frozen stays a zombie (nobody reaps it) with no command
        # line: it is no holder to name (exam26d); the caller names the lock file's pid, the agent's.
        return "unknown"
    # A writer's command line: <python> -I -S -c <main> …/checkpoint_db.py <fd> <state_dir> <agent's pid> [<held locks>]
    # (the held locks of a writer replacing one that ended: the agent's pid is not always the last word).
    script = next((i for i, word in enumerate(argv) if os.path.basename(word) == b"checkpoint_db.py"), None)
    if script is not None and len(argv) > script + 3 and argv[script + 3].isdigit():
        return argv[script + 3].decode()
    return str(pid)


def _squatted(peer: tuple[int, int, list[bytes] | None] | None, owner: int) -> bool:
    """Whether a claim's or lock's holder (`peer`: _claim_peer's) is a squatter: a process of a user other than this
    one, root and `owner` (the user the state_dir or file belongs to). An abstract name has no owner or mode, so any
    process of the network namespace can bind it (exam27b: uid 65534 binding it kept the agent out, named as "another
    shipper"), and a lock file or database an earlier release left 0644 can be opened and locked by any user
    (exam28). Judged by the user alone, not by the command line: a shipper is started under many names (`python -m
    shipper.cli`, a copy of the console script, `exec -a`), and one taken for a squatter has its lock replaced
    while it ships — two agents on one state_dir, or (a root command beside the service's agent, exam29a) the
    agent's lock made root's and the agent stopped for good. A process of these users that is no shipper is refused
    as the agent would be, named by its pid: it can be ended by whoever runs the agent."""
    if peer is None:
        return False
    return peer[1] not in (0, os.getuid(), owner)


def _no_shipper(peer: tuple[int, int, list[bytes] | None] | None, owner: int) -> bool:
    """Whether a holder of the database's locks is no shipper: a squatter (_squatted), or a process of those users that
    is neither a checkpoint writer nor a shipper command (an operator's `sqlite3` left open). Judged by the command
    line too, unlike the lock's holders: the database is judged only once this agent holds the state_dir's lock, so
    no other agent can be writing it, and an open it held is left to it (the copy is renamed over the name)."""
    if peer is None:
        return False
    argv = peer[2]
    shipper = not argv or any(os.path.basename(word) in (b"checkpoint_db.py", b"shipper") or word == b"shipper.cli"
                              for word in argv)
    return _squatted(peer, owner) or not shipper


def _owner(state_dir: str) -> int:
    """The uid the state_dir belongs to (-1, no user, when it cannot be read)."""
    try:
        return os.stat(state_dir).st_uid
    except OSError:
        return -1


def claim_state_dir(state_dir: str) -> list[socket.socket]:
    """The state_dir's claims (see _claim_names), held until closed or this process ends; StateDirLocked
    naming the holder when another process holds one, as lock_state_dir does for its flock."""
    held: list[socket.socket] = []
    for name in _claim_names(state_dir):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            s.bind(name)
            s.listen(8)  # (never accepted: a refused agent connects only to learn the holder's pid)
        except OSError as e:
            s.close()
            if e.errno != errno.EADDRINUSE:
                for h in held:
                    h.close()
                break  # no abstract sockets here (a sandbox): the flock alone
            peer = _claim_peer(name)
            if _squatted(peer, _owner(state_dir)):
                continue  # left to it: the lock file alone keeps a second agent out (this process has no journal)
            for h in held:
                h.close()
            holder = _claim_holder(peer)
            if not (holder.isdigit() and _alive(int(holder))):
                holder = _lock_file_pid(state_dir) or holder  # (the writer that bound it ended; its agent holds it)
            raise _locked(state_dir, holder) from None
        held.append(s)
    return held


def _lock_file_pid(state_dir: str) -> str:
    """The pid written in the state_dir's lock file ("" if it cannot be read)."""
    try:
        with open(os.path.join(state_dir, LOCK_FILE), "rb") as f:
            pid = f.read(32).decode("ascii", "replace").strip()
    except OSError:
        return ""
    return pid if pid.isdigit() else ""


def _locked(state_dir: str, holder: str) -> StateDirLocked:
    """The refusal of the state_dir's lock another process holds (`holder`: the pid written in the lock file, or the
    claim's holder), naming it as this pid namespace sees it (_flock_holders): the pid written is the writer's pid
    namespace's, and here may be another process (init, for a container's agent first: fix13) or none."""
    try:
        held = _flock_holders(os.stat(os.path.join(state_dir, LOCK_FILE)))
    except OSError:
        held = []  # (the lock file removed: a claim's holder refused us)
    writer = next(((pid, peer) for pid, peer in held if _is_writer(peer)), None)
    if writer is not None:
        written = _claim_holder(writer[1])
        if (agent := _agent_of_writer(writer[0], written)) is not None:
            return _in_use(state_dir, agent, written)
        holder = written
    elif held:
        agent = next((pid for pid, _peer in held if _pid_in_its_namespace(pid) == holder), None)
        if agent is not None:  # (the agent, whose writer ended: it holds the lock the writer handed it)
            return _in_use(state_dir, agent, holder)
        # Another process of the users whose flock keeps the agent out (_squatted): an operator's backup holding the
        # lock while it copies the state_dir. Blamed on a dead shipper and a frozen filesystem (exam29a), or, the pid
        # written given to another process since, on that process, a running shipper (fix13), it went unnamed.
        other = ", ".join(dict.fromkeys(_described(pid, peer) for pid, peer in held))
        return StateDirLocked(f"{state_dir}: its lock file ({LOCK_FILE}) is held by {other}, which is no "
                              "shipper's checkpoint writer (a backup or a script holding it?); the agent cannot "
                              "start while it holds it: end it, or wait until it ends, and start again", holder, False)
    elif _held_from_another_pid_namespace(state_dir):
        # A shipper in a container beside this one (or the host's, seen from a container), the state_dir mounted in
        # both: its pid is not this namespace's, and was taken for one that ended on a frozen filesystem (exam29a).
        return StateDirLocked(f"{state_dir}: in use by another shipper, in another pid namespace (a container, or "
                              f"the host seen from one: pid {holder} there, not visible here); two agents on one "
                              "state_dir would ship every event twice: stop that one, or give this one its own "
                              "state_dir", holder, False)
    elif holder.isdigit() and _alive(int(holder)):
        return _in_use(state_dir, int(holder), holder)  # (no /proc/locks to tell it by, or a claim's holder)
    return StateDirLocked(f"{state_dir}: still locked by the checkpoint writer of a shipper that ended (pid "
                          f"{holder}): it ends once the write it is in returns (is the state_dir's filesystem "
                          "frozen, or its disk hung?); start again then", holder, True)


def agent_named(state_dir: str, written: str) -> str:
    """The running agent holding the state_dir's lock, whose pid in its own pid namespace is `written` (its lock file's),
    as the refusals name it (_in_use): "N", or "N, pid M in its own pid namespace: a container?" when this pid namespace
    sees it as another pid (a container's agent seen from the host: M may be init here); `written` when it is not
    seen here."""
    try:
        held = _flock_holders(os.stat(os.path.join(state_dir, LOCK_FILE)))
    except OSError:
        return written
    writer = next(((pid, peer) for pid, peer in held if _is_writer(peer)), None)
    agent = (_agent_of_writer(writer[0], written) if writer is not None and _claim_holder(writer[1]) == written else
             next((pid for pid, _peer in held if _pid_in_its_namespace(pid) == written), None))
    return written if agent is None else _seen_as(agent, written)


def _seen_as(pid: int, written: str) -> str:
    return str(pid) if str(pid) == written else f"{pid}, pid {written} in its own pid namespace: a container?"


def _in_use(state_dir: str, pid: int, written: str, removed: bool = False) -> StateDirInUse:
    """The refusal of a state_dir a running shipper holds: `pid` here, `written` in its own pid namespace; `removed`:
    its state_dir was removed under it (_removed_lock_holder). Its `who` is what `shipper reset` says too."""
    who = f"another shipper (pid {pid})" if str(pid) == written else f"another shipper (pid {_seen_as(pid, written)})"
    if removed:
        who += (", whose state_dir was removed under it (rm -rf, a cleaner?) and which makes it again within seconds, "
                "with its lock and checkpoints")
    return StateDirInUse(f"{state_dir}: in use by {who}; two agents on one state_dir would ship every event twice: "
                         "stop that one, or give this one its own state_dir", str(pid), False, who)


def _is_writer(peer: tuple[int, int, list[bytes] | None]) -> bool:
    return any(os.path.basename(w) == b"checkpoint_db.py" for w in peer[2] or ())


def _pid_in_its_namespace(pid: int) -> str:
    """Process `pid`'s pid in its own (innermost) pid namespace, as it wrote it (/proc/PID/status NSpid); "" when it
    cannot be read."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("NSpid:"):
                    return line.split()[-1]
    except OSError:
        return ""
    return str(pid)  # (a kernel before 4.1: no NSpid, one pid namespace taken)


def _agent_of_writer(pid: int, written: str) -> int | None:
    """The pid here of the agent of checkpoint writer `pid`, which names it `written` (in its pid namespace): its parent
    when that is the one; None when the agent ended (the writer left to init or a subreaper)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            parent = next(int(line.split()[1]) for line in f if line.startswith("PPid:"))
    except (OSError, StopIteration, ValueError):
        return None
    return parent if parent > 0 and _pid_in_its_namespace(parent) == written else None


def _flock_holders(st: os.stat_result) -> list[tuple[int, tuple[int, int, list[bytes] | None]]]:
    """The processes seen here holding an flock on the file `st` (a descriptor of theirs whose /proc/PID/fdinfo lists
    it), with their (pid, uid, command line): among those /proc/locks lists, and when none of them holds it (a lock a
    writer that ended handed to its agent is listed under the ended one's pid), among every process."""
    listed = list(dict.fromkeys(pid for _kind, pid in _lock_holders(st, "FLOCK") if pid > 0))
    found = [(pid, peer) for pid in listed if (peer := _flock_holder(pid, st))]
    if not found and listed:
        found = [(int(p), peer) for p in _listdir("/proc") if p.isdigit() and (peer := _flock_holder(int(p), st))]
    return found


def _flock_holder(pid: int, st: os.stat_result) -> tuple[int, int, list[bytes] | None] | None:
    """Process `pid` as _claim_peer gives a claim's holder, if a descriptor of its holds an flock on the file `st`;
    None when none does, or it cannot be told (its command line unreadable: it ended)."""
    ident = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino} "
    for fd in _listdir(f"/proc/{pid}/fd"):
        try:
            if _ident(f"/proc/{pid}/fd/{fd}") != (st.st_dev, st.st_ino):
                continue
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                if any(line.startswith("lock:") and " FLOCK " in line and ident in line for line in f):
                    peer = _with_command_line(pid, os.stat(f"/proc/{pid}").st_uid)
                    return peer if peer[2] is not None else None
        except OSError:
            continue
    return None


def _held_from_another_pid_namespace(state_dir: str) -> bool:
    """Whether the flock that refused us on the state_dir's lock file is held by a process this pid namespace cannot
    see: /proc/locks leaves out the locks of processes it cannot see (or lists their pid as 0), while it lists those
    of a shipper that ended here (its checkpoint writer's)."""
    try:
        st = os.stat(os.path.join(state_dir, LOCK_FILE))
        os.close(os.open("/proc/locks", os.O_RDONLY | os.O_CLOEXEC))
    except OSError:
        return False  # (no /proc: nothing to tell it by)
    holders = _lock_holders(st, "FLOCK")
    return not holders or any(pid == 0 for _kind, pid in holders)


DELETED = " (deleted)"  # what readlink of /proc/PID/fd/N adds to the path of a file removed while open


def _removed_lock_holder(state_dir: str, ours: tuple[int, int] | None) -> tuple[int, str] | None:
    """An agent still running on this state_dir after it was removed under it (`rm -rf`, a cleaner) and not made again
    yet, as _in_use names it (its pid here, and in its own pid namespace), None when there is none: a process of the
    users whose flock keeps the agent out (_squatted) holding an flock on a removed `shipper.lock` of this folder,
    named by its path or reached by another (a bind mount, a symlink: the folder, or its parent when the folder went
    too, is the same). `ours`: the removed lock this process holds itself (a remake), left out. Its abstract name
    alone kept a second agent out in the seconds before the running one makes the state_dir again, and that name is
    per network namespace and can be squatted (exam29a: the second agent shipped every event again). Processes of
    another pid namespace are not seen here (their flocks are not listed in /proc/locks): the running agent's own check
    of its state_dir is then all there is."""
    try:
        here = os.stat(state_dir)
    except OSError:
        return None
    owner = here.st_uid
    dev = f"{os.major(here.st_dev):02x}:{os.minor(here.st_dev):02x}:"
    locks: dict[int, list[int]] = {}  # inode flocked for writing on the state_dir's filesystem: the pids listed for it
    try:
        with open("/proc/locks") as f:
            for line in f:
                fields = line.split()
                if len(fields) >= 6 and fields[1] == "FLOCK" and fields[3] == "WRITE" and fields[5].startswith(dev):
                    locks.setdefault(int(fields[5][len(dev):]), []).append(int(fields[4]))
    except (OSError, ValueError):
        return None
    if ours is not None and ours[0] == here.st_dev:
        locks.pop(ours[1], None)
    for ino, pids in locks.items():
        # Looked for in the process listed for it (the one that took it); when none listed has it open (a lock a writer
        # that ended handed to its agent is listed under the ended one's pid, perhaps another process's since), in
        # every process.
        opened = next(filter(None, (_open_on(pid, here.st_dev, ino) for pid in pids if pid > 0)), None) or \
            next(filter(None, (_open_on(int(p), here.st_dev, ino) for p in _listdir("/proc") if p.isdigit())), None)
        found = opened and _removed_lock_of(*opened, here, state_dir)
        if found and not _squatted(found[2], owner):
            return found[0], found[1]
    return None


def _open_on(pid: int, dev: int, ino: int) -> tuple[int, str] | None:
    """Process `pid` and the /proc link of its first descriptor open on the file (dev, ino); None when it has none."""
    for fd in _listdir(f"/proc/{pid}/fd"):
        link = f"/proc/{pid}/fd/{fd}"
        with contextlib.suppress(OSError):  # (gone meanwhile, or not to be followed: EACCES)
            if _ident(link) == (dev, ino):
                return pid, link
    return None


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def _removed_lock_of(pid: int, link: str, here: os.stat_result,
                     state_dir: str) -> tuple[int, str, tuple[int, int, list[bytes] | None]] | None:
    """When `link`, a descriptor of process `pid` (_open_on), is open on a removed lock file of the state_dir `here`:
    its agent's pid here and in its own pid namespace (a checkpoint writer's agent; else the process itself), and the
    process as _claim_peer gives it; else None."""
    try:
        target = os.readlink(link)
        if not target.endswith(os.sep + LOCK_FILE + DELETED) or os.stat(link).st_nlink or \
                not _same_folder(target[:-len(os.sep + LOCK_FILE + DELETED)], here, state_dir):
            return None
        peer = _with_command_line(pid, os.stat(f"/proc/{pid}").st_uid)
    except OSError:
        return None
    if not _is_writer(peer):
        return pid, _pid_in_its_namespace(pid) or str(pid), peer  # (the agent: it holds its writer's lock)
    written = _claim_holder(peer)
    agent = _agent_of_writer(pid, written)
    # A writer whose agent ended (left in a write on a frozen filesystem) makes nothing again: no agent to refuse for;
    # it ends after the thaw.
    return None if agent is None else (agent, written, peer)


def _same_folder(removed: str, here: os.stat_result, state_dir: str) -> bool:
    """Whether `removed`, the folder a removed lock file was in (as the kernel names it), is the state_dir `here`: the
    same path, the same folder still there (only its files were removed, or it is a mount point) by another path, or,
    gone, of the same name in the same parent."""
    paths = {os.path.abspath(state_dir), os.path.realpath(state_dir)}
    if removed in paths:
        return True
    try:
        if _ident(removed) == (here.st_dev, here.st_ino):
            return True
        parent = os.stat(os.path.dirname(removed))
    except (OSError, ValueError):
        return False
    return any(os.path.basename(removed) == os.path.basename(p) and _ident(os.path.dirname(p)) ==
               (parent.st_dev, parent.st_ino) for p in paths)


def lock_state_dir(state_dir: str, pid: int | None = None, ours: tuple[int, int] | None = None) -> int:
    """The open, flocked lock file (its descriptor), holding `pid` (the agent's; default this
    process's), or StateDirError naming the holder's pid. `ours`: the removed lock file this process holds (a
    remake: _removed_lock_holder leaves it out)."""
    path = os.path.join(state_dir, LOCK_FILE)
    for _ in range(3):
        fd = _open_lock(state_dir, path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not _held_by_no_shipper(os.fstat(fd)):
                holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
                os.close(fd)
                raise _locked(state_dir, holder) from None
            # Held by no shipper: a process that opened an earlier release's 0644 lock file before the start's chmod
            # kept the agent out, shared or exclusive (exam28). Shared with it while the file is replaced, as a
            # hard-linked one is (an exclusive holder keeps the old file locked for us).
            with contextlib.suppress(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            fd = _replace_lock(state_dir, path, fd)
        held = os.fstat(fd)
        if held.st_nlink > 1:  # another name too: never written through, replaced (_replace_lock)
            fd = _replace_lock(state_dir, path, fd)
            held = os.fstat(fd)
        if _ident(path) == (held.st_dev, held.st_ino):
            break
        os.close(fd)  # the name was given another file between the open and the lock (an agent replacing a linked
        # one): the lock taken is not the state_dir's; taken again on what the name is now
    else:
        raise StateDirError(f"{path} keeps being replaced while the agent takes it: is another program removing or "
                            "renaming files in the state_dir?")
    if removed := _removed_lock_holder(state_dir, ours):
        os.close(fd)  # (the file made is left: the running agent takes it when it makes its state_dir again)
        raise _in_use(state_dir, *removed, removed=True)
    _keep_owners_alone(fd, held)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid() if pid is None else pid}\n".encode(), 0)
    except OSError as e:  # a new lock file on a full filesystem: made (an inode), its pid not written
        os.close(fd)
        raise unwritable(state_dir, e) from None
    return fd


def _held_by_no_shipper(st: os.stat_result) -> bool:
    """Whether every flock held on the lock file `st` is a process's that is no shipper (/proc/locks: `N: FLOCK ADVISORY
    READ|WRITE pid maj:min:inode …`; a lock waited for is listed `N: -> …`): a shared one (no shipper takes one), or
    one whose holder has the file open and is judged as a claim's holder is (_squatted: another user's). False when
    there is none, or a holder cannot be told: its pid gone, or not holding the file (a lock handed by a writer that
    ended to its agent is listed under the writer's pid, which may be reused)."""
    holders = _lock_holders(st, "FLOCK")
    return bool(holders) and all(kind == "READ" or _squatted(_holder_of_file(pid, st), st.st_uid)
                                 for kind, pid in holders)


def _lock_holders(st: os.stat_result, lock: str) -> list[tuple[str, int]]:
    """The locks of type `lock` (FLOCK, POSIX; OFDLCK's have no pid: -1) held on the file `st`, as /proc/locks lists
    them: (READ or WRITE, the holder's pid); none when it cannot be read."""
    ident = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    holders: list[tuple[str, int]] = []
    try:
        with open("/proc/locks") as f:
            for line in f:
                fields = line.split()
                if len(fields) >= 6 and fields[1] == lock and fields[5] == ident:
                    holders.append((fields[3], int(fields[4])))
    except (OSError, ValueError):
        return []
    return holders


def _holder_of_file(pid: int, st: os.stat_result) -> tuple[int, int, list[bytes] | None] | None:
    """The process `pid` as _claim_peer gives a claim's holder (pid, uid, command line), if it has the file `st` open;
    None when it does not, or cannot be told (its command line unreadable: it ended)."""
    try:
        if not any((t.st_dev, t.st_ino) == (st.st_dev, st.st_ino) for t in _open_files(pid)):
            return None
        peer = _with_command_line(pid, os.stat(f"/proc/{pid}").st_uid)
    except OSError:
        return None
    return peer if peer[2] is not None else None


def _keep_owners_alone(fd: int, held: os.stat_result) -> None:
    """A lock file or database an earlier release made 0644 is set 0600 (when it is this user's)."""
    if held.st_mode & 0o077 and held.st_uid == os.geteuid():
        os.fchmod(fd, 0o600)


def _open_lock(state_dir: str, path: str) -> int:
    try:
        os.makedirs(state_dir, exist_ok=True)
        # Never through a symlink: the agent makes the lock a plain file, and one put there by whoever can write in
        # the state_dir would have the agent cut the file it points at and write its pid in (exam27b).
        # Its owner's alone (0600): flock takes a lock on a descriptor opened read-only, so a lock file other users
        # can read lets any of them keep the agent from starting (exam27b; the unit's UMask=0077 did it, a start by
        # hand or in a container did not).
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise StateDirError(f"{path} is a symbolic link, not the lock file shipper makes: refused, nothing written "
                                f"through it (someone who can write in the state_dir put it there?); remove it") \
                from None
        raise unwritable(state_dir, e) from None


def _replace_lock(state_dir: str, path: str, fd: int) -> int:
    """The lock file, flocked on `fd`, is replaced by a new one, renamed over the name; `fd` closed. For a lock file
    with another name too: a hard-link snapshot of the state_dir (`cp -al` before an upgrade, a backup tool's links:
    exam28 — refused, every start failed), or any file of the filesystem linked there by whoever can write in the
    state_dir (exam27b: the agent's pid was written into it): neither is written through, the other name keeps what
    it held. And for one a process that is no shipper holds a shared flock on (lock_state_dir). The old file stays
    locked until the new one holds the name, so an agent opening the name meanwhile finds it locked, and one that
    locks the old file later sees the name moved on (lock_state_dir's check)."""
    tmp = f"{path}.{os.getpid()}"
    try:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)  # (one a killed start left: the name, never what it may point at)
        new = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as e:
        os.close(fd)
        raise unwritable(state_dir, e) from None
    fcntl.flock(new, fcntl.LOCK_EX | fcntl.LOCK_NB)  # (a file no one else knows yet)
    try:
        os.rename(tmp, path)
    except OSError as e:
        os.close(new)
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise unwritable(state_dir, e) from None
    os.close(fd)
    return new


def unwritable(state_dir: str, e: OSError) -> StateDirError:
    """The state_dir cannot be written (`e`): one line, the path, the cause and what to do. Full (of blocks, or of
    inodes: `df -i`) is no matter of permissions: said as what to free; nor is a path that cannot be made a folder (a
    symbolic link whose target is gone, a file in its place)."""
    if e.errno in (errno.EEXIST, errno.ENOENT, errno.ENOTDIR) and (not_made := _not_a_folder(state_dir)):
        return StateDirError(f"{state_dir}: cannot make the state_dir: {not_made}; shipper keeps its checkpoints "
                             f"there; {RECOVERY}")
    fix = ("its filesystem is full (`df -h` and `df -i` show whether of space or of inodes): free some there"
           if e.errno in (errno.ENOSPC, errno.EDQUOT) else
           "make it writable by the user shipper runs as (systemd: StateDirectory= or ReadWritePaths=)")
    return StateDirError(f"{state_dir}: cannot write to the state_dir ({e.strerror or e}); shipper keeps its "
                         f"checkpoints there: {fix}; {RECOVERY}")


def _not_a_folder(state_dir: str) -> str:
    """Why the state_dir's path cannot be made a folder: the first symbolic link on it whose target does not exist, or
    the first part that is no folder; "" when neither."""
    path = os.path.abspath(state_dir)
    parts = path.split(os.sep)[1:]
    for i in range(1, len(parts) + 1):
        part = os.sep + os.path.join(*parts[:i])
        if os.path.islink(part) and not os.path.exists(part):
            target = os.path.join(os.path.dirname(part), os.readlink(part))
            return (f"{part} is a symbolic link to {target}, which does not exist (removed, or on a volume not mounted "
                    f"yet: mount it first): make that folder, writable by the user shipper runs as, or set state_dir "
                    "to another")
        if os.path.lexists(part) and not os.path.isdir(part):
            return f"{part} is not a folder: move it away, or set state_dir to another"
    return ""


def remove_source(state_dir: str, source: str) -> list[tuple[str, bytes]] | None:
    """Remove one source's saved state (`shipper reset`), with no agent running: the state_dir's lock is
    taken first (StateDirLocked names an agent holding it) and held while the rows go, in one statement.
    The rows removed (key, value), by key; None when there is no database (nothing was ever saved).
    Raises sqlite3.Error (a damaged database, a full disk) with nothing removed."""
    path = os.path.join(state_dir, DB_FILE)
    if not os.path.isdir(state_dir):
        return None  # (the lock would make it: nothing to remove there)
    claims = claim_state_dir(state_dir)
    try:
        fd = lock_state_dir(state_dir)
    except BaseException:
        for c in claims:
            c.close()
        raise
    try:
        try:
            size = os.stat(path).st_size
        except FileNotFoundError:
            return None
        if size < SQLITE_HEADER:
            raise _truncated(size)  # (opened, SQLite would take it for a new database, and make it one)
        db = _connect_or_copy_over(path)
        try:
            rows = db.execute("SELECT key, value FROM checkpoints WHERE source=? ORDER BY key", (source,)).fetchall()
            if rows:
                db.execute("DELETE FROM checkpoints WHERE source=?", (source,))
        finally:
            db.close()
        from shipper.refused_rows import RefusedRows

        RefusedRows(state_dir).forget(source)
        return rows
    finally:
        os.close(fd)
        for c in claims:
            c.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # another user's
    return True


def _full(path: str) -> bool:
    try:
        st = os.statvfs(path)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < 64 * 1024


def _make_reserve(state_dir: str) -> None:
    """The reserve file (RESERVE_BYTES, its blocks allocated), unless it is there or the filesystem has less
    than four times that free. Whatever cannot be made is removed: it is tried again at the next start."""
    path = os.path.join(state_dir, RESERVE)
    try:
        if os.lstat(path).st_size >= RESERVE_BYTES:
            return
    except FileNotFoundError:
        pass
    except OSError:
        return
    try:
        st = os.statvfs(state_dir)
        if st.f_bavail * st.f_frsize < 4 * RESERVE_BYTES:
            return
        # O_NOFOLLOW, O_NONBLOCK: a symlink or a FIFO planted under its name fails the open, never waits.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o600)
        try:
            os.posix_fallocate(fd, 0, RESERVE_BYTES)
        finally:
            os.close(fd)
    except OSError:
        try:
            if os.path.isfile(path) and not os.path.islink(path):
                os.unlink(path)
        except OSError:
            pass


def _read_only(state_dir: str) -> bool:
    """The state_dir's filesystem refuses writes now. Asked by opening the lock file for writing (nothing
    written): ext4 turned read-only by an error (errors=remount-ro) still says `rw` in statvfs."""
    try:
        os.close(os.open(os.path.join(state_dir, LOCK_FILE), os.O_RDWR | os.O_CLOEXEC))
    except OSError as e:
        return e.errno == errno.EROFS
    return False


def _damaged(e: sqlite3.DatabaseError) -> bool:
    text = str(e).lower()
    return "not a database" in text or "malformed" in text or "corrupt" in text


def _wal_pages(state_dir: str) -> int:
    """How many pages the WAL may hold before it is checkpointed (see WAL_PAGES) on state_dir's filesystem."""
    try:
        st = os.statvfs(state_dir)
    except OSError:
        return WAL_PAGES[0]
    frame = 4096 + 24  # SQLite's default page and its frame header
    return max(WAL_PAGES[0], min(WAL_PAGES[1], st.f_blocks * st.f_frsize // WAL_SHARE // frame))


def _owners_alone(path: str) -> None:
    """The database file made, or kept, its owner's alone (0600; SQLite gives its -wal file the same mode): SQLite's
    locks are POSIX record locks, which a descriptor opened read-only can take, so a database any user can read let
    any of them keep the agent from starting by read-locking it (exam28, as exam27b did with the lock file), when the
    agent made the state_dir itself (0755; the shipped unit's UMask=0077 made it 0600 already)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError:
        return  # (sqlite3.connect meets the same cause and names it)
    try:
        _keep_owners_alone(fd, os.fstat(fd))
    finally:
        os.close(fd)


def _connect(path: str) -> sqlite3.Connection:
    _owners_alone(path)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    try:
        # Exclusive before WAL: the WAL index then lives in this process's heap, not in a
        # `-shm` file mapped into memory (sqlite.org/wal.html, "Use of WAL Without Shared-Memory").
        # A mapped file that turns immutable (`chattr +i`) or is truncated under the agent answers
        # a write with SIGBUS, which kills the process before Python sees anything; a write(2)
        # refused instead is an error the commit retries. The cost: no other process can read the
        # database while the agent runs (`shipper status` then reads the snapshot, write_snapshot);
        # the state_dir is one agent's anyway (the flock above).
        db.execute("PRAGMA locking_mode=EXCLUSIVE")
        db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL: a process crash never loses a commit; a power cut may roll back the ones not
        # synced yet (serve syncs the WAL SYNC_EVERY after a commit), which only replays events
        # (at-least-once), never skips them. FULL would sync at every commit (bench/README.md).
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(f"PRAGMA wal_autocheckpoint={_wal_pages(os.path.dirname(path) or '.')}")
        # After a checkpoint the WAL file is cut back to this size instead of staying at its peak.
        db.execute("PRAGMA journal_size_limit=1048576")
        db.execute(SCHEMA)
    except BaseException:
        db.close()
        raise
    return db


def _connect_or_copy_over(path: str) -> sqlite3.Connection:
    """_connect, with the state_dir's lock held (the agent's start, `shipper reset`): a database found locked is
    opened as _open_locked_by_no_shipper says."""
    try:
        return _connect(path)
    except sqlite3.OperationalError as e:
        if getattr(e, "sqlite_errorcode", None) != sqlite3.SQLITE_BUSY:
            raise
        return _open_locked_by_no_shipper(path)


def _open_locked_by_no_shipper(path: str) -> sqlite3.Connection:
    """The database _connect found locked (SQLite's locks are POSIX record locks, which a descriptor opened read-only
    can take): when every holder /proc/locks lists is no shipper and has the file open (_no_shipper), it is copied
    over (_copy_over) and opened; else StateDirError naming the holders and what to do.
    exam28: a local user who opened it while an earlier release left it 0644 kept the descriptor past the chmod
    0600 (_owners_alone), read-locked it, and kept every start out, the refusal blaming permissions."""
    st = os.stat(path)
    pids, peers = _database_lockers(st)
    if not peers or not all(_no_shipper(peer, st.st_uid) for peer in peers):
        raise StateDirError(f"{path}: the checkpoint database is locked by {_lockers_named(path, pids, peers)}, and the "
                            "agent cannot open it while that lock is held (no other shipper writes it: this agent holds "
                            "the state_dir's lock); end that process, or wait until it ends, and start again; "
                            f"{RECOVERY}")
    _copy_over(path)
    return _connect(path)


def _database_lockers(st: os.stat_result) -> tuple[list[int], list[tuple[int, int, list[bytes] | None] | None]]:
    """The pids /proc/locks lists holding the database `st` locked (POSIX record locks, OFD locks' as 0 or -1), and
    each as _holder_of_file gives it (None when it does not have the file open, or cannot be told)."""
    pids = list(dict.fromkeys(pid for lock in ("POSIX", "OFDLCK") for _kind, pid in _lock_holders(st, lock)))
    return pids, [_holder_of_file(pid, st) if pid > 0 else None for pid in pids]


def _lockers_named(path: str, pids: list[int], peers: list[tuple[int, int, list[bytes] | None] | None]) -> str:
    """The holders of the database's locks (_database_lockers), in words."""
    if not pids or all(pid <= 0 for pid in pids):
        return ("a process /proc/locks does not name (an open file description's lock, or one taken on another host "
                f"of a network filesystem): `fuser -v {path}` may show it")
    return ", ".join(_described(pid, peer) for pid, peer in zip(pids, peers))


def database_held_by_no_agent(state_dir: str) -> str:
    """Why the checkpoint database a reader found locked (`shipper status`) cannot be read, when no agent holds the
    state_dir's lock (its flock listed in /proc/locks; none listed — another pid namespace's are not —, a shared flock
    that cannot be taken): its holders, named. "" when an agent may hold it (then the agent's snapshot stands in).
    Taken for the running agent's, a lock an operator's `sqlite3` held was shown as `daemon: running (pid N)`, N the
    pid the last run wrote (fix13's leftovers)."""
    lock_path, path = os.path.join(state_dir, LOCK_FILE), os.path.join(state_dir, DB_FILE)
    try:
        db = os.stat(path)
        if _lock_holders(os.stat(lock_path), "FLOCK"):
            return ""
        fd = os.open(lock_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return "" if not os.path.exists(path) else _no_agent_holds(path)
    except OSError:
        return ""  # (cannot be told: taken as the agent's)
    try:
        # Shared, and only for as long as this call: an agent starting meanwhile takes a shared flock for no shipper's
        # and replaces the lock file (lock_state_dir); an exclusive one would refuse it.
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return ""
    finally:
        os.close(fd)
    return _no_agent_holds(path, db)


def _no_agent_holds(path: str, db: os.stat_result | None = None) -> str:
    try:
        st = db or os.stat(path)
    except OSError:
        return ""
    pids, peers = _database_lockers(st)
    if any(peer is not None and _is_writer(peer) for peer in peers):
        return ""  # an agent's writer: its lock file alone was removed (a cleaner), and is taken again within seconds
    return (f"it is locked by {_lockers_named(path, pids, peers)}, and no shipper runs on the state_dir (none holds "
            "its lock): the saved positions cannot be read while that lock is held; end that process, or wait until "
            "it ends")


def _described(pid: int, peer: tuple[int, int, list[bytes] | None] | None) -> str:
    if pid <= 0:
        return "an open file description's lock (no pid: `fuser -v` may show its holder)"
    if peer is None:
        return f"pid {pid} (its user and command cannot be read here)"
    _pid, uid, argv = peer
    try:
        import pwd

        user = pwd.getpwuid(uid).pw_name
    except (KeyError, ImportError):
        user = f"uid {uid}"
    # (one line: a `python -c` script's newlines are spaces here)
    command = " ".join(b" ".join(argv or ()).decode(errors="replace").split())[:200] or "?"
    return f"pid {pid} (user {user}: {command})"


# The copy of the database _copy_over (and _create) makes before renaming it into place, and what SQLite may make beside
# it: what a writer killed meanwhile left is removed at the next start (a -wal left there would be read into the next
# copy's pages).
NEW_DB_FILES = tuple(DB_FILE + ".new" + end for end in ("", "-wal", "-shm", "-journal"))


def _copy_over(path: str) -> None:
    """The database copied by SQLite's backup API into a new file (0600, synced) renamed over its name: the old file,
    with the lock held on it and the descriptors open on it, is left to them. Run only while this process holds the
    state_dir's lock (no shipper writes the database meanwhile). Read with SQLite's shared locks (not the exclusive
    mode of _connect, which a read lock refuses): the old WAL's commits are in the copy. The old -wal and -shm go
    after the rename: a kill -9 before it leaves the old database as it was, with its WAL; one after it leaves the old
    WAL beside the copy, whose committed frames are the copy's own pages. A full disk fails the copy, removed (the
    old database is untouched)."""
    folder = os.path.dirname(path) or "."
    tmp = path + ".new"
    _remove(*(os.path.join(folder, name) for name in NEW_DB_FILES))
    try:
        _owners_alone(tmp)
        src = sqlite3.connect(path, isolation_level=None)
        try:
            dst = sqlite3.connect(tmp, isolation_level=None)
            try:
                dst.execute("PRAGMA journal_mode=OFF")  # (a copy half made is removed, never read)
                src.backup(dst)
            finally:
                dst.close()
        finally:
            src.close()
        fd = os.open(tmp, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, path)
    except BaseException:
        _remove(*(os.path.join(folder, name) for name in NEW_DB_FILES))
        raise
    _remove(path + "-wal", path + "-shm")
    dfd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def _remove(*paths: str) -> None:
    for p in paths:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(p)


# SQLite's file header is 100 bytes; a database _create made holds it and its table.
SQLITE_HEADER = 100


def _truncated(size: int) -> sqlite3.DatabaseError:
    """A database file shorter than SQLite's header: damaged (see _create), never new."""
    return sqlite3.DatabaseError(f"file is not a database: {size} bytes, shorter than SQLite's {SQLITE_HEADER}-byte "
                                 "header (truncated)")


def _create(path: str) -> None:
    """Make a new database with its table under a temporary name, then rename it into place: a file
    at `path` is then always one shipper made whole, so a shorter one is damaged, never new (SQLite
    itself takes an empty file for a new database: every checkpoint would be lost without a word)."""
    tmp = path + ".new"
    db = _connect(tmp)
    db.close()  # a clean close of the only connection folds the WAL into the file and removes it
    fd = os.open(tmp, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, path)
    dfd = os.open(os.path.dirname(path) or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def _ident(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


class CheckpointDb:
    """The database and the state_dir's lock, as the writer process holds them."""

    def __init__(self, state_dir: str, agent_pid: int, held: list[int] | None = None):
        """`held`: the lock file's and the claims' descriptors, inherited from the agent (a writer replacing one
        that ended): the locks are the agent's already, not taken again."""
        self.state_dir = state_dir
        self.agent_pid = agent_pid
        self.path = os.path.join(state_dir, DB_FILE)
        self._resolved = os.path.realpath(state_dir)  # where it is: a remake never goes elsewhere (_remake)
        # The sources failing now, as the agent last said (note_failing): in the snapshot, for `shipper status`
        # without the http endpoint.
        self.failing: dict[str, Any] = {}
        if held:
            self._lock_fd = held[0]
            self._claims = [socket.socket(fileno=fd) for fd in held[1:]]
        else:
            self._claims = claim_state_dir(state_dir)  # held for this process's life, through a remake
            try:
                self._lock_fd = lock_state_dir(state_dir, agent_pid)
            except BaseException:
                self._close_claims()
                raise
        for name in os.listdir(state_dir):  # a snapshot's or a new database's file a killed writer left
            if (name.startswith(SNAPSHOT + ".") and name.endswith(".tmp")) or name in NEW_DB_FILES:
                try:
                    os.unlink(os.path.join(state_dir, name))
                except OSError:
                    pass
        try:
            try:
                size = os.stat(self.path).st_size
            except FileNotFoundError:
                _create(self.path)
            else:
                if size < SQLITE_HEADER:
                    raise _truncated(size)
            self._db = _connect_or_copy_over(self.path)
            self._ident = _ident(self.path)
            check = self._db.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise sqlite3.DatabaseError(f"database disk image is malformed: {check}")
            _make_reserve(state_dir)
            self._carry_refused()
        except (sqlite3.DatabaseError, OSError) as e:
            os.close(self._lock_fd)
            self._close_claims()
            if isinstance(e, sqlite3.DatabaseError) and _damaged(e):
                raise StateDirError(f"{self.path}: the checkpoint database is damaged ({e}); stop shipper, move "
                                    f"it aside (mv {self.path} {self.path}.damaged) and start again: sources then "
                                    f"start over from their start_position; {RECOVERY}") from None
            raise StateDirError(f"{self.path}: cannot open the checkpoint database ({e}); "
                                + ("the filesystem holding it is full: free some space; " if _full(state_dir) else
                                   "check that the file and the state_dir are writable by the user shipper runs as; ")
                                + RECOVERY) from None

    def _carry_refused(self) -> None:
        """The rows the last writer could not commit for want of room (shipper.refused_rows), committed now, before
        any source loads its state; still refused, kept (see update). Then the room for this run's refused rows set
        aside."""
        from shipper.refused_rows import RefusedRows  # (by the package's name: this file also runs by path)

        self.refused = RefusedRows(self.state_dir)
        kept = self.refused.read()
        self.refused.set_aside()
        now = time.time()
        for source, rows in kept.items():
            try:
                self._commit(source, list(rows.items()), now)
            except sqlite3.Error:
                self.refused.rows[source] = rows
        if kept:
            self.refused.write()

    def _close_claims(self) -> None:
        for c in self._claims:
            c.close()
        self._claims = []

    def _removed(self) -> bool:
        """The database or the lock file is no longer where the agent opened it (`rm -rf` of the
        state_dir, a tmpfiles cleaner): commits would go into an unlinked file, and a second agent
        would find no lock and ship everything again."""
        if self._lock_fd < 0:
            return False
        return os.fstat(self._lock_fd).st_nlink == 0 or _ident(self.path) != self._ident

    def _remake(self) -> Remade:
        """Make the state_dir again with what the agent knows: the lock taken again first (so a second
        agent is refused, as before), then the deleted database, still open, copied into a new one by
        SQLite's backup API. StateDirGone when that cannot be done: the commits then fail and retry
        (reading paused, /health 503) instead of writing checkpoints nowhere."""
        if (now := os.path.realpath(self.state_dir)) != self._resolved:
            # Replaced by a symlink (or through one of its parents) to another folder, another agent's state_dir
            # perhaps: made again there, that agent's checkpoints were replaced by these (exam27b).
            raise StateDirGone(f"the state_dir {self.state_dir} was removed under the running agent and its path now "
                               f"leads to {now} (a symbolic link put in its place?): not made again there; "
                               f"{RECOVERY}")
        lock_path = os.path.join(self.state_dir, LOCK_FILE)
        held = os.fstat(self._lock_fd)
        if held.st_nlink and _ident(lock_path) == (held.st_dev, held.st_ino):
            fd = os.dup(self._lock_fd)  # only the database went: the lock we hold is still the one on disk
        else:
            fd = -1
        try:
            if fd < 0:
                fd = lock_state_dir(self.state_dir, self.agent_pid, (held.st_dev, held.st_ino))
        except StateDirError as e:
            raise StateDirGone(f"the state_dir was removed under the running agent and cannot be made again: {e}") \
                from None
        if _ident(self.path) == self._ident:
            # Only the lock file went (a tmpfiles cleaner ages it out; the database, written all the time, stays):
            # the lock is taken again and the database is the one open here. Copying it into itself failed
            # "database is locked" and paused reading for good (exam26d).
            os.close(self._lock_fd)
            self._lock_fd = fd
            return LOCK_ONLY
        new = None
        try:
            if _ident(self.path) is None:
                _create(self.path)
            new = _connect(self.path)
            self._db.backup(new)
            ident = _ident(self.path)
        except (sqlite3.Error, OSError) as e:
            if new is not None:
                new.close()
            os.close(fd)
            raise StateDirGone(f"{self.path}: the state_dir was removed under the running agent and the checkpoint "
                               f"database cannot be made again ({e}); {RECOVERY}") from None
        self._db.close()
        os.close(self._lock_fd)
        self._db, self._lock_fd, self._ident = new, fd, ident
        return True

    def ensure_present(self) -> Remade:
        """Check that the state_dir is still there; remake it if it was removed (True then, or LOCK_ONLY when only
        its lock file went: the agent names it loudly). Raises StateDirGone when it cannot be remade."""
        if not self._removed():
            return False
        return self._remake()

    def sync_wal(self) -> None:
        """The WAL's commits made durable (fsync). An error is left to the next commit to meet."""
        try:
            fd = os.open(self.path + "-wal", os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            return  # no WAL: nothing written since the last checkpoint, which synced it
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)

    def note_failing(self, failing: dict[str, Any]) -> None:
        """The sources failing to read now ({name: their last error}), kept for the next snapshot."""
        self.failing = failing

    def names(self) -> list[str]:
        return [row[0] for row in self._db.execute("SELECT DISTINCT source FROM checkpoints")]

    def release_reserve(self, only_if_full: bool = False) -> bool:
        """Give the reserve's space back (a stop on a full disk, or held deleted files that only reading frees:
        the commits fit in it). True if it was there; `only_if_full`: and the filesystem is full now (looked at
        here, in the writer's process: a hung statvfs never holds the agent)."""
        if only_if_full and not _full(self.state_dir):
            return False
        try:
            os.unlink(os.path.join(self.state_dir, RESERVE))
        except FileNotFoundError:
            return False
        return True

    def make_reserve(self) -> bool:
        """Make the reserve again once the filesystem has room for it (after release_reserve at run time).
        True if it is there now."""
        _make_reserve(self.state_dir)
        return os.path.exists(os.path.join(self.state_dir, RESERVE))

    def load(self, source: str) -> list[tuple[str, bytes]]:
        """A source's state: its rows, and over them those refused for want of room and not committed since (the next
        start commits them: a stop's save of what this run read and did not deliver starts from them)."""
        rows = self._db.execute("SELECT key, value FROM checkpoints WHERE source=?", (source,)).fetchall()
        refused = self.refused.rows.get(source)
        if not refused:
            return rows
        merged = dict(rows)
        merged.update(refused)
        return [(k, v) for k, v in merged.items() if v is not None]

    def update(self, source: str, fragment: list[tuple[str, bytes | None]], now: float) -> Remade:
        """Merge a fragment (serialised values; None deletes a key) into a source's state in one
        transaction. True (or LOCK_ONLY) if the state_dir had to be made again first. Raises sqlite3.Error (a full
        disk, an I/O error) with nothing changed: the agent retries. Refused for want of room, the rows are kept
        in the room set aside for them (shipper.refused_rows), for the next start to commit, and committed before
        the fragment's own with the source's next commit that succeeds."""
        remade = self.ensure_present()
        fragment = [*self.refused.rows.get(source, {}).items(), *fragment]
        try:
            self._commit(source, fragment, now)
        except BaseException as e:
            self.refused.refused(source, fragment, e)
            raise
        self.refused.saved(source, fragment)
        return remade

    def _commit(self, source: str, fragment: list[tuple[str, bytes | None]], now: float) -> None:
        cur = self._db.cursor()
        cur.execute("BEGIN")
        try:
            for key, value in fragment:
                if value is None:
                    cur.execute("DELETE FROM checkpoints WHERE source=? AND key=?", (source, key))
                else:
                    cur.execute(
                        "INSERT INTO checkpoints(source, key, value, updated) VALUES (?,?,?,?) "
                        "ON CONFLICT(source, key) DO UPDATE SET value=excluded.value, updated=excluded.updated",
                        (source, key, value, now),
                    )
            cur.execute("COMMIT")
        except BaseException:
            # SQLite may already have rolled back itself (SQLITE_FULL in COMMIT): a second
            # ROLLBACK would raise "no transaction is active" and hide the real error.
            if self._db.in_transaction:
                try:
                    cur.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            raise

    def compact(self) -> None:
        """Keep the state's size flat over months: the WAL emptied and truncated, and the pages freed
        by deleted keys (rotated files' positions) given back when they are a quarter of the file.
        Raises sqlite3.Error (a full disk): nothing is lost, the agent tries again later."""
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        free = self._db.execute("PRAGMA freelist_count").fetchone()[0]
        pages = self._db.execute("PRAGMA page_count").fetchone()[0]
        if free >= 16 and free * 4 >= pages:
            self._db.execute("VACUUM")
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def write_snapshot(self) -> None:
        """Every row, as `shipper status` reads them while the database is locked: written to a
        temporary file, synced and renamed over the last one, so a reader sees a whole snapshot or
        the one before. Values are embedded as saved (JSON text). Mode 0600, like what it copies."""
        rows = self._db.execute("SELECT source, key, value, updated FROM checkpoints ORDER BY source, key").fetchall()
        parts = [f'{{"pid": {self.agent_pid}, "written": {time.time()!r}, "rows": [']
        parts.append(",".join(f"[{json.dumps(s)}, {json.dumps(k)}, {bytes(v).decode()}, {u!r}]" for s, k, v, u in rows))
        parts.append(f"], \"failing\": {json.dumps(self.failing, default=str)}}}\n")
        path = os.path.join(self.state_dir, SNAPSHOT)
        tmp = f"{path}.{os.getpid()}.tmp"
        # Its name is known: whatever is there (left by a killed writer, or a symlink or a FIFO put there)
        # is removed, never written through; O_EXCL|O_NOFOLLOW make the file ours (a symlink planted in
        # between fails the open: tried again at the next snapshot), and O_NONBLOCK never waits on a FIFO.
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, "".join(parts).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, path)

    def locks(self) -> list[int]:
        """The descriptors of the locks held: the lock file's, then the claims'."""
        return [self._lock_fd, *(c.fileno() for c in self._claims)]

    def close(self, clean: bool) -> None:
        """Closed; the snapshot removed after a clean stop (the database is readable itself then)."""
        if clean:
            try:
                os.unlink(os.path.join(self.state_dir, SNAPSHOT))
            except OSError:
                pass
        self._db.close()
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1
        self._close_claims()


OPS = ("names", "load", "update", "ensure_present", "compact", "release_reserve", "make_reserve",
       "note_failing")


def _answer(db: CheckpointDb, op: str, args: tuple[Any, ...]) -> Any:
    if op not in OPS:
        raise StateDirError(f"unknown request {op!r}")
    try:
        return getattr(db, op)(*args)
    except sqlite3.Error as e:
        # SQLite says "disk I/O error" when the filesystem turned read-only under it (ext4's
        # errors=remount-ro after an I/O error, a forced remount): say what it is and what to do.
        if not _read_only(db.state_dir):
            raise
        raise sqlite3.OperationalError(
            f"{e}: the state_dir's filesystem is read-only now (remounted read-only after an error? see the kernel's "
            "log, dmesg); nothing is saved until it is writable again: stop shipper, repair the filesystem and mount "
            f"it read-write, then start it (what was not saved is read again); {RECOVERY}") from None


# The state_dir argument of a writer started ahead (checkpoint.prestart_writer): it comes first on the connection. (Its
# command line still ends with the agent's pid: _claim_holder reads it there. A state_dir is always absolute.)
PRESTARTED = "-"


def serve(fd: int, state_dir: str, agent_pid: int, held: list[int] | None = None) -> None:
    """Answer the agent's requests, ("op", args) → ("ok", value) or ("error", exception), one at a
    time, until it closes its end. The snapshot is written between requests while rows changed.
    `state_dir` PRESTARTED: it comes first on the connection; none (the agent ended, its config refused): it ends."""
    # A terminal's Ctrl-C reaches the whole process group: the agent decides when this one ends.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    conn = Connection(fd)
    if state_dir == PRESTARTED:
        try:
            state_dir = conn.recv()
        except (EOFError, OSError):
            return
    db: CheckpointDb | None = None
    try:
        db = CheckpointDb(state_dir, agent_pid, held)
        # ("ok", n): n lock descriptors follow, for the agent to hold too (none when it gave them to this one)
        answer: tuple[str, Any] = ("ok", 0 if held else len(db.locks()))
    except (StateDirError, OSError, sqlite3.Error) as e:
        answer = ("error", e if isinstance(e, StateDirError) else unwritable(state_dir, e) if isinstance(e, OSError)
                  else StateDirError(f"{state_dir}: {e}"))
    dirty, snapshot_due = True, 0.0
    sync_due: float | None = None  # a commit not synced yet: when it will be (SYNC_EVERY after the first)
    try:
        conn.send(answer)
        if db is not None and not held:
            for lock in db.locks():
                send_handle(conn, lock, agent_pid)
        while db is not None:
            if sync_due is not None and time.monotonic() >= sync_due:
                db.sync_wal()
                sync_due = None
            if dirty and time.monotonic() >= snapshot_due:
                try:
                    db.write_snapshot()
                    dirty = False
                except (sqlite3.Error, OSError):  # a full disk: the commits say so; tried again later
                    pass
                snapshot_due = time.monotonic() + SNAPSHOT_EVERY
            due = min([t for t in (snapshot_due if dirty else None, sync_due) if t is not None], default=None)
            if not conn.poll(None if due is None else max(0.0, due - time.monotonic())):
                continue
            op, args = conn.recv()
            if op == "close":
                db.close(clean=True)
                db = None
                conn.send(("ok", None))
                break
            try:
                value = _answer(db, op, args)
                answer = ("ok", value)
                # a commit, the sources failing, or a state_dir ensure_present made again
                dirty = dirty or op in ("update", "note_failing") or value in REMADE
                if op == "update" and sync_due is None:
                    sync_due = time.monotonic() + SYNC_EVERY
            except (sqlite3.Error, OSError, StateDirError) as e:
                answer = ("error", e)
            if op in REMAKING and answer[0] == "ok" and answer[1] in REMADE:
                # The lock taken again is a new one: the agent holds it too, as it holds the first (exam27b: this
                # writer killed, the old lock the agent held was on a removed file, and a second agent got in).
                conn.send((REMADE_LOCK, answer[1]))
                send_handle(conn, db.locks()[0], agent_pid)
            else:
                conn.send(answer)
    except (EOFError, OSError):
        pass  # the agent ended (or was killed, or left this process behind in a write): the lock goes with it
    finally:
        if db is not None:
            db.close(clean=False)


def main(argv: list[str]) -> None:
    """The writer's process (shipper.checkpoint starts it): `argv` is <fd> <state_dir> <agent's pid> [<held locks>]."""
    serve(int(argv[0]), argv[1], int(argv[2]), [int(x) for x in argv[3].split(",")] if len(argv) > 3 else None)


if __name__ == "__main__":  # run by path (python -I -S): the exceptions sent back must be the package's
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from shipper.checkpoint_db import main as main_from_package

    main_from_package(sys.argv[1:])
