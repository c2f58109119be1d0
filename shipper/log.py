"""The agent's own logs: structured (logfmt or JSON) on stderr, for journald.

When stderr is the journal (systemd sets JOURNAL_STREAM to its device:inode), each line starts with
sd-daemon's `<N>` priority prefix, so `journalctl -p warning` shows warnings and errors (systemd
strips the prefix; SyslogLevelPrefix= is on by default). faulthandler is enabled, so the watchdog's
SIGABRT (or a crash in C) leaves every thread's traceback in the journal. No thread that logs ever waits on stderr:
a pipe, socket or terminal is written non-blocking (shipper.journal_pipe), a regular file by a process of its own
(shipper.journal_file), what they cannot take now held in a bounded backlog (shipper.journal_backlog)."""
from __future__ import annotations

import errno
import faulthandler
import logging
import os
import sys
import threading
import time

import orjson

from shipper.journal_file import FileJournal, file_journal
from shipper.journal_pipe import stalled_reader_stream
from shipper.journal_stderr import StderrJournal
from shipper.journal_syslog import KernelLogOnly, SyslogStream, take_broken_stderr
from shipper.secrets import redact, redact_obj

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


def _logfmt_value(v) -> str:
    s = redact(str(v))  # a dsn or URL in a message or an error keeps its password
    if s == "" or any(c in s for c in ' "=\n\t'):
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return s


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        parts = [f"level={record.levelname.lower()}", f"logger={record.name}", f"msg={_logfmt_value(record.getMessage())}"]
        for k, v in record.__dict__.items():
            if k not in _RESERVED and not k.startswith("_"):
                parts.append(f"{k}={_logfmt_value(v)}")
        if record.exc_info:
            parts.append(f"exc={_logfmt_value(self.formatException(record.exc_info))}")
        return " ".join(parts)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {"level": record.levelname.lower(), "logger": record.name, "msg": record.getMessage()}
        for k, v in record.__dict__.items():
            if k not in _RESERVED and not k.startswith("_"):
                doc[k] = v
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(redact_obj({k: v if isinstance(v, (str, int, float, bool, type(None), dict, list))
                                        else str(v) for k, v in doc.items()})).decode()


# sd-daemon(3) priorities: <3> error, <4> warning, <6> info, <7> debug.
_PRIORITY = {logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4, logging.INFO: 6, logging.DEBUG: 7}


