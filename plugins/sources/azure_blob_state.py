"""What the `azure_blob` source remembers: per blob, where reading stopped; per folder of hourly
blobs, the hour before which everything was read (so those hours are not listed again).

A blob's identity is its creation time and name (Azure keeps the creation time across appends,
while the ETag changes on every one): a blob deleted and re-created under the same name gets a
new identity and is read from byte 0; one that only grew is read on from its offset.
The creation time has one-second resolution, so a blob deleted and re-created within one second
keeps it: the state also keeps a digest of the bytes just before the offset (`tail`, up to TAIL
bytes, like the file tailer's fingerprint) and the ETag last seen. Whenever the listing shows another
ETag, the read starts that many bytes early and compares them: other bytes mean another blob (or an
overwrite), read from its start under a new generation; the same bytes mean appends (or only
metadata changed). The bytes just before the offset end the last line read, which holds its record's
unique id, so two blobs agree there only if they hold the same records there. A blob re-created
with other first records but the same last ones (a re-delivery in another order) would pass that
check, so the first up to TAIL bytes (`head`, of the first complete lines read from byte 0) are
compared as well when the offset is past the tail.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

# Azure Monitor's layout for diagnostic logs: .../y=YYYY/m=MM/d=DD/h=HH/m=00/PT1H.json
HOUR_RE = re.compile(r"(?:^|/)y=(\d{4})/m=(\d{2})/d=(\d{2})/h=(\d{2})/")
HOUR_FMT = "%Y-%m-%dT%H"
TAIL = 8192  # bytes before the offset compared when a blob's ETag changed (one Databricks record is ~1 KB)


def blob_key(container: str, name: str) -> str:
    return f"blob:{container}/{name}"


def hours_key(container: str, root: str) -> str:
    return f"hours:{container}/{root}"


def blob_hour(name: str) -> datetime | None:
    """The hour a blob's path names (UTC), or None for a blob outside the hourly layout."""
    m = HOUR_RE.search(name)
    if m is None:
        return None
    try:
        return datetime(int(m[1]), int(m[2]), int(m[3]), int(m[4]), tzinfo=timezone.utc)
    except ValueError:  # h=25 and the like: not a real hour, so not bounded by time
        return None


def hour_root(name: str) -> str | None:
    """The folder holding the `y=` folders of an hourly blob ('' at the container's top)."""
    m = HOUR_RE.search(name)
    if m is None:
        return None
    return name[: m.start() + (1 if m.group(0).startswith("/") else 0)]


def format_hour(h: datetime) -> str:
    return h.strftime(HOUR_FMT)


def parse_hour(s: Any) -> datetime | None:
    if not isinstance(s, str):
        return None
    try:
        return datetime.strptime(s, HOUR_FMT).replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def floor_hour(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def list_prefixes(root: str, since: datetime, now: datetime) -> list[str]:
    """Prefixes under `root` that together hold every hourly blob from `since` to `now`: one per
    day (at most 24 blobs each), or one per month for a long span (after a long stop). The caller
    passes a `now` a day ahead: a storage clock ahead of ours must not hide a new day's blobs."""
    since, now = floor_hour(since), floor_hour(now)
    if since > now:
        since = now
    out: list[str] = []
    if (now - since) > timedelta(days=62):
        y, m = since.year, since.month
        while (y, m) <= (now.year, now.month):
            out.append(f"{root}y={y:04d}/m={m:02d}/")
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        return out
    day = since.replace(hour=0)
    while day <= now:
        out.append(f"{root}y={day.year:04d}/m={day.month:02d}/d={day.day:02d}/")
        day += timedelta(days=1)
    return out


@dataclass
class BlobState:
    container: str
    name: str
    created: str  # the blob's creation time (ISO 8601): with the name, its identity
    offset: int = 0  # byte offset after the last complete line handed on
    cont: bool = False  # offset is inside a line cut at max_line_bytes: the next piece is flagged too
    size: int = 0  # the blob's size when last seen (for lag)
    gen: int = 0  # bumped when a blob shrank under the same identity (overwritten): new record keys
    modified: float = 0.0  # the blob's last-modified time (Unix) when last seen: late appends keep it listed
    etag: str | None = None  # the ETag the blob had when its bytes before the offset were last checked
    tail: str | None = None  # digest of the `tail_len` bytes before `offset` (None: not known, not checked)
    tail_len: int = 0
    head: str | None = None  # digest of the blob's first `head_len` bytes (None: not known, not checked)
    head_len: int = 0

    @property
    def fid(self) -> str:
        """The record-key prefix: stable across restarts, new for a re-created blob."""
        h = hashlib.blake2b(f"{self.container}/{self.name}\0{self.created}\0{self.gen}".encode(), digest_size=8)
        return "az" + h.hexdigest()

    @property
    def done(self) -> bool:
        return self.offset >= self.size and not self.cont

    def to_json(self) -> dict[str, Any]:
        return {"container": self.container, "name": self.name, "created": self.created, "offset": self.offset,
                "cont": self.cont, "size": self.size, "gen": self.gen, "modified": self.modified,
                "etag": self.etag, "tail": self.tail, "tail_len": self.tail_len, "head": self.head,
                "head_len": self.head_len}

    @classmethod
    def from_json(cls, v: Any) -> "BlobState | None":
        if not isinstance(v, dict):
            return None
        try:
            return cls(str(v["container"]), str(v["name"]), str(v["created"]), int(v["offset"]),
                       bool(v.get("cont", False)), int(v.get("size", 0)), int(v.get("gen", 0)),
                       float(v.get("modified", 0.0)), _str_or_none(v.get("etag")), _str_or_none(v.get("tail")),
                       int(v.get("tail_len", 0)), _str_or_none(v.get("head")), int(v.get("head_len", 0)))
        except (KeyError, TypeError, ValueError):
            return None

    def set_tail(self, before: bytes) -> None:
        """Remember the bytes that end at `offset` (the last TAIL of `before`)."""
        piece = before[-TAIL:] if before else b""
        self.tail_len = len(piece)
        self.tail = tail_digest(piece) if piece else None


def tail_digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _str_or_none(v: Any) -> str | None:
    return v if isinstance(v, str) else None
