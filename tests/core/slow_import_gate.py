"""A module whose import waits until the file named by $SHIPPER_TEST_IMPORT_GATE exists (two minutes at most):
given as a parse pool's parser module, the forkserver preloads it, and so starts as slowly as on a loaded host."""
import os
import time

_gate = os.environ.get("SHIPPER_TEST_IMPORT_GATE")
if _gate:
    _deadline = time.monotonic() + 120
    while not os.path.exists(_gate) and time.monotonic() < _deadline:
        time.sleep(0.05)
