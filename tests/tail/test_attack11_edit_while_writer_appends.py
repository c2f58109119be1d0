"""Black-box attack 11 (operator): a live log scrubbed with `sed -i` while its writer (a logging library keeping its
descriptor) is appending: sed copies the file as it is, lines the agent has not read yet included, and renames the
copy over the live name; the writer goes on into the old, deleted file.

Found (by hand 6 of 6, /tmp/af/a20.py: a writer at ~1,000 lines/s, one `sed -i` removing an old line: 4-86 lines
shipped twice, each run; `shipper_losses` 0; the only word is "replaced by an edited copy … the edit is not
shipped"; and with this test): the lines between the agent's last read and sed's copy are read from the old file
(read on to its end) and again from the edited copy. Find 2 of test_attack11_edit_while_frozen.py is the same fault
with the agent frozen; here nothing is frozen. The test makes the window certain with a long `gather_interval`
(the agent waits 5 s after the writer's notification before reading), as a busy agent would.

Promised: docs/design.md case 9: the old file is read on to its end, the edited copy "read on from there (nothing of
it shipped again)", or the repeat warned with its size; README: nothing repeated."""
from __future__ import annotations

import subprocess

from tests.tail.attack_agent import Agent, exactly_once, numbered


def test_lines_not_read_when_sed_copied_the_live_log_are_shipped_once(tmp_path):
    log = tmp_path / "app.log"
    with open(log, "a", buffering=1) as writer:
        writer.write("".join(numbered(i) for i in range(1000)))
        agent = Agent(tmp_path, [log], "    gather_interval: 5\n")
        agent.start()
        try:
            assert agent.wait_delivered(range(1000), 60), exactly_once(agent.seqs(), range(1000))
            writer.write("".join(numbered(i) for i in range(1000, 1200)))  # read 5 s after this notification
            subprocess.run(["sed", "-i", '/"seq": 500,/d', str(log)], check=True)  # copies lines 1000-1199 too
            writer.write("".join(numbered(i) for i in range(1200, 1300)))  # to the old, deleted file
            agent.wait_delivered(range(1300), 60)
            agent.get("/status")  # one more round trip: repeats written right after the last new line show too
        finally:
            agent.stop()
    journal = agent.errors()
    wrong = exactly_once(agent.seqs(), range(1300))
    assert not wrong or "shipped again" in journal, f"{wrong}, no repeat named; journal: {journal[-1500:]}"
