"""The agent's stderr is structured throughout: a library's own warning (one with no handler of its own)
comes out in the agent's format, naming the library's logger, not as a raw line."""
from __future__ import annotations

import subprocess
import sys

# watchdog's inotify observer logs this itself when the user's inotify watches are used up.
_LIBRARY_WARNING = (
    "import logging\n"
    "from shipper import log\n"
    "log.setup('info', {fmt!r})\n"
    "logging.getLogger('watchdog.observers.inotify').warning('Unable to watch %r: %s', b'/var/log/app', "
    "'[Errno 28] inotify watch limit reached')\n"
    "logging.getLogger('urllib3.connectionpool').info('a library info line stays quiet')\n"
)


def _stderr_of(fmt: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", _LIBRARY_WARNING.format(fmt=fmt)], capture_output=True,
                          text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    return done.stderr.splitlines()


def test_a_library_warning_is_logfmt_naming_its_logger():
    lines = _stderr_of("logfmt")
    assert len(lines) == 1, lines
    assert lines[0].startswith("level=warning logger=watchdog.observers.inotify msg="), lines
    assert "inotify watch limit reached" in lines[0]


def test_a_library_warning_is_json_when_the_agent_logs_json():
    import json

    lines = _stderr_of("json")
    assert len(lines) == 1, lines
    doc = json.loads(lines[0])
    assert doc["level"] == "warning" and doc["logger"] == "watchdog.observers.inotify"
    assert "inotify watch limit reached" in doc["msg"]
