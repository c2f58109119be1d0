"""`type: file` — follows log files from their checkpoint and emits complete lines.

First version: resumes by path + identity; rotation-following is the job of shipper.tail.
"""
from __future__ import annotations

import glob
import hashlib
import os
from typing import Literal

from pydantic import Field

from shipper.config_base import SourceConfig
from shipper.plugin import RawBatch, Source

FINGERPRINT_BYTES = 1024
READ_SIZE = 1 << 20


class FileSourceConfig(SourceConfig):
    type: Literal["file"] = "file"
    paths: list[str] = Field(min_length=1)
    exclude: list[str] = []
    read_from: Literal["beginning", "end"] = "beginning"
    max_line_bytes: int = Field(default=1024 * 1024, ge=64)
    poll_interval: float = Field(default=1.0, gt=0)


class FileSource(Source):
    Config = FileSourceConfig

    def _expand(self) -> list[str]:
        base = self.ctx.extra.get("base_dir", ".")
        found: list[str] = []
        for pattern in self.config.paths:
            pattern = os.path.join(base, os.path.expanduser(pattern))
            for p in sorted(glob.glob(pattern, recursive=True)):
                if os.path.isfile(p) and p not in found:
                    found.append(p)
        return found

    def describe(self) -> list[str]:
        return self._expand()

    def run(self) -> None:
        while not self.ctx.stop.is_set():
            for path in self._expand():
                self._read_file(path)
            if self.ctx.once or self.ctx.stop.wait(self.config.poll_interval):
                return

    def _read_file(self, path: str) -> None:
        key = "path:" + os.path.abspath(path)
        state = self.ctx.state.get(key)
        try:
            f = open(path, "rb")
        except OSError:
            return
        with f:
            st = os.fstat(f.fileno())
            head = f.read(FINGERPRINT_BYTES)
            fp = hashlib.blake2b(head, digest_size=8).hexdigest()
            offset = 0
            if state and state.get("ino") == st.st_ino and state.get("fp_len", 0) <= len(head) \
                    and hashlib.blake2b(head[: state.get("fp_len", 0)], digest_size=8).hexdigest() == state.get("fp"):
                offset = state["offset"] if state["offset"] <= st.st_size else 0
            elif state is None and self.config.read_from == "end":
                offset = st.st_size
            f.seek(offset)
            ident = {"ino": st.st_ino, "dev": st.st_dev}
            while not self.ctx.stop.is_set():
                chunk = f.read(READ_SIZE)
                end = chunk.rfind(b"\n")
                if end < 0:
                    break
                data = chunk[: end + 1]
                lines = data.split(b"\n")[:-1]
                keys = []
                pos = offset
                for line in lines:
                    keys.append(f"{fp}:{pos}")
                    pos += len(line) + 1
                offset = pos
                f.seek(offset)
                stored = {**ident, "path": path, "offset": offset, "fp": hashlib.blake2b(head, digest_size=8).hexdigest(), "fp_len": len(head)}
                self.ctx.state[key] = stored
                self.ctx.emit(RawBatch([l.rstrip(b"\r") for l in lines], keys, {key: stored}, len(data),
                                       {"log": {"file": {"path": path}}}))
