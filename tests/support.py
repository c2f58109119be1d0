"""Small helpers shared by the tests that drive real processes and servers."""
from __future__ import annotations

import time
from typing import Callable


def wait(pred: Callable[[], object], timeout: float = 60.0) -> bool:
    """Poll pred until it is true or timeout seconds pass; the last answer is returned."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return bool(pred())


def wait_until(pred: Callable[[], object], timeout: float = 60.0, what: str = "condition") -> None:
    """Like wait, but a timeout fails the test with what was awaited."""
    if not wait(pred, timeout):
        raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
