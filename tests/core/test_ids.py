"""Stable ids: the same event gets the same id on every run; ids never collide across namespaces."""
from __future__ import annotations

from shipper.ids import LazyIds, stable_id, vendor_stable_id


def test_vendor_ids_positions_and_only_events():
    ids = LazyIds(["abc", None, (1, 2), 42], "src", "ns", keys=["k0", "k1", "k2", "k3"])
    assert list(ids) == [vendor_stable_id("ns", "abc"), stable_id("src", "k1", 0), stable_id("src", "k1", 2),
                         vendor_stable_id("ns", "42")]  # an integer vendor id is a vendor id, not a position
    assert len(ids) == 4 and ids[0] == list(ids)[0]


def test_namespaces_keep_installations_apart():
    assert vendor_stable_id("workspace_a", "42") != vendor_stable_id("workspace_b", "42")
    assert vendor_stable_id("a", "42") == vendor_stable_id("a", "42")
