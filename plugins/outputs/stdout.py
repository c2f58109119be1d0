"""`type: stdout` — one ECS JSON object per line (orjson), flushed per batch."""
from __future__ import annotations

import os
import sys
from typing import Literal

import orjson

from shipper.config_base import OutputConfig
from shipper.plugin import Batch, Output


class StdoutOutputConfig(OutputConfig):
    type: Literal["stdout"] = "stdout"
    # A kill -9 never loses what was written to the page cache; fsync only guards power cuts.
    fsync: bool = False


class StdoutOutput(Output):
    Config = StdoutOutputConfig

    def send(self, batch: Batch) -> None:
        dumps = orjson.dumps
        # One write per batch: the lines of a batch reach the file together.
        data = b"\n".join([dumps(ev) for ev in batch.events]) + b"\n"
        out = sys.stdout.buffer
        out.write(data)
        out.flush()
        if self.config.fsync:
            try:
                os.fsync(out.fileno())
            except OSError:
                pass  # pipes and terminals cannot be synced
