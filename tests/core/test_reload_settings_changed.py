"""A reload that changes only the agent's own settings (the log's format, shutdown_timeout, …) says what it changed:
it said "reloaded: nothing changed" while the new format was already in force (exam27b's note, issue 13)."""
from __future__ import annotations

import signal

import pytest

from shipper.config import load_config
from shipper.reload import plan_reload
from tests.e2e.ops_attack import OpsAgent, app_to_stdout
from tests.support import wait


def test_the_plan_names_the_settings_changed(tmp_path) -> None:
    cfg = app_to_stdout(tmp_path, 1, "logging: {format: logfmt}\n")
    old = load_config(str(cfg))
    cfg.write_text(cfg.read_text().replace("format: logfmt", "format: json") + "shutdown_timeout: 7\n")
    plan = plan_reload(old, load_config(str(cfg)))
    assert plan.changes() == {"settings_changed": "logging,shutdown_timeout"}
    assert plan_reload(old, old).changes() == {}


@pytest.mark.slow
def test_a_reload_of_the_log_format_alone_says_it_changed_it(tmp_path) -> None:
    cfg = app_to_stdout(tmp_path, 10, "logging: {format: logfmt}\n")
    agent = OpsAgent(tmp_path)
    try:
        agent.start(cfg)
        assert wait(lambda: "msg=started" in agent.errors(), 60), agent.errors()
        cfg.write_text(cfg.read_text().replace("format: logfmt", "format: json"))
        assert agent.proc is not None
        agent.proc.send_signal(signal.SIGHUP)
        assert wait(lambda: "reloaded" in agent.errors() or "reload refused" in agent.errors(), 60), agent.errors()
    finally:
        agent.stop()
    said = [ln for ln in agent.errors().splitlines() if "reloaded" in ln]
    assert len(said) == 1 and "nothing changed" not in said[0] and "logging" in said[0], said
