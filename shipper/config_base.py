"""Config blocks common to every source and output; plugins subclass them with their own keys."""
from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from typing import Annotated, Any, ClassVar, Literal, get_args

# No pydantic plugin sees the config (its secrets included): pydantic looks for them through
# importlib.metadata at the first model built (~113 M instructions of imports, ~11 % of a start).
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

NAME_RE = re.compile(r"^[a-z0-9_]+$")


class _IsPath:
    """Marks an option as a file-system path (see ConfigPath)."""

    def __repr__(self) -> str:
        return "ConfigPath"


IS_PATH = _IsPath()
# The type of a config option that names a file or folder: a relative value is taken from the config
# file's folder before validation. Options whose name ends in `_file` are paths without saying so.
# (`Optional[ConfigPath]`, i.e. `ConfigPath | None`, is a path too.)
ConfigPath = Annotated[str, IS_PATH]


FILE_KINDS = ((stat.S_ISFIFO, "a FIFO or pipe"), (stat.S_ISDIR, "a folder"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def file_kind(mode: int) -> str:
    """What a path of st_mode `mode` is when it is no regular file ("a FIFO or pipe", …), for the line naming it."""
    return next((what for test, what in FILE_KINDS if test(mode)), "not a regular file")


def regular_file(path: str | None) -> str | None:
    """`path` unless it names something other than a regular file (ValueError saying what). For the
    files a library opens by name itself (`ssl`'s CA, certificate and key files), where a FIFO with
    no writer would block `check`, the start or a reload for ever. A file missing now is the
    library's to report when it is used (it may be made later)."""
    if path is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return path
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(f"{path} is {file_kind(st.st_mode)}, not a regular file: refused (it is read by name when a "
                         "connection is made, and a FIFO with no writer would be waited on for ever)")
    return path


# A path option (ConfigPath) that must name a regular file: a CA bundle, a client certificate or key.
RegularFile = Annotated[str, IS_PATH, AfterValidator(regular_file)]


def path_options(model: type[BaseModel]) -> frozenset[str]:
    """The options of a config model that are file-system paths: declared ConfigPath, or named *_file."""
    out = set()
    for name, info in model.model_fields.items():
        if name.endswith("_file") or IS_PATH in info.metadata or _declares_path(info.annotation):
            out.add(name)
            if info.alias:
                out.add(info.alias)
    return frozenset(out)


def _declares_path(annotation: Any) -> bool:
    if annotation is None:
        return False
    if IS_PATH in getattr(annotation, "__metadata__", ()):
        return True
    return any(_declares_path(a) for a in get_args(annotation) if a is not type(None))


# The longest wait an option may ask for: 2,000,000 s (23 days). The loops that wait hand their
# timeouts to epoll and poll in milliseconds as a C int (2^31 ms: 24.8 days) and to time_t; a longer
# one failed at the first idle wait (a source thread died, a stop crashed) after `check` accepted it.
WAIT_MAX = 2_000_000.0


class StrictModel(BaseModel):
    """A block of options that refuses unknown keys (named with file, line and key) and `.inf`/`.nan`:
    the base of SourceConfig and OutputConfig, and of a plugin's nested blocks."""

    # Unknown keys are errors (a typo must not be silently ignored). `.inf` and `.nan` are refused:
    # YAML has them, and no option of a count, a size or a time means "for ever".
    model_config = ConfigDict(extra="forbid", frozen=False, allow_inf_nan=False)


class SourceConfig(StrictModel):
    """The keys every source block has (`name`, `type`, `parser`, `tag`, `timezone`, `tags`,
    `preserve_original_event`, `batch_size`, `parse_workers`, `id_namespace`, …: README, Config
    reference). A source's `Config` subclasses it with its own keys and `type: Literal["its name"]`."""

    name: str = Field(description="unique name, [a-z0-9_]+; keys the checkpoints")
    type: str
    parser: str
    tag: str | None = None  # default: audit.<name>
    timezone: str = "UTC"  # zone of timestamps written without one
    tags: list[str] = []  # added to every event's `tags`
    preserve_original_event: bool = False  # keep `event.original` on every event
    batch_size: int = Field(default=1000, ge=1, le=100_000)
    # auto: in the source's thread while it follows, in worker processes while it is behind
    # (shipper.parse_auto). 0: always in the source's thread. N >= 1: always in N worker processes
    # (batches still delivered and checkpointed in read order). Measured in bench/ (parse_workers).
    parse_workers: Literal["auto"] | int = "auto"
    # Vendor ids (Posit entry_id, Cloudera id, Databricks logId) are only unique per installation:
    # the stable id (Elasticsearch _id) hashes them with this. Default: the source's name. Give two
    # sources the same namespace when they read the same installation's events (dedupe across them);
    # not with integrity on (refused: docs/evidence.md).
    id_namespace: str | None = None
    # Seconds a gap in the product's own event ids may stay open (a late commit fills it) before it
    # is reported (parsers with monotonic_ids, sources that watch a numbering: shipper.vendor_ids).
    vendor_id_grace: float = Field(default=300.0, ge=0, le=WAIT_MAX)

    @field_validator("parse_workers", mode="before")
    @classmethod
    def _parse_workers(cls, v: Any) -> str | int:
        if v == "auto":
            return v
        if isinstance(v, str) and v.strip().isdigit():
            v = int(v)
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 64:
            raise ValueError("must be auto or a number of worker processes from 0 to 64")
        return v

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME_RE.match(v):
            raise ValueError("must match [a-z0-9_]+ (lower case letters, digits, underscore)")
        return v

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo

        try:
            ZoneInfo(v)
        except Exception:
            raise ValueError(f"unknown time zone {v!r} (an IANA name such as UTC or Europe/Berlin)")
        return v

    @property
    def effective_tag(self) -> str:
        return self.tag or f"audit.{self.name}"


# The keys every output block has that say nothing of where its events are stored (OutputConfig.where).
NOT_WHERE = {"name", "match", "max_in_flight_batches", "max_in_flight_bytes", "health_threshold"}


class OutputConfig(StrictModel):
    """The keys every output block has (`type`, `name`, `match`, the in-flight limits). An output's
    `Config` subclasses it with its own keys and `type: Literal["its name"]`."""

    type: str
    name: str = ""  # default: <type> or <type>_<index>
    match: str = "*"  # glob on the event tag
    # batches queued for it; also the most it delivered whose checkpoint is not saved yet (a kill -9 sends them again)
    max_in_flight_batches: int = Field(default=8, ge=1)
    max_in_flight_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    health_threshold: float = Field(default=300.0, gt=0)  # seconds without delivery → unhealthy
    # An output's own keys that tune how it delivers, not where (batch sizes, timeouts, backoff, compression): left
    # out of where(). A note of what an output stored follows where(): with a tuning key in it, a reload or restart
    # that changed only that key took the output for one storing elsewhere and sent it its events again.
    delivery_settings: ClassVar[frozenset[str]] = frozenset()

    def where(self) -> str:
        """What tells where this output stores events, as a short digest: its block but for the keys of NOT_WHERE
        and its `delivery_settings` (secrets masked). An output renamed with only those changed is the same output (shipper.reload; the start
        after a stop: SourceRunner). "" when the block cannot be told (then it is never taken for another)."""
        try:
            text = json.dumps(self.model_dump(mode="json", exclude=NOT_WHERE | self.delivery_settings), sort_keys=True)
        except (TypeError, ValueError):
            return ""
        return hashlib.sha256(text.encode()).hexdigest()[:32]


class HttpConfig(StrictModel):
    # Not Fluent Bit's 2020 (often on the same host), nor in Prometheus' allocated 9100-9999 range.
    listen: str = "127.0.0.1:8742"


class IntegrityConfig(StrictModel):
    """`integrity:` a keyed hash chain per source (shipper.integrity, docs/evidence.md)."""

    key_file: str  # the secret key; relative to the config's folder
    attest_interval: float = Field(default=300.0, ge=1.0)  # seconds between attestation events per source


class LoggingConfig(StrictModel):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["logfmt", "json"] = "logfmt"
