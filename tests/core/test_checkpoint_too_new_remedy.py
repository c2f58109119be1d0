"""A source's state written by a later version (CheckpointTooNew) is refused with a remedy that fits
whose state it is: a plugin's names the plugin's distribution to upgrade, not shipper; and neither
sends the operator to move the whole checkpoint database aside (every other source would start over)."""
from __future__ import annotations

from importlib.metadata import version

from shipper import registry
from shipper.source_runner import _newer_state_remedy


class _Cfg:
    def __init__(self, name: str, type_: str):
        self.name, self.type = name, type_


def test_a_plugin_source_names_its_own_distribution_and_only_its_own_state():
    # The example package is installed in the test environment, as a third party's would be.
    assert registry.distribution("source", "acme_vault_socket") == (
        "shipper-plugin-example", version("shipper-plugin-example"))
    said = _newer_state_remedy(_Cfg("vault", "acme_vault_socket"), "/etc/shipper/shipper.yaml")  # type: ignore[arg-type]
    assert said.startswith(f"upgrade shipper-plugin-example (the distribution of source type acme_vault_socket; "
                           f"installed: {version('shipper-plugin-example')})"), said
    assert "version of shipper" not in said
    assert "then shipper reset -c /etc/shipper/shipper.yaml --source vault (" in said
    assert "mv " not in said and "every source" not in said


def test_a_built_in_source_names_shipper():
    said = _newer_state_remedy(_Cfg("app b", "file"), "/s/shipper.yaml")  # type: ignore[arg-type]
    assert said.startswith("run that version of shipper (or a later one) again"), said
    assert "shipper reset -c /s/shipper.yaml --source 'app b'" in said  # (quoted for the shell)
