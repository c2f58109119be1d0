"""The agent's YAML config: load, validate with pydantic models, report errors by file, line and key."""
from __future__ import annotations

import difflib
import os
import re
import stat
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, get_args

from pydantic import BaseModel, Field, ValidationError

from shipper import registry
from shipper.config_base import (
    WAIT_MAX,
    HttpConfig,
    IntegrityConfig,
    LoggingConfig,
    OutputConfig,
    SourceConfig,
    StrictModel,
    path_options,
)
from shipper.secrets import redact
from shipper.yaml_lines import MAX_TEXT, YamlError, line_of, load_with_lines

DEFAULT_CONFIG = "/etc/shipper/shipper.yaml"


def default_config_path() -> str:
    return os.environ.get("SHIPPER_CONFIG") or DEFAULT_CONFIG


class AgentSettings(StrictModel):
    state_dir: str = "/var/lib/shipper"
    sources: list[dict] = Field(min_length=1)
    outputs: list[dict] = Field(min_length=1)
    http: HttpConfig | None = None
    logging: LoggingConfig = LoggingConfig()
    shutdown_timeout: float = Field(default=30.0, ge=0, le=WAIT_MAX)
    host_name: str | None = None  # host.name on every event; default: this machine's name
    integrity: IntegrityConfig | None = None


@dataclass
class Config:
    """A validated config (load_config): `path`, `settings` (state_dir, shutdown_timeout, http,
    logging…), `sources` and `outputs` (each its plugin's Config model), and `state_dir`, `base_dir`."""

    path: str
    settings: AgentSettings
    sources: list[SourceConfig]
    outputs: list[OutputConfig]
    base_dir: str = "."  # relative paths in the config are taken from here
    integrity_key: Any = None  # shipper.integrity.Key, read from integrity.key_file at load
    # The state_dir as earlier releases took it (relative to the config's symlink target), when that is another
    # folder: a start is refused while it holds this config's checkpoints and state_dir none (shipper.state_dir_moved).
    earlier_state_dir: str | None = None
    state_dir_line: int | None = None  # the line of `state_dir` in the file (None: not in it, the default)

    @property
    def state_dir(self) -> str:
        return self.settings.state_dir


@dataclass
class Problem:
    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        # A value quoted back (`got '…'`) may be a dsn or URL with its password in it.
        message = redact(self.message)
        return f"{where}: {self.path}: {message}" if self.path else f"{where}: {message}"


class ConfigError(Exception):
    """The config cannot be used: `.problems` lists each `Problem` (file, line, key path, message), in
    file order; `str()` is their lines."""

    def __init__(self, problems: list[Problem]):
        # In file order, each once (a wrong block can be named by two checks in the same words).
        unique = {(p.line or 0, p.path, p.message): p for p in problems}
        self.problems = [unique[k] for k in sorted(unique, key=lambda k: k[0])]
        problems = self.problems
        super().__init__("\n".join(str(p) for p in problems))


