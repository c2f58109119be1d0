"""Run the agent (`python bench/thread_names.py run -c cfg.yaml`) noting each thread's kernel id and Python name in
the file $THREAD_NAMES (one `pid tid name` a line): /proc counts each thread's wake-ups by id, and CPython 3.11 gives
the kernel no names, so bench/idle.py says which thread woke only through this."""
from __future__ import annotations

import os
import runpy
import sys
import threading
from typing import Any

_names = open(os.environ["THREAD_NAMES"], "a", buffering=1)
_bootstrap_inner: Any = threading.Thread._bootstrap_inner  # type: ignore[attr-defined]


def _noted(self: threading.Thread) -> None:
    _names.write(f"{os.getpid()} {threading.get_native_id()} {self.name}\n")
    _bootstrap_inner(self)


threading.Thread._bootstrap_inner = _noted  # type: ignore[attr-defined]
_names.write(f"{os.getpid()} {threading.get_native_id()} main\n")
sys.argv = ["shipper", *sys.argv[1:]]
runpy.run_module("shipper.cli", run_name="__main__")
