"""shipper's public plugin API: everything a parser, source, output or setup command may import.

A plugin package imports from here only (`from shipper.api import Parser, base_event`); the modules
these names come from are the core's own business and move freely. docs/writing-plugins.md is the
guide, examples/shipper-plugin-example/ a complete package written from it.

The contract in short (each class says more):
- `Parser(options: ParserOptions)`: `parse(raw: bytes) -> list[dict[str, Any]]` maps one record to ECS events;
  never raises on bad input (a `failure_event` instead). Class attributes `module`, `dataset`, and
  optionally `monotonic_ids`, `vendor_field_types`.
- `Source(config, ctx: SourceContext)`: `run()` reads until `ctx.stop` (or, with `ctx.once`, until
  nothing more is there) and hands `RawBatch`es to `ctx.emit`; its checkpoint fragment is saved only
  once every output has the batch. Optionally `describe`, `status`, `pending_bytes`, `last_error`,
  `close`, the class methods `saved_positions` / `saved_notes` (its saved state, for `shipper status`),
  and `restarting` / `hand_over` / `takes_over` / `take_over`: what a source restarted by a reload hands its successor.
  `rereads = False` for a source that cannot read a record again (pushed to it): what a reload or a
  stop cannot deliver in time is then named lost by the core, not left to be read again. `EndRun`
  out of `run()` is the source giving up (one line, exit 1 under --once), not a bug.
- `Output(config, ctx: OutputContext)`: `send(batch: Batch)` returns once the batch is stored.
  Optionally `start`, `coalesce` + `send_many`, `probe`, `read_back`, `describe`, `close`; raises
  `PermanentRefusal`, `EndRun` or `Stopping` as `Output.send` says.
- Sources and outputs name their config model in `Config` (a `SourceConfig` / `OutputConfig`
  subclass; unknown keys are errors; `ConfigPath` options are resolved from the config's folder; a `RegularFile` must be a regular file).
- A memo in a plugin is a `BoundedMemo` (bounded entries and key text).
- Setup commands (`shipper setup NAME`) are click commands registered in the `shipper.setup` group.

Events are plain dicts; a dict shared between events is never mutated once handed out (put a new
dict in its place). Outputs never mutate events.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from shipper import exact_json, metrics
from shipper.ecs import (
    AMBIGUOUS_LOCAL_TIME,
    ECS_VERSION,
    INVALID_ENCODING,
    PARSE_FAILURE,
    PIPELINE_ERROR,
    READ_TIME,
    UNMAPPED_ACTION,
    CatalogError,
    Classification,
    LocalTimeParser,
    add_related,
    add_tag,
    audit_message,
    base_event,
    classify,
    clean_ip,
    decode_text,
    drop_nulls,
    failure_event,
    flag_problems,
    get_path,
    is_utf8,
    iso_utc,
    load_catalog,
    local_time_in_doubt,
    names_no_zone,
    now_iso,
    original_text,
    snake_case,
    squash_key,
    vendor_time,
    vendor_time_and_zoneless,
    zone_always_utc,
    zone_name,
)
from shipper.errors import PermanentRefusal
from shipper.failures import SourceFailures
from shipper.log import Throttled
from shipper.memo import MISSING, BoundedMemo
from shipper.parser import CheckpointFragment, Parser, ParserOptions, RawBatch, index_key, serialize_event
from shipper.secrets import SecretError, check_permissions, read_secret, redact
from shipper.source_waits import looking_while_held
from shipper.tail.keys import LineKeys
from shipper.tail.lines import TRUNCATED, split_lines
from shipper.unread import unread_bytes
from shipper.unstalled import nonblocking_writer
from shipper.vendor_ids import VendorIdGaps
from shipper.waking_event import WakingEvent

# The names of sources, outputs, their config models and setup commands are loaded at first use (PEP 562's
# module __getattr__): a parser needs none of them, and a parse worker process imports this module through
# its parser, which with them imported pydantic, the config models and the config loader (~60 % of the
# workers' start, bench/README.md). The same imports for type checkers, which see them as plain names.
if TYPE_CHECKING:
    from shipper.checkpoint import CheckpointTooNew
    from shipper.config import Config, ConfigError, load_config
    from shipper.config_base import WAIT_MAX, ConfigPath, OutputConfig, RegularFile, SourceConfig, StrictModel
    from shipper.ecs_schema import ecs_field_types
    from shipper.plugin import (
        Batch,
        EndRun,
        Output,
        OutputContext,
        SavedPosition,
        Source,
        SourceContext,
        Stopping,
        lines_with_ids,
        saved_value_line,
    )
    from shipper.registry import installed_parsers
    from shipper.retry_after import retry_after

_AT_FIRST_USE = {
    "shipper.checkpoint": ("CheckpointTooNew",),
    "shipper.config": ("Config", "ConfigError", "load_config"),
    "shipper.config_base": ("WAIT_MAX", "ConfigPath", "OutputConfig", "RegularFile", "SourceConfig", "StrictModel"),
    "shipper.ecs_schema": ("ecs_field_types",),
    "shipper.plugin": ("Batch", "EndRun", "Output", "OutputContext", "SavedPosition", "Source", "SourceContext",
                       "Stopping", "lines_with_ids", "saved_value_line"),
    "shipper.registry": ("installed_parsers",),
    "shipper.retry_after": ("retry_after",),
}
_MODULE_OF = {name: module for module, names in _AT_FIRST_USE.items() for name in names}


if not TYPE_CHECKING:  # hidden from type checkers: for them a module __getattr__ makes any name importable

    def __getattr__(name: str) -> Any:
        module = _MODULE_OF.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module), name)

    def __dir__() -> list[str]:
        """The names loaded at first use too (`help(shipper.api)` lists what dir() gives)."""
        return sorted({*globals(), *_MODULE_OF})


__all__ = [
    # the contract
    "Parser", "ParserOptions",
    "Source", "SourceContext", "SourceConfig", "RawBatch", "CheckpointFragment", "SavedPosition", "saved_value_line",
    "Output", "OutputContext", "OutputConfig", "Batch", "index_key", "serialize_event", "lines_with_ids",
    "StrictModel", "ConfigPath", "RegularFile", "WAIT_MAX",
    # what a plugin raises
    "PermanentRefusal", "EndRun", "Stopping", "SecretError",
    "CheckpointTooNew",  # from a source's __init__: its saved state is of a later layout (the agent exits 2)
    # ECS helpers for parsers
    "AMBIGUOUS_LOCAL_TIME", "ECS_VERSION", "INVALID_ENCODING", "PARSE_FAILURE", "PIPELINE_ERROR", "READ_TIME", "UNMAPPED_ACTION",
    "base_event", "failure_event", "add_tag", "add_related", "get_path", "drop_nulls", "audit_message",
    "Classification", "load_catalog", "CatalogError", "classify", "flag_problems",
    "clean_ip", "decode_text", "original_text", "is_utf8", "snake_case", "squash_key",
    "now_iso", "iso_utc", "vendor_time", "LocalTimeParser", "names_no_zone", "vendor_time_and_zoneless",
    "local_time_in_doubt",
    "zone_name", "zone_always_utc",
    "ecs_field_types",
    # the one memo (bounded entries and key size): what it hands out is shared, never mutate it
    "BoundedMemo", "MISSING",
    # JSON read with integers past 64 bits kept exact (exact_json.loads, raising orjson.JSONDecodeError)
    "exact_json",
    # helpers for sources and outputs
    "SourceFailures", "Throttled", "retry_after", "read_secret", "check_permissions", "redact",
    "split_lines", "TRUNCATED", "LineKeys", "VendorIdGaps",
    "WakingEvent",  # what ctx.stop is in the agent: add_waker() wakes a source asleep on something else
    "looking_while_held",  # a source's look at its inputs while ctx.emit holds it (backpressure)
    "unread_bytes",  # what a pipe's or socket's reader has not taken yet of what was written to it
    "nonblocking_writer",  # a pipe or terminal opened again non-blocking: writes that never wait for its reader
    "metrics",
    # for setup commands
    "load_config", "Config", "ConfigError", "installed_parsers",
]
