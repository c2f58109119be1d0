"""Three failing examples hypothesis found for tests/tail/test_model.py's HeaderModel (every new file starts with the
same header line), written out step by step so that they replay every run (a fresh hypothesis run rarely finds
them: a worktree's example database kept them, session 18). They failed at d7141d3 too (before session 18). Each
step is followed by the model's two invariants, as hypothesis runs them; the end is the model's teardown check.
Session 19 found their causes, each with a focused test on real files: "invented" and "lost-L21", the writer's next
file at the live name taken for a copy of the start of a content cut in place
(tests/tail/test_copytruncate_live_name_no_copy.py); "lost-L4", the freed inode of such a content given to a
header-only file taken for its copy (tests/tail/test_truncated_content_inode_reused_is_no_copy.py)."""
from __future__ import annotations

import pytest

from shipper.tail import scan_rules
from tests.tail.test_model import HeaderModel

pytestmark = pytest.mark.slow

EXAMPLES = {
    "lost-L4": ("truncate_in_place; log4j_rotate; truncate_in_place; log4j_rotate; append 2; restart; "
                "logrotate_copytruncate; log4j_rotate; log4j_rotate; log4j_rotate; logrotate_copytruncate; "
                "partial_write; read; log4j_rotate; log4j_rotate; log4j_rotate; log4j_rotate; log4j_rotate; frozen 1 1"),
    "invented": ("partial_write; log4j_rotate; append 19; read; logrotate_copytruncate; log4j_rotate; log4j_rotate; "
                 "log4j_rotate; partial_write; read; log4j_rotate; log4j_rotate; log4j_rotate; log4j_rotate; read"),
    "lost-L21": ("partial_write; log4j_rotate; append 19; read; logrotate_copytruncate; log4j_rotate; log4j_rotate; "
                 "log4j_rotate; partial_write; read; log4j_rotate; read"),
}


def _replay(steps: str) -> None:
    state = HeaderModel()
    try:
        for step in steps.split("; "):
            name, *args = step.split()
            if name == "append":
                state.append(k=int(args[0]))
            elif name == "frozen":
                state.frozen(k=int(args[0]), rounds=int(args[1]))
            else:
                getattr(state, name)()
            state.no_key_names_two_lines()
            state.nothing_twice_nothing_invented()
    finally:
        state.teardown()


@pytest.mark.parametrize("steps", list(EXAMPLES.values()), ids=list(EXAMPLES))
def test_header_model_example(monkeypatch, steps):
    monkeypatch.setattr(scan_rules, "MISSING_SECONDS", 0.0)  # as test_model runs it
    _replay(steps)
