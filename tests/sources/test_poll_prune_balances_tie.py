"""A commit stamped in the cursor's last second, added while pruning removed as many old commits (the total
unchanged), sorted before the commits of that second already shipped: the page from the cursor's last second
(asked by offset) then started one commit into that second and held exactly the commits shipped. The source
saw nothing new and lost the commit (found by the ties-reordered property test). Both orders of the second."""
from __future__ import annotations

from collections import Counter

import pytest

from shipper_plugins.sources.http_poll_cursor import Cursor, Listed
from tests.peers.puppet_activity_api import PuppetActivityAPI
from tests.sources.test_http_poll_source import Harness, messages


class NewestFirstInASecond(PuppetActivityAPI):
    """Orders one second's commits newest first (`reverse`) or oldest first; the stored history keeps its order."""

    reverse = False

    def _answer(self, *args, **kwargs):
        with self.lock:
            kept = self.commits
            if self.reverse:  # stable sort by time: within a second, the reversed order
                self.commits = sorted(reversed(kept), key=lambda c: c.time)
        try:
            return super()._answer(*args, **kwargs)
        finally:
            with self.lock:
                self.commits = kept


@pytest.mark.parametrize("reverse", [False, True], ids=["oldest-first", "newest-first"])
def test_a_tie_added_while_pruning_keeps_the_total_is_shipped(tmp_path, reverse):
    with NewestFirstInASecond(tmp_path, tls=False) as api:
        api.reverse = reverse
        h = Harness(api, tmp_path, services=["rbac"], page_size=1)
        api.add("rbac", ["rbac commit 0"])
        api.add("rbac", ["rbac commit 1"])
        h.run_once()
        api.prune_oldest("rbac", 1)
        api.add("rbac", ["rbac commit 2"], same_second=True)  # stamped like commit 1
        h.cfg["page_size"] = 3
        h.run_once()
        assert Counter(messages(h.records)) == Counter(["rbac commit 0", "rbac commit 1", "rbac commit 2"])


def test_a_checkpoint_taken_is_not_changed_by_the_pages_read_after_it(tmp_path):
    """A batch's checkpoint is written when the batch is acknowledged, after later pages were read: it held the
    cursor's own lists, so after a kill -9 commits never delivered counted as shipped ("listed again") and were
    lost (seen in the kill -9 test). The checkpoint is the cursor as it was when its page was read."""
    with PuppetActivityAPI(tmp_path, tls=False) as api:
        api.add("rbac", ["a"])
        api.add("rbac", ["b"], same_second=True)
        commits = [c.v2() for c in api.commits]
    cur = Cursor()
    cur.take(Listed.of(commits[0]), keep=1000)
    saved = cur.to_state()
    cur.take(Listed.of(commits[1]), keep=1000)
    assert Cursor.from_state(saved).to_state() == saved
    assert len(saved["recent"]) == 1 and len(saved["tail"]) == 1 and saved["offset"] == 1
