"""Attack on `shipper verify` (issue 18): the auditor reads verify's answer in a terminal, and parts
of that answer come from the trail (an altered event's `event.id`). Whoever alters an event also
chooses that id. A carriage return, a line feed, a backspace, ESC sequences (ESC c resets the
terminal and clears the screen, ESC M moves up a line; click strips CSI sequences such as ESC[8m,
which hides all that follows, "NOT VERIFIED" too, only when stdout is not a terminal) and C1
controls reach the auditor's terminal as written: the attacker writes lines of their own into the
report ("...: intact") and wipes or hides what verify said."""
from __future__ import annotations

import orjson

from tests.core.test_integrity import shipped, verify


def test_control_characters_from_the_trail_do_not_reach_the_report(tmp_path):
    capture, lines = shipped(tmp_path, n=5)
    evs = [orjson.loads(ln) for ln in lines]
    payloads = ["\x1bc", "x\ry", "x\nchain vm/dm: sequences 1-7, 7", "\x1bM\x1bM", "\u009b8m", "x\by"]
    for i, payload in enumerate(payloads, start=1):  # links 2..: each altered and given a hostile id
        evs[i]["event"]["id"] = payload
        evs[i]["message"] = "altered"
    capture.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in evs))
    r = verify(tmp_path, capture)
    assert r.returncode == 1, r.stdout
    report = r.stdout
    assert report.count("altered: sequence") == len(payloads), report
    for control in ("\r", "\b", "\x1b", "\u009b"):
        assert control not in report, repr(report)
    # every line of the report is verify's own: an injected line feed starts no line of the attacker's
    assert not any(ln.startswith("chain vm/dm: sequences 1-7, 7") for ln in report.splitlines()[1:]), report