def format_path(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _describe_error(err: Mapping[str, Any], model: type[BaseModel] | None) -> str:
    kind = err["type"]
    loc = err["loc"]
    if kind == "extra_forbidden":
        allowed = sorted(model.model_fields) if model is not None else []
        # Nested models: find the right field list by walking the model along the loc.
        owner = _owner_model(model, loc[:-1]) if model is not None else None
        if owner is not None:
            allowed = sorted(owner.model_fields)
        hint = _did_you_mean(str(loc[-1]), allowed)
        return f"unknown key {loc[-1]!r}{hint}; expected one of: {', '.join(allowed)}"
    if kind == "missing":
        return "required key is missing"
    if not loc:  # a check of the block as a whole (keys that go together): no one value to quote
        return _in_our_words(kind, err)
    got = err.get("input")
    got_s = repr(got) if not isinstance(got, (dict, list)) else ("a mapping" if isinstance(got, dict) else "a list")
    if isinstance(got, str) and re.search(r"[^\s@/]:[^\s@]*@", got) and "://" not in got:
        got_s = "a value with user:password@, not shown"  # redact() knows URLs only
    if loc[0] == "integrity" and isinstance(got, str):  # the key itself pasted where its file is named
        got_s = "a text, not shown: the key belongs in a file, named by key_file"
    return f"{_in_our_words(kind, err)} (got {got_s})"


_EXPECTED = {  # pydantic error type → what the operator must write
    "int_type": "a whole number", "int_parsing": "a whole number", "int_from_float": "a whole number",
    "float_type": "a number", "float_parsing": "a number", "bool_type": "true or false",
    "bool_parsing": "true or false", "string_type": "text (quote it if it looks like a number or a date)",
    "list_type": "a list", "tuple_type": "a list", "set_type": "a list", "dict_type": "a mapping",
    "model_type": "a mapping", "model_attributes_type": "a mapping", "none_required": "nothing (null)",
}


def _in_our_words(kind: str, err: Mapping[str, Any]) -> str:
    """The project's words for a pydantic error (its own English changes between releases)."""
    ctx = err.get("ctx") or {}
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}"
    if kind in ("literal_error", "enum"):
        return f"expected {ctx.get('expected', 'one of the allowed values')}"
    bounds = {"greater_than_equal": ("at least", "ge"), "greater_than": ("more than", "gt"),
              "less_than_equal": ("at most", "le"), "less_than": ("less than", "lt")}
    if kind in bounds:
        words, key = bounds[kind]
        return f"must be {words} {ctx.get(key)}"
    if kind in ("string_too_short", "too_short"):
        n = ctx.get("min_length", 1)
        unit = "character" if kind.startswith("string") else "item"
        return "must not be empty" if n == 1 else f"needs at least {n} {unit}s"
    if kind in ("string_too_long", "too_long"):
        unit = "characters" if kind.startswith("string") else "items"
        return f"takes at most {ctx.get('max_length')} {unit}"
    if kind == "string_pattern_mismatch":
        return f"must match {ctx.get('pattern')}"
    if kind in ("value_error", "assertion_error"):
        return str(ctx.get("error") or err["msg"].removeprefix("Value error, "))  # our validators' own words
    # Anything else: pydantic's sentence, reworded the way ours read.
    return err["msg"].replace("Input should be", "expected").replace("input", "value")


def _owner_model(model: type[BaseModel], loc: tuple):
    """The pydantic model that owns the last key of loc (for 'did you mean' on nested keys)."""
    from pydantic import BaseModel

    current = model
    for part in loc:
        if isinstance(part, int):
            continue
        field = current.model_fields.get(part) if current else None
        if field is None:
            return current
        ann = field.annotation
        candidates = [ann] + list(getattr(ann, "__args__", ()))
        nxt = None
        for c in candidates:
            args = getattr(c, "__args__", ())
            for x in [c, *args]:
                if isinstance(x, type) and issubclass(x, BaseModel):
                    nxt = x
        if nxt is None:
            return current
        current = nxt
    return current


def _validate(model: type[BaseModel], data: Any, prefix: tuple, file: str, lines: dict, problems: list[Problem]):
    try:
        return model.model_validate(data)
    except ValidationError as e:
        errors = e.errors(include_url=False)
    for err in errors:
        loc = prefix + tuple(err["loc"])
        problems.append(Problem(file, line_of(lines, loc), format_path(loc), _describe_error(err, model)))
    # pydantic runs a model's own checks (keys that go together) only once every key is valid: ask
    # again without the wrong keys, so those come in this round too, not after the first fix.
    bad = {err["loc"][0] for err in errors if err["loc"]}
    if isinstance(data, dict) and bad and any(k in data for k in bad):
        try:
            model.model_validate({k: v for k, v in data.items() if k not in bad})
        except ValidationError as e:
            for err in e.errors(include_url=False):
                if err["loc"] and (err["loc"][0] in bad or err["type"] == "missing"):
                    continue  # already named, or missing only because it was taken out
                loc = prefix + tuple(err["loc"])
                problems.append(Problem(file, line_of(lines, loc), format_path(loc), _describe_error(err, model)))
    return None


