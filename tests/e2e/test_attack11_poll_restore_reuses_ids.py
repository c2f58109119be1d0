"""Black-box attack 11: Puppet Enterprise's activity database is restored from a backup (docs/operations.md,
http_poll: a restore drops the newest commits), then new commits are made. The source sees the history move and
ships the new commits. Promised (README, Fluentd `id_field`): each record carries "its event's stable id" in
`_shipper_id`, for `id_key _shipper_id` in fluent-plugin-elasticsearch "so a Fluentd → Elasticsearch tier drops
replays" (stdout's `id_field` likewise, for a reader that drops a replay's repeats by it). Found: the id follows
the commit's offset in the service's listing, not the commit: the 3 new commits take the offsets of the 3 the
restore dropped and carry their ids (3 of 3), so such a tier takes them for replays: it drops them, or (an
`index` write) overwrites the stored old commits with them. Nothing is warned beyond "history moved". The
Elasticsearch output itself holds (a 409 with other content is stored under a content id, warned). Fixed: the key
is the commit's digest and rank among identical commits (501026f)."""
from __future__ import annotations

from tests.e2e.poll_setup import run_once, write_poll_config
from tests.peers.forward_server import ForwardServer
from tests.peers.puppet_activity_api import PuppetActivityAPI


def test_commits_made_after_a_restore_carry_ids_of_their_own(tmp_path):
    fluentd = ForwardServer().start()
    try:
        with PuppetActivityAPI(tmp_path, tls=False) as api:
            cfg = write_poll_config(tmp_path, api, [f"{{type: fluentd, name: fd, host: 127.0.0.1, port: {fluentd.port}}}"],
                                    batch_size=None)
            for i in range(10):
                api.add("rbac", [f"change {i}"])
            first = run_once(cfg)
            assert first.returncode == 0, first.stderr[-2000:]
            api.drop_newest("rbac", 3)  # the backup lacked the last three commits (already shipped)
            for i in range(10, 13):
                api.add("rbac", [f"change {i}"], user="mallory")  # new, different commits
            last = run_once(cfg)
            assert last.returncode == 0, last.stderr[-2000:]
    finally:
        fluentd.stop()
    ids: dict[str, set[str]] = {}
    for _tag, _t, record in fluentd.records:
        ids.setdefault(record["_shipper_id"], set()).add(record["message"])
    assert {r["message"] for _, _, r in fluentd.records} == {f"change {i}" for i in range(13)}
    shared = {i: sorted(m) for i, m in ids.items() if len(m) > 1}
    assert not shared, f"different commits under one _shipper_id (a Fluentd → Elasticsearch tier keeps one): {shared}"
