"""The polling sources name what they lost (SourceContext.lost), as the file source names a file: with
integrity on, the next attestation lists it under `shipper.attestation.lost` and `shipper verify`
prints it (issue 18). Puppet (http_poll): commits stamped before ones already shipped, after a clock
step; Azure (Azurite): a blob deleted and re-created before it was read to its end."""
from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

from shipper.plugin import SourceContext
from shipper_plugins.sources.azure_blob import AzureBlobSource, AzureBlobSourceConfig
from shipper_plugins.sources.http_poll import HttpPollSource, HttpPollSourceConfig
from tests.peers.puppet_activity_api import PuppetActivityAPI
from tests.sources.test_azure_blob import Harness as AzureHarness, blob_at, fresh_container, now_hour, record
from tests.sources.test_http_poll_source import Harness as PollHarness, fill


class _Named:
    def __init__(self) -> None:
        self.lost: list[tuple[str, int]] = []

    def __call__(self, what: str, nbytes: int) -> None:
        self.lost.append((what, nbytes))


def test_puppet_commits_lost_to_a_clock_step_are_named(tmp_path):
    named = _Named()

    class Harness(PollHarness):
        def source(self, once: bool = True, stop: threading.Event | None = None) -> HttpPollSource:
            ctx = SourceContext(name="pe", emit=self.emit, stop=stop or threading.Event(), once=once,
                                state=dict(self.state), state_dir=str(self.tmp), logger=self.logger, lost=named)
            return HttpPollSource(HttpPollSourceConfig.model_validate(self.cfg), ctx)

    with PuppetActivityAPI(tmp_path) as api:
        fill(api, "rbac", 0, 10)
        h = Harness(api, tmp_path, services=["rbac"], page_size=4, resync_commits=4)
        h.run_once()
        assert named.lost == []
        api._clock -= timedelta(hours=1)
        fill(api, "rbac", 10, 5)
        h.run_once()
    assert len(named.lost) == 1, named.lost
    what, nbytes = named.lost[0]
    assert what.startswith("service rbac: 5 commit(s) stamped before ") and nbytes == 0, what


def test_an_azure_blob_recreated_before_it_was_read_to_its_end_is_named(azurite, tmp_path):
    named = _Named()

    class Harness(AzureHarness):
        def source(self, once: bool = True, stop: threading.Event | None = None) -> AzureBlobSource:
            ctx = SourceContext(name="dbx", emit=self.emit, stop=stop or threading.Event(), once=once,
                                state=dict(self.state), state_dir=str(self.tmp), logger=logging.getLogger("test.azure"),
                                lost=named)
            return AzureBlobSource(AzureBlobSourceConfig.model_validate(self.cfg), ctx)

    c = fresh_container(azurite)
    h = Harness(azurite, tmp_path, containers=[c])
    name = blob_at(now_hour())
    azurite.append(c, name, record() + record() + record().rstrip(b"\n"))  # the last line not yet complete
    assert len(h.once()) == 2
    azurite.container(c).delete_blob(name)
    time.sleep(1.1)  # Azure's creation time has a resolution of one second
    azurite.append(c, name, record())
    assert len(h.once()) == 1
    assert len(named.lost) == 1, named.lost
    what, nbytes = named.lost[0]
    assert what.startswith(f"{c}/{name} (deleted and re-created") and nbytes == 0, what
