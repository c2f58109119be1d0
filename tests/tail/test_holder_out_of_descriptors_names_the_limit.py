"""Issue 13 (fix13 noticed, session 23): a holder that meets EMFILE opening a rotated file as it appears does not hold
it, as when its budget is full; the file is deleted before it is read, an escape. The loss named the holder "behind"
("rotations faster than the agent could open them: it was behind, starved of CPU, or frozen") while the cause was the
process's descriptor limit: the warning must send the operator to LimitNOFILE, not to the CPU.

The agent's descriptor accounting keeps a whole agent from EMFILE in its holder (tests/tail/test_attack20_descriptor_
exhaustion_escape_count.py), so the holder runs here in a process of its own under a low limit, every descriptor
below it taken while three files are created under the live name and rotated away (MaxBackupIndex 1)."""
from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
from pathlib import Path

from shipper.tail.holder import Escapes
from tests.tail.test_live import Live

HOLDER_OUT_OF_DESCRIPTORS = textwrap.dedent("""
    import json, os, resource, sys
    from shipper.tail.holder import Holder
    from tests.tail.test_hold import rotate
    log = sys.argv[1]
    open(log, "w").close()
    holder = Holder(max_files=100)
    holder.settle = 0  # what is owed is an escape once it outlasts one take (not 3 s)
    assert holder.start()
    holder.follow({log}, set())
    limits = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, limits[1]))
    fillers = []
    with holder.paused():  # the events wait: the holder handles them below, out of descriptors
        for i in range(3):
            rotate(log, 1)
            with open(log, "w") as fh:
                fh.write(f"file {i}\\n")
        try:
            while True:  # every descriptor below the limit taken
                fillers.append(os.open(os.devnull, os.O_RDONLY))
        except OSError:
            pass
    _, first = holder.take()  # (the thread handled the queued events on leaving paused(), under the lock)
    for fd in fillers:
        os.close(fd)
    resource.setrlimit(resource.RLIMIT_NOFILE, limits)
    rotate(log, 1)  # the files it could not hold are gone now: app.log.1 is the last of the three
    _, later = holder.take()
    holder.stop()
    escaped = {**first, **later}
    print(json.dumps({fam: [int(n), n.least, n.budget, getattr(n, "descriptors", False)] for fam, n in escaped.items()}))
""")


def test_a_holder_out_of_descriptors_names_the_descriptor_limit(tmp_path: Path, caplog) -> None:
    d = tmp_path / "logs"
    d.mkdir()
    log = str(d / "app.log")
    out = subprocess.run([sys.executable, "-c", HOLDER_OUT_OF_DESCRIPTORS, log], capture_output=True, text=True,
                         timeout=120, cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 0, out.stderr
    assert "out of file descriptors" in out.stderr, out.stderr  # the holder's own warning, once
    escaped = json.loads(out.stdout)
    assert list(escaped) == [log], escaped
    most, least, budget, descriptors = escaped[log]
    assert most >= 1 and least >= 1, escaped  # files created under the live name that nobody met
    assert descriptors, f"the escape does not say the holder was out of descriptors: {escaped}"
    # How the tailer words it: the descriptor limit, not a holder behind.
    live = Live(tmp_path, [log])
    t = live.source.tailer
    t.prospector.families.add(log)
    caplog.set_level(logging.WARNING)
    t.ledger.escapes({log: Escapes(most, least, budget, descriptors=descriptors)}, t.prospector.families)
    msgs = [r.getMessage() for r in caplog.records if "data lost" in r.getMessage()]
    assert len(msgs) == 1 and t.losses == 1, msgs
    assert "LimitNOFILE" in msgs[0] and "out of file descriptors" in msgs[0], msgs
    assert "behind" not in msgs[0] and "hold_max_files" not in msgs[0], msgs
