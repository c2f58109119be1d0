"""Load YAML and remember the line of every key path, so config errors can name the line.

Bounded: a config is small, so the text, the aliases (count, and the values they expand to: a dozen
lines of nested aliases would otherwise build billions of values) and the nesting are capped, and an
alias inside the node it names (a cycle) is refused; each with the line to look at."""
from __future__ import annotations

from typing import Any

import yaml
from yaml.events import AliasEvent

MAX_TEXT = 4 << 20  # bytes of config text
MAX_ALIASES = 200  # uses of `*name` in one file
MAX_EXPANDED = 100_000  # values (scalars, lists, mappings) once every alias is expanded


class YamlError(Exception):
    def __init__(self, message: str, line: int | None, limit: bool = False):
        super().__init__(message)
        self.line = line
        self.limit = limit  # valid YAML, but over one of this module's bounds


class _StrKeyLoader(yaml.SafeLoader):
    """Mapping keys stay the text the operator wrote (YAML 1.1 would turn `on:` or `no:` into booleans).
    Counts aliases and refuses one that names a node still open (a cycle)."""

    def __init__(self, stream):
        super().__init__(stream)
        self._open: set[str] = set()
        self.alias_uses: list[tuple[int, yaml.Node]] = []  # (line, node named)
        self._written = 0  # values (not aliases) composed so far

    def compose_node(self, parent, index):
        if self.check_event(AliasEvent):
            event = self.peek_event()
            line = event.start_mark.line + 1
            if event.anchor in self._open:
                raise YamlError(f"alias *{event.anchor} is inside the node &{event.anchor} it names "
                                f"(a value cannot contain itself)", line, limit=True)
            if len(self.alias_uses) >= MAX_ALIASES:
                raise YamlError(f"more than {MAX_ALIASES} aliases (*name) in one config", line, limit=True)
            node = super().compose_node(parent, index)
            self.alias_uses.append((line, node))
            return node
        # The values written out count too: 4 MB of `[0,0,…]` is two million nodes, a gigabyte and minutes.
        self._written += 1
        if self._written > MAX_EXPANDED:
            line = self.peek_event().start_mark.line + 1
            raise YamlError(f"more than {MAX_EXPANDED} values in one config", line, limit=True)
        return super().compose_node(parent, index)

    def compose_sequence_node(self, anchor):
        return self._composing(anchor, super().compose_sequence_node)

    def compose_mapping_node(self, anchor):
        return self._composing(anchor, super().compose_mapping_node)

    def _composing(self, anchor, compose):
        if anchor is not None:
            self._open.add(anchor)
        try:
            return compose(anchor)
        finally:
            self._open.discard(anchor)

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key_node, _ in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                    key_node.tag = "tag:yaml.org,2002:str"  # `<<:` stays a merge of another mapping
                    # YAML keeps the last of two equal keys, silently: a second `sources:` appended to
                    # add a source would remove the first block's sources at the next reload.
                    line = key_node.start_mark.line + 1
                    if key_node.value in seen:
                        raise YamlError(f"{key_node.value!r} is given twice in one mapping (first on line "
                                        f"{seen[key_node.value]}): YAML would keep only the last; merge them", line)
                    seen[key_node.value] = line
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node):
        try:
            return super().construct_yaml_int(node)
        except ValueError as e:  # past Python's int digits limit (4,300): no option takes such a number
            raise YamlError(f"{node.value[:20]}… is not a number shipper can read ({e})",
                            node.start_mark.line + 1) from None


_StrKeyLoader.add_constructor("tag:yaml.org,2002:int", _StrKeyLoader.construct_yaml_int)


def load_with_lines(text: str) -> tuple[Any, dict[tuple, int]]:
    """Return (data, {path tuple: 1-based line}). Paths use str keys and int list indices."""
    if len(text) > MAX_TEXT:
        raise YamlError(f"the config is {len(text)} characters; at most {MAX_TEXT} are read", None, limit=True)
    try:
        # The reader refuses control characters (an escape sequence pasted from a terminal, a NUL)
        # when it is made: it says a position in the text, not a line.
        loader = _StrKeyLoader(text)
    except yaml.reader.ReaderError as e:
        raise YamlError(f"unacceptable character #x{e.character:04x}: special characters are not allowed "
                        "(a control character, e.g. an escape sequence pasted from a terminal)",
                        text.count("\n", 0, e.position) + 1) from None
    try:
        node = loader.get_single_node()
        if node is not None and loader.alias_uses:
            _check_expansion(node, loader.alias_uses)
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        raise YamlError(f"{e.problem or e}", mark.line + 1 if mark else None) from None
    except yaml.YAMLError as e:
        raise YamlError(str(e), None) from None
    except RecursionError:
        raise YamlError("nested too deeply", None, limit=True) from None
    finally:
        loader.dispose()
    lines: dict[tuple, int] = {}
    if node is not None:
        _walk(node, (), lines)
    return data, lines


def _check_expansion(root: yaml.Node, alias_uses: list[tuple[int, yaml.Node]]) -> None:
    """Refuse a document whose aliases expand to more than MAX_EXPANDED values, naming the line of
    the alias that names the largest node."""
    sizes: dict[int, int] = {}

    def size(node: yaml.Node) -> int:
        known = sizes.get(id(node))
        if known is not None:
            return known
        n = 1
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                n += size(k) + size(v)
                if n > MAX_EXPANDED:
                    break
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                n += size(item)
                if n > MAX_EXPANDED:
                    break
        sizes[id(node)] = n
        return n

    if size(root) > MAX_EXPANDED:
        line, node = max(alias_uses, key=lambda u: size(u[1]))
        raise YamlError(f"aliases expand to more than {MAX_EXPANDED} values (an alias bomb?); the alias on "
                        f"this line names {size(node) if size(node) <= MAX_EXPANDED else 'more than ' + str(MAX_EXPANDED)} "
                        f"values", line, limit=True)


def _walk(node: yaml.Node, path: tuple, lines: dict[tuple, int]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            lines[path + (key,)] = key_node.start_mark.line + 1
            _walk(value_node, path + (key,), lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, path + (i,), lines)


def line_of(lines: dict[tuple, int], path: tuple) -> int | None:
    """The line of `path`, or of its nearest ancestor that exists in the file."""
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get(())