def _plugin_class(kind: str, name: Any, loc: tuple, file: str, lines: dict, problems: list[Problem]):
    choices = registry.names(kind)
    if not isinstance(name, str) or name not in choices:
        hint = _did_you_mean(str(name), choices) if isinstance(name, str) else ""
        problems.append(Problem(file, line_of(lines, loc), format_path(loc),
                                f"unknown {kind} {name!r}{hint}; installed: {', '.join(choices)}"))
        return None
    try:
        return registry.load(kind, name)
    except registry.PluginError as e:
        problems.append(Problem(file, line_of(lines, loc), format_path(loc), str(e)))
        return None


def parse_config(text: str, file: str = "<config>", base_dir: Path | None = None) -> Config:
    problems: list[Problem] = []
    try:
        data, lines = load_with_lines(text)
    except YamlError as e:
        raise ConfigError([Problem(file, e.line, "", f"{'refused' if e.limit else 'not valid YAML'}: {e}")])
    if not isinstance(data, dict):
        raise ConfigError([Problem(file, 1, "", "expected a mapping with keys state_dir, sources, outputs")])

    settings = _validate(AgentSettings, data, (), file, lines, problems)

    def blocks(kind: str, key: str) -> list[tuple[int, Any]]:
        """The valid blocks of a list (sources or outputs) with their index, each validated by the
        config model of the plugin its `type` names."""
        out = []
        items = data.get(key)
        for i, raw in enumerate(items if isinstance(items, list) else []):  # not a list: AgentSettings says so
            loc = (key, i)
            if not isinstance(raw, dict):
                continue  # AgentSettings says "expected a mapping"
            if kind == "source" and "parser" in raw:
                # Named even when the rest of the block is wrong: every error in one round.
                _plugin_class("parser", raw["parser"], loc + ("parser",), file, lines, problems)
            if kind == "source" and isinstance(raw.get("name"), str):
                if raw["name"] in names_seen:
                    problems.append(Problem(file, line_of(lines, loc + ("name",)), format_path(loc + ("name",)),
                                            f"duplicate source name {raw['name']!r}: names key the checkpoints and "
                                            f"must be unique"))
                names_seen.add(raw["name"])
            cls = _plugin_class(kind, raw.get("type"), loc + ("type",), file, lines, problems)
            if cls is None:
                continue
            cfg = _validate(cls.Config, _resolve_paths(raw, base_dir, cls.Config) if base_dir else raw, loc, file, lines, problems)
            if cfg is not None:
                out.append((i, cfg))
        return out

    names_seen: set[str] = set()
    sources = blocks("source", "sources")
    outputs = blocks("output", "outputs")
    type_counts = Counter(cfg.type for _, cfg in outputs)
    for i, cfg in outputs:
        if not cfg.name:
            cfg.name = cfg.type if type_counts[cfg.type] == 1 else f"{cfg.type}_{i}"
    if settings is not None and settings.integrity is not None:
        problems += _namespaces_shared(sources, file, lines)
    if problems:
        raise ConfigError(problems)
    return Config(path=file, settings=settings, sources=[c for _, c in sources], outputs=[c for _, c in outputs])