def stderr_is_journal(stream=None) -> bool:
    """True when `stream` (stderr) is the journal stream systemd named in JOURNAL_STREAM."""
    value = os.environ.get("JOURNAL_STREAM", "")
    dev, sep, ino = value.partition(":")
    if not sep or not dev.isdigit() or not ino.isdigit():
        return False
    try:
        st = os.fstat((stream or sys.stderr).fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return st.st_dev == int(dev) and st.st_ino == int(ino)


class PriorityPrefix(logging.Formatter):
    """Wraps a formatter: `<N>` before each line, N the record's syslog priority."""

    def __init__(self, inner: logging.Formatter):
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        prio = _PRIORITY.get(record.levelno)
        if prio is None:
            prio = 3 if record.levelno > logging.WARNING else 4 if record.levelno > logging.INFO else 6
        return f"<{prio}>" + self.inner.format(record).replace("\n", "\\n")


def setup(level: str = "info", fmt: str = "logfmt") -> None:
    if not faulthandler.is_enabled():
        faulthandler.enable(all_threads=True)  # SIGABRT/SIGSEGV: tracebacks on stderr (the journal)
    # A pipe's, socket's or terminal's reader that stalls must not hold the threads that log (exam28): journal_pipe;
    # nor a file on a frozen filesystem (exam29a): journal_file, a writer process of its own.
    stream = file_journal(stalled_reader_stream(sys.stderr))
    if isinstance(stream, FileJournal):
        sys.stderr = stream  # (the run's last line, click's and Python's own words on stderr: through it too)
    handler = JournalHandler(stream)
    formatter = JsonFormatter() if fmt == "json" else LogfmtFormatter()
    if isinstance(stream, StderrJournal):
        stream.line_of = lambda text, level=logging.ERROR: formatter.format(
            logging.LogRecord("shipper.log", level, __file__, 0, text, None, None))
    if isinstance(stream, FileJournal):
        stream.look_at_its_name()  # (a reload: logrotate `create` moved it, or it was deleted)
    # (A closed stderr's journal is syslog: shipper.journal_syslog reads the prefix for each line's priority.)
    prefixed = stderr_is_journal() or isinstance(sys.stderr, SyslogStream)
    handler.setFormatter(PriorityPrefix(formatter) if prefixed else formatter)
    root = logging.getLogger("shipper")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
    # A library's warning with no handler of its own (watchdog's "Unable to watch …: inotify watch limit
    # reached") went to logging's last-resort handler: a raw line among the structured ones. The same
    # records, no more (WARNING and up, libraries with a NullHandler stay quiet), now in the agent's format.
    last_resort = JournalHandler(stream)
    last_resort.setFormatter(handler.formatter)
    last_resort.setLevel(logging.WARNING)
    logging.lastResort = last_resort


# Errors writing stderr that move the journal elsewhere: its reader gone, or its file's disk full or failing
# (`StandardError=append:` on a /var/log filled by the very logs shipper follows), where every later line was dropped.
BROKEN = frozenset({errno.EPIPE, errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO})


class JournalHandler(logging.StreamHandler):
    """The journal's handler: on stderr, until its reader goes away (EPIPE) or its file cannot be written (ENOSPC,
    EIO), then where journal_syslog.take_broken_stderr sends it (syslog), the line that met the break sent there
    first."""

    def handleError(self, record: logging.LogRecord) -> None:
        e = sys.exc_info()[1]
        if not isinstance(e, OSError) or e.errno not in BROKEN:
            super().handleError(record)
            return
        broken = self.stream
        stream = take_broken_stderr()
        for handler in (*logging.getLogger("shipper").handlers, logging.lastResort):
            if isinstance(handler, JournalHandler):
                handler.moved_to(stream)
        # The lines a file's writer had not written when the file broke go there too (shipper.journal_file).
        unwritten = broken.take_unwritten() if isinstance(broken, FileJournal) else []
        if isinstance(stream, SyslogStream):
            why = ("the reader of standard error went away (EPIPE)" if e.errno == errno.EPIPE else
                   f"standard error cannot be written ({e.strerror}; its line may be cut there)")
            logging.getLogger("shipper.log").warning(
                f"{why}: the journal goes to syslog (%s) from here"
                + (f"; the {len(unwritten)} lines its file did not take follow" if unwritten else ""), stream.path)
        for line in unwritten:
            stream.write(line)
        self.emit(record)

    def moved_to(self, stream) -> None:
        self.acquire()  # (setStream would flush the broken stream first)
        try:
            self.stream = stream
            # (the kernel's log, with no syslog socket, takes the warnings and errors: told by the same prefix)
            if isinstance(stream, (SyslogStream, KernelLogOnly)) and not isinstance(self.formatter, PriorityPrefix):
                self.setFormatter(PriorityPrefix(self.formatter or logging.Formatter()))
        finally:
            self.release()
        if isinstance(stream, SyslogStream):
            faulthandler.enable(stream, all_threads=True)


class Throttled:
    """First failure logged at once, then at most one summary per interval: no log storm in an outage."""

    def __init__(self, logger: logging.Logger, interval: float = 60.0):
        self.logger = logger
        self.interval = interval
        self._lock = threading.Lock()
        self._failing = False
        self._count = 0
        self._last = 0.0

    def failure(self, msg: str, _exc_info: BaseException | None = None, **fields) -> None:
        """A failure: the first is logged at once (a warning, with `_exc_info`'s traceback if given),
        then `still failing: msg` at most once per interval. `fields` go to the log line."""
        now = time.monotonic()
        with self._lock:
            self._count += 1
            if not self._failing:
                self._failing, self._last = True, now
                self.logger.warning(msg, extra=fields, exc_info=_exc_info)
            elif now - self._last >= self.interval:
                self.logger.warning(f"still failing: {msg}", extra={**fields, "failures": self._count})
                self._last = now

    @property
    def failing(self) -> bool:
        """A failure was logged and no recovery since."""
        return self._failing

    def recovered(self, msg: str, **fields) -> None:
        """It works again: `msg` logged once (info) with the count of failures, if any were logged."""
        with self._lock:
            if self._failing:
                self.logger.info(msg, extra={**fields, "failures": self._count})
            self._failing, self._count = False, 0
