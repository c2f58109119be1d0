"""Attack 30 (issue 21, examiner exam30b): a second source whose paths match a followed log's rotated names
(`app.log.*`, `*.gz`: an archive source) ships every line of a `create` + `compress` rotation a second time while the
agent runs, with no warning.

README ("Following files through rotation"): "A file that two sources' `paths` both match is shipped by each (every
line twice): a warning names the file and the other source." It is: with plain `create` or `copytruncate`
("app.log.1 is followed by source(s) other too: each ships its lines (every line twice); narrow `paths` or `exclude`
so that one source has it"), and with `compress` across a stop (naming app.log.1.gz). While the agent runs, logrotate
`create` + `compress` renames app.log to app.log.1 and gzip replaces it with app.log.1.gz at once: the source `app`
reads the renamed file to its end through its descriptor, the source `archive` reads app.log.1.gz (its glob matches
it) from its start — all 250 lines twice, under two sources' ids — and nothing is said (with `app.log.[0-9]*` once a
false "data lost … app.log.1 (the whole file …) … deleted … before it could be read" instead, its lines being in the
.gz that source read).

Found by hand: `app.log.*` 2 of 2, `*.1` 2 of 2, `app.log.[0-9]*` 2 of 2 (1 with the false loss), 250 of 250 lines
twice, no overlap warning; plain `create` and `copytruncate` running or stopped, and `compress` stopped, warn (0 of 15
silent). In this test (`app.log.*`, `*.gz`) 1 of 1 each. `copytruncate` + `compress` while the agent runs is the same
(250 of 250 twice, no warning: 2 of 2 by hand, `app.log.*` and `*.gz`; plain `copytruncate` warns); in 4 runs of the
four cases one case passed once, and a fifth run the `app.log.*` copytruncate one again (a scan meeting the plain copy before gzip replaces it
warns as for plain copytruncate): those are plain xfails, timing-dependent.
"""
from __future__ import annotations

import time

import pytest

from tests.tail.attack_agent import Agent, exactly_once, logrotate_of, numbered

_CREATE, _COPYTRUNCATE = "create\nrotate 3\ncompress", "copytruncate\nrotate 3\ncompress"
_UNWARNED = pytest.mark.xfail(strict=True, reason=(
    "exam30b: a second source matching the rotated names (app.log.*, *.gz) of a log rotated with create+compress "
    "while the agent runs ships all 250 lines a second time from app.log.1.gz, and no warning names the overlap "
    "(README promises one; plain create, copytruncate and compress across a stop warn)"))
# timing: a scan that meets the plain copy app.log.1 (or, with `create`, the renamed log: the file sources claim files
# by inode too, tail30) before gzip replaces it warns as for a plain rotation: 3 of 3 alone with create
_TIMING = pytest.mark.xfail(strict=False, reason=(
    "exam30b: the same; warned when the second source lists app.log.1 before gzip deletes it, which depends on timing "
    "(copytruncate+compress passed 2 of 7 runs with app.log.*)"))


@pytest.mark.parametrize("archive_glob, directives", [
    pytest.param("app.log.*", _CREATE, marks=_TIMING),
    pytest.param("*.gz", _CREATE, marks=_UNWARNED),
    pytest.param("app.log.*", _COPYTRUNCATE, marks=_TIMING),
    pytest.param("*.gz", _COPYTRUNCATE, marks=_TIMING),
], ids=["app.log.*-create", "*.gz-create", "app.log.*-copytruncate", "*.gz-copytruncate"])
def test_a_second_source_matching_compressed_backups_is_warned(tmp_path, archive_glob, directives):
    logs = tmp_path / "logs"
    logs.mkdir()
    live = logs / "app.log"
    live.write_text("".join(numbered(i) for i in range(200)))
    agent = Agent(tmp_path, [live])
    agent.cfg.write_text(agent.cfg.read_text().replace("outputs:", f"""  - name: archive
    type: file
    paths: ["{logs}/{archive_glob}"]
    parser: json
    poll_interval: 0.2
outputs:"""))
    agent.start()
    try:
        assert agent.wait_delivered(range(200)), agent.errors()
        time.sleep(1)
        with open(live, "a") as f:
            f.write("".join(numbered(i) for i in range(200, 250)))
        logrotate_of(tmp_path, live, directives)()
        with open(live, "a") as f:
            f.write("".join(numbered(i) for i in range(250, 300)))
        assert agent.wait_delivered(range(300)), agent.errors()
        time.sleep(3)  # whatever else either source reads or says
    finally:
        agent.stop()
    twice = exactly_once(agent.seqs(), range(300))
    warned = [ln for ln in agent.errors().splitlines()  # naming the file and the other source; a loss is no such word
              if "level=warning" in ln and "app.log.1" in ln and "archive" in ln and "data lost" not in ln]
    assert twice == "" or warned, f"shipped twice, no warning: {twice}"
