"""Which rotated names are one period of a dated and indexed scheme (gone.period_of): a period whose files all
appeared while the agent was away and that shifted lost a file (gone.periods_overflowed_while_away)."""
from __future__ import annotations

import pytest

from shipper.tail.gone import period_of


@pytest.mark.parametrize("name, period, index", [
    ("app-2024-01-02-13-1.log", "app-2024-01-02-13-*.log", 1),
    ("app-2024-01-02-13-12.log.gz", "app-2024-01-02-13-*.log.gz", 12),
    ("app.log.2024-01-02-3", "app.log.2024-01-02-*", 3),
    ("app.log.2024-01-02-3.gz", "app.log.2024-01-02-*.gz", 3),
])
def test_dated_indexed_names_name_their_period_and_index(name, period, index):
    assert period_of("/d/app.log", "/d/" + name) == ("/d/" + period, index)


@pytest.mark.parametrize("name", [
    "app.log.1", "app.log.12.gz", "app-3.log",  # indexed only: a name reused at each rotation, no period
    "app.log-20240102", "app.log-20240102.gz",  # dated only (logrotate dateext)
    "app.log", "other-2024-01-02-1.log",  # the live file; another family
])
def test_other_names_are_no_period(name):
    assert period_of("/d/app.log", "/d/" + name) is None


def test_a_name_in_another_folder_is_no_period():
    assert period_of("/d/app.log", "/e/app-2024-01-02-1.log") is None
