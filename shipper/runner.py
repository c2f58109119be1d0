"""`shipper run`: start the pipeline, wait for a stop signal (or, with --once, for the end of input)."""
from __future__ import annotations

import logging
import os
import signal
import threading

from shipper.config import Config
from shipper.pipeline import Pipeline

log = logging.getLogger("shipper.run")


def run(config: Config, once: bool = False) -> int:
    pipeline = Pipeline(config, once=once)
    stop_requested = threading.Event()

    def on_signal(signum, _frame):
        if stop_requested.is_set():
            # Second signal: leave at once. Checkpoints are transactional, so they stay consistent.
            log.warning("second signal: exiting without waiting for in-flight batches")
            os._exit(1)
        log.info("stopping", extra={"signal": signal.Signals(signum).name})
        stop_requested.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    pipeline.start()
    log.info("started", extra={"sources": len(pipeline.runners), "outputs": len(pipeline.workers), "once": once})
    if once:
        while not stop_requested.is_set() and not pipeline.sources_finished():
            stop_requested.wait(0.05)
        while not stop_requested.is_set() and not pipeline.wait_delivered(0.2):
            pass
    else:
        while not stop_requested.wait(1.0):
            pass
    delivered = pipeline.stop(config.settings.shutdown_timeout)
    errors = pipeline.source_errors()
    for e in errors:
        log.error("source stopped with an error", extra={"error": e})
    return 0 if (delivered and not errors) or not once else 1