def load_config(path: str | os.PathLike) -> Config:
    """Read and validate the config file at `path` (every source's and output's block against its
    plugin's Config model): a Config, or ConfigError naming each problem's file, line and key."""
    p = Path(path)
    try:
        # O_NONBLOCK: opening a FIFO nobody writes to would wait forever (check, start, a reload).
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK)
        with open(fd, "rb") as f:
            if stat.S_ISFIFO(os.fstat(fd).st_mode) or stat.S_ISSOCK(os.fstat(fd).st_mode):
                raise ConfigError([Problem(str(p), None, "", "refused: not a regular file (a FIFO or socket)")])
            os.set_blocking(fd, True)
            raw = f.read(MAX_TEXT + 1)  # no more than the bound, whatever the file (or /dev/zero) holds
        if len(raw) > MAX_TEXT:
            raise ConfigError([Problem(str(p), None, "", f"refused: the config is over {MAX_TEXT} bytes")])
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise ConfigError([Problem(str(p), None, "", "config file not found")])
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError([Problem(str(p), None, "", f"cannot read config: {e}")])
    # Relative paths in a config are relative to the config file, so a demo runs from any cwd: to the folder of
    # its path as given, made absolute, symlinks not followed. A config read through a link (a Kubernetes
    # ConfigMap's `shipper.yaml -> ..data/shipper.yaml`, `..data -> ..2026_12_05_x`, switched at each update)
    # took them from the link's target before: after a switch the agent used another, empty state_dir and read
    # everything again without a word, and a secret file named a folder the kubelet had deleted.
    base = Path(os.path.abspath(p)).parent
    cfg = parse_config(text, str(p), base)
    configured = cfg.settings.state_dir
    cfg.settings.state_dir = os.path.abspath(base / configured)
    cfg.base_dir = str(base)
    earlier = (p.resolve().parent / configured).resolve()  # where earlier releases put it
    if str(earlier) != os.path.realpath(cfg.settings.state_dir):
        cfg.earlier_state_dir = str(earlier)
        cfg.state_dir_line = line_of(load_with_lines(text)[1], ("state_dir",))
    if cfg.settings.integrity is not None:
        cfg.integrity_key = _integrity_key(cfg.settings.integrity, text, str(p), base)
    return cfg


def _namespaces_shared(sources: list[tuple[int, SourceConfig]], file: str, lines) -> list[Problem]:
    """With integrity on, two sources of one id_namespace are refused: each seals the events it reads
    into its own chain, and a store keeps one copy of an event both read (one _id), so the other chain's
    links would read "missing" to an auditor, like deleted ones (docs/evidence.md)."""
    out, first = [], {}
    for i, cfg in sources:
        ns = cfg.id_namespace or cfg.name
        if ns not in first:
            first[ns] = cfg.name
            continue
        loc = ("sources", i, "id_namespace" if cfg.id_namespace else "name")
        out.append(Problem(file, line_of(lines, loc), format_path(loc),
                           f"source {cfg.name!r} shares id_namespace {ns!r} with source {first[ns]!r}: with integrity on, "
                           "each seals its events into its own chain while the store keeps one copy of an event both "
                           "read, so the other chain's links would read 'missing' to an auditor; give each source its "
                           "own id_namespace (each stores its copy) or read the installation with one source"))
    return out


def _integrity_key(icfg: IntegrityConfig, text: str, file: str, base: Path):
    from shipper.integrity import load_sealing_key
    from shipper.secrets import SecretError

    icfg.key_file = str(base / icfg.key_file)
    try:
        return load_sealing_key(icfg.key_file)
    except SecretError as e:
        _, lines = load_with_lines(text)
        loc = ("integrity", "key_file")
        raise ConfigError([Problem(file, line_of(lines, loc), format_path(loc), str(e))]) from None


def _resolve_paths(raw: dict, base: Path, model: type[BaseModel]) -> dict:
    """Every relative path option of a source or output block (password_file, ca_file, what its model
    declares ConfigPath), in the block and in the blocks nested in it (a Fluentd output's `servers`),
    made relative to the config's folder, before validation reads them. (`paths` globs are resolved
    by the file source itself.)"""
    keys = path_options(model)
    out = {}
    for k, v in raw.items():
        if k in keys and isinstance(v, str) and v and not os.path.isabs(v):
            v = str(base / v)
        elif k in model.model_fields:
            nested = _nested_model(model.model_fields[k].annotation)
            if nested is not None and isinstance(v, dict):
                v = _resolve_paths(v, base, nested)
            elif nested is not None and isinstance(v, list):
                v = [_resolve_paths(item, base, nested) if isinstance(item, dict) else item for item in v]
        out[k] = v
    return out


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    """The config model a field holds (`Model`, `Model | None`, `list[Model]`), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _nested_model(arg)
        if found is not None:
            return found
    return None
