"""Load YAML and remember the line of every key path, so config errors can name the line."""
from __future__ import annotations

from typing import Any

import yaml


class YamlError(Exception):
    def __init__(self, message: str, line: int | None):
        super().__init__(message)
        self.line = line


class _StrKeyLoader(yaml.SafeLoader):
    """Mapping keys stay the text the operator wrote (YAML 1.1 would turn `on:` or `no:` into booleans)."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            for key_node, _ in node.value:
                if isinstance(key_node, yaml.ScalarNode):
                    key_node.tag = "tag:yaml.org,2002:str"
        return super().construct_mapping(node, deep=deep)


def load_with_lines(text: str) -> tuple[Any, dict[tuple, int]]:
    """Return (data, {path tuple: 1-based line}). Paths use str keys and int list indices."""
    try:
        node = yaml.compose(text, Loader=_StrKeyLoader)
        data = yaml.load(text, Loader=_StrKeyLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        raise YamlError(f"{e.problem or e}", mark.line + 1 if mark else None) from None
    except yaml.YAMLError as e:
        raise YamlError(str(e), None) from None
    lines: dict[tuple, int] = {}
    if node is not None:
        _walk(node, (), lines)
    return data, lines


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
