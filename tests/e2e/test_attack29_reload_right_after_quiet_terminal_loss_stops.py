"""Attack 29 (exam29a), on 9d0480a: attack 28's reload after a quiet terminal loss, sent at once instead of 2 s later.
`shipper run … &` typed in an ssh session's shell, then `exit` (no SIGHUP to the job: huponexit is off; the same after
`disown`): the kernel takes the controlling terminal away from the agent without a signal. A moment later — a
configuration tool's next step over another connection, or an operator who edits the config and reloads in one line —
`kill -HUP` asks for a reload. Sent within the half second before the agent's main loop looks at its terminal again,
it is taken for "the first SIGHUP after the controlling terminal is gone": `the terminal hung up (SIGHUP): stopping as
at SIGTERM`, and the agent ends; no terminal hung up then, and nothing restarts it. 3 of 3 with the SIGHUP sent as soon
as /proc shows the terminal gone; 2 of 2 reloaded with it sent 1 s later (attack 28's test waits 2 s). The signal says
who sent it (siginfo: a hang-up's SIGHUP comes from the kernel, or from the session's shell passing it on; this one from
a process of another session), which the agent does not ask. A plain xfail: whether the SIGHUP lands before the
agent's next look at its terminal is a matter of timing (its look is twice a second; a loaded host widens or narrows
the window). What should hold: a SIGHUP that did not come from the terminal's hang-up is a reload, however soon after
the terminal went away quietly."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.quiet_terminal import agent_of_a_session, controlling_tty
from tests.support import wait

pytestmark = pytest.mark.slow  # (a session's life and a reload: seconds of waits)


@pytest.mark.xfail(reason="an operator's SIGHUP right after the terminal went away quietly is taken for the hang-up "
                   "and stops the agent (exam29a, 3 of 3 by hand; timing: the agent looks at its terminal twice a "
                   "second)")
def test_a_reload_right_after_the_terminal_went_away_quietly_is_a_reload(tmp_path: Path) -> None:
    with agent_of_a_session(tmp_path) as session:
        assert session.shipped(5, 60), "the agent did not ship"
        session.end()
        assert wait(lambda: controlling_tty(session.agent) == 0, 10, every=0.01), "the agent kept its terminal"
        shipped, running = session.reload_then_append()
    journal = session.err.read_text()
    assert "terminal hung up" not in journal, f"a reload was taken for a hang-up: {journal[-800:]}"
    assert running and shipped, f"the agent did not run on after a reload: {journal[-800:]}"
