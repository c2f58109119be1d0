"""Issue 22, attack: config values of the polling sources that pass `shipper check` but that PostgreSQL
or Python cannot take. Each one stopped the source at run time (nothing shipped, or the source thread
ended with a traceback) instead of being refused at config time with file, line and key (exit 2)."""
from __future__ import annotations

import subprocess
import sys

import pytest

POSTGRES = """sources:
  - name: cml
    type: postgres
    parser: cloudera_ai
    dsn: "host=/tmp dbname=x"
    {key}: {value}
outputs:
  - type: stdout
"""

HTTP_POLL = """sources:
  - name: puppet
    type: http_poll
    parser: puppet_enterprise
    url: https://pe.example.com:4433/activity-api/v2/events
    {key}: {value}
    token_file: /dev/null
outputs:
  - type: stdout
"""


def check(tmp_path, text: str) -> subprocess.CompletedProcess:
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(text)
    return subprocess.run([sys.executable, "-m", "shipper.cli", "check", "-c", str(cfg)], capture_output=True,
                          text=True, timeout=60)


@pytest.mark.parametrize("value", [
    "2147483.648",  # one ms over PostgreSQL's limit: `invalid value for parameter "statement_timeout"` every poll
    "1e10",
    ".inf",  # `cannot convert float infinity to integer`: the source thread died
])
def test_a_statement_timeout_postgres_refuses_is_refused_at_config_time(tmp_path, value):
    r = check(tmp_path, POSTGRES.format(key="statement_timeout", value=value))
    assert r.returncode == 2, r.stderr
    assert "shipper.yaml:6: sources[0].statement_timeout: " in r.stderr, r.stderr


def test_the_largest_statement_timeout_postgres_takes_is_accepted(tmp_path):
    r = check(tmp_path, POSTGRES.format(key="statement_timeout", value="2147483.647"))
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("value", ["1e10", ".inf"])  # the source thread died: `timestamp out of range for platform time_t`
def test_a_postgres_poll_interval_no_wait_can_take_is_refused_at_config_time(tmp_path, value):
    r = check(tmp_path, POSTGRES.format(key="poll_interval", value=value))
    assert r.returncode == 2, r.stderr
    assert "shipper.yaml:6: sources[0].poll_interval: " in r.stderr, r.stderr


@pytest.mark.parametrize("value", ["1e10", ".inf"])  # every request: OverflowError (kind=internal), nothing shipped
def test_an_http_poll_timeout_no_socket_can_take_is_refused_at_config_time(tmp_path, value):
    r = check(tmp_path, HTTP_POLL.format(key="timeout", value=value))
    assert r.returncode == 2, r.stderr
    assert "shipper.yaml:6: sources[0].timeout: " in r.stderr, r.stderr
