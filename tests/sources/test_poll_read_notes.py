"""Commits read and handed on but not delivered before a stop are noted (`read:` keys); the next run calls them lost
if the listing, read to its end, no longer has them. A run that meets them again and delivers some, then stops
(a crash, a reload restarting the source), must leave a note of only the ones not delivered yet: the first note
kept every commit, so the run after called the delivered ones lost (found by attack 11 after a reload)."""
from __future__ import annotations

import logging
import threading

from shipper.plugin import RawBatch, SourceContext
from shipper_plugins.sources.http_poll import HttpPollSource, HttpPollSourceConfig
from tests.peers.puppet_activity_api import PuppetActivityAPI
from tests.sources.test_http_poll_source import Harness, messages


class AcksSome(Harness):
    """Acknowledges the first `acks` batches of a run (None: all), then stops the source, as if the agent died
    after them; notes are saved at once, as the agent saves them before handing a batch on."""

    acks: int | None = None

    def emit(self, batch: RawBatch) -> None:
        if self.acks is not None:
            if self.acks <= 0:
                self.stopped.set()
                return
            self.acks -= 1
        super().emit(batch)

    def source(self, once: bool = True, stop: threading.Event | None = None) -> HttpPollSource:
        cfg = HttpPollSourceConfig.model_validate(self.cfg)
        self.stopped = stop or threading.Event()
        ctx = SourceContext(name="pe", emit=self.emit, stop=self.stopped, once=once,
                            state=dict(self.state), state_dir=str(self.tmp), logger=self.logger,
                            note=self.state.update)
        return HttpPollSource(cfg, ctx)


def test_a_run_that_delivers_part_of_the_noted_commits_leaves_a_note_of_the_rest(tmp_path, caplog):
    with PuppetActivityAPI(tmp_path, tls=False) as api:
        h = AcksSome(api, tmp_path, services=["rbac"], page_size=3)
        for i in range(6):
            api.add("rbac", [f"change {i}"])
        h.acks = 0
        h.run_once()  # read, handed on, never delivered: noted
        assert [k for k in h.state if k.startswith("read:")]
        h.acks = 1
        delivered = h.run_once()  # the first page delivered, then the agent died before reading on
        h.acks = None
        with caplog.at_level(logging.WARNING, logger="test.http_poll"):
            rest = h.run_once()
    assert delivered == [f"change {i}" for i in range(3)] and rest == [f"change {i}" for i in range(3, 6)]
    lost = [r.getMessage() for r in caplog.records if "lost" in r.getMessage()]
    assert not lost, lost
    assert not [k for k, v in h.state.items() if k.startswith("read:") and v is not None]  # all settled
    assert messages(h.records) == [f"change {i}" for i in range(6)]


def test_a_note_saved_before_ranks_and_common_digests_is_still_met(tmp_path, caplog):
    """Notes of an older agent name commits by their whole-commit digest, [ts, digest]: met again, not lost."""
    from shipper_plugins.sources.http_poll_cursor import whole_digest

    with PuppetActivityAPI(tmp_path, tls=False) as api:
        h = AcksSome(api, tmp_path, services=["rbac"], page_size=3)
        for i in range(3):
            api.add("rbac", [f"change {i}"])
        h.acks = 0
        h.run_once()
        whole = {c.events[0]["message"]: whole_digest(c.v2()) for c in api.commits}
        for key, note in h.state.items():
            if key.startswith("read:") and note:
                note["commits"] = [[ts, whole[f"change {i}"]] for i, (ts, *_rest) in enumerate(note["commits"])]
        h.acks = None
        with caplog.at_level(logging.WARNING, logger="test.http_poll"):
            assert h.run_once() == [f"change {i}" for i in range(3)]
    assert not [r.getMessage() for r in caplog.records if "lost" in r.getMessage()]
