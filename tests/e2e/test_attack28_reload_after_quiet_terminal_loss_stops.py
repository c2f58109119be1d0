"""Attack 28 (exam28): an operator's reload taken for a terminal's hang-up. `shipper run … > out 2> err &` typed in an
ssh session's shell, then `exit` (bash sends no SIGHUP to its jobs at a plain exit: huponexit is off by default; the
same after `disown`, or a dropped connection with the job disowned): the agent runs on in the background, and the
kernel takes the controlling terminal away from it when the session's leader ends, without a signal (the job is not
in the terminal's foreground process group). Days later the operator edits the config and sends SIGHUP, as
docs/operations.md says a reload is asked for ("a `kill -HUP` … leaves [the terminal] as it was"). The agent takes it
for "the first SIGHUP after the controlling terminal is gone", warns `the terminal hung up (SIGHUP): stopping as at
SIGTERM` — no terminal hung up then — and stops, exit 0 (`stopped delivered=True`): the reload is a stop, and every
line written after it waits, unshipped, until someone notices the agent is gone. 2 of 2 by hand (the shell living 8 s
and 2 s before its exit), the agent ended within 5 s of the SIGHUP both times. What should hold: a SIGHUP is a
hang-up only when it comes from the terminal's hang-up; one that comes long after the terminal went away without a
word is the operator's, a reload."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.quiet_terminal import agent_of_a_session, controlling_tty
from tests.support import wait

pytestmark = pytest.mark.slow  # (a session's life and a reload: seconds of waits)


def test_a_reload_long_after_the_terminal_went_away_quietly_is_a_reload(tmp_path: Path) -> None:
    with agent_of_a_session(tmp_path) as session:
        session.end()
        assert session.shipped(5, 60), session.err.read_text()[-800:]
        assert wait(lambda: controlling_tty(session.agent) == 0, 10), "the agent kept its terminal"
        time.sleep(2)
        shipped, running = session.reload_then_append()
    journal = session.err.read_text()
    assert "terminal hung up" not in journal, f"a reload was taken for a hang-up: {journal[-800:]}"
    assert running and shipped, f"the agent did not run on after a reload: {journal[-800:]}"
