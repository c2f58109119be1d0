"""A cgroup freeze of a process for tests: what `systemctl freeze`, `docker pause` and Kubernetes' pod pause do. The
process is stopped by the kernel without a signal (no SIGSTOP, no SIGCONT). cgroup v1's freezer where it is mounted
(this host's kind), else cgroup v2's `cgroup.freeze`; neither there fails the test loudly: a freeze is what it tests."""
from __future__ import annotations

import contextlib
import os
import time
import uuid
from pathlib import Path
from typing import Iterator

V1 = Path("/sys/fs/cgroup/freezer")
V2 = next((p for p in (Path("/sys/fs/cgroup/unified"), Path("/sys/fs/cgroup")) if (p / "cgroup.procs").exists()
           and (p / "cgroup.controllers").exists()), None)


class Freezer:
    """A cgroup of its own holding one process, frozen and thawed at will; removed (the process put back) at close."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        name = f"shipper-test-{uuid.uuid4().hex[:8]}"
        if (V1 / "freezer.state").exists():
            self.group, self.v1 = V1 / name, True
        elif V2 is not None:
            self.group, self.v1 = V2 / name, False
        else:
            raise AssertionError("no cgroup freezer here (neither cgroup v1's freezer nor cgroup v2 is mounted)")
        self.home = self._group_of(pid)
        self.group.mkdir()
        (self.group / "cgroup.procs").write_text(str(pid))

    def _group_of(self, pid: int) -> Path:
        for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
            hid, controllers, path = line.split(":", 2)
            if (self.v1 and "freezer" in controllers.split(",")) or (not self.v1 and hid == "0"):
                return (V1 if self.v1 else V2) / path.lstrip("/")  # type: ignore[operator]
        return V1 if self.v1 else V2  # type: ignore[return-value]

    def freeze(self) -> None:
        if self.v1:
            (self.group / "freezer.state").write_text("FROZEN")
            while (self.group / "freezer.state").read_text().strip() != "FROZEN":
                time.sleep(0.01)
        else:
            (self.group / "cgroup.freeze").write_text("1")
            while "frozen 1" not in (self.group / "cgroup.events").read_text():
                time.sleep(0.01)

    def thaw(self) -> None:
        if self.v1:
            (self.group / "freezer.state").write_text("THAWED")
        else:
            (self.group / "cgroup.freeze").write_text("0")

    def close(self) -> None:
        self.thaw()
        with contextlib.suppress(OSError):
            for pid in (self.group / "cgroup.procs").read_text().split():
                (self.home / "cgroup.procs").write_text(pid)
        with contextlib.suppress(OSError):
            os.rmdir(self.group)


@contextlib.contextmanager
def freezer_of(pid: int) -> Iterator[Freezer]:
    f = Freezer(pid)
    try:
        yield f
    finally:
        f.close()
