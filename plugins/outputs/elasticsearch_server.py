"""What server an Elasticsearch/OpenSearch output talks to (from its `GET /` answer) and what that
product and version accept: data streams, and the mapping types of shipper's index templates.

Versions supported: Elasticsearch 7.17, 8.x, 9.x; OpenSearch 1.x, 2.x, 3.x.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ELASTICSEARCH = "elasticsearch"
OPENSEARCH = "opensearch"


class NotASearchServer(ValueError):
    """The `GET /` answer is not the one of Elasticsearch or OpenSearch."""


@dataclass(frozen=True)
class Server:
    flavour: str  # ELASTICSEARCH or OPENSEARCH
    number: str  # as the server says, e.g. "8.15.3"

    @property
    def version(self) -> tuple[int, int, int]:
        parts = [int(p) if p.isdigit() else 0 for p in self.number.split("-")[0].split(".")[:3]] + [0, 0, 0]
        return parts[0], parts[1], parts[2]

    @property
    def name(self) -> str:
        return f"{'OpenSearch' if self.flavour == OPENSEARCH else 'Elasticsearch'} {self.number}"

    @property
    def supported(self) -> bool:
        v = self.version
        return v >= (1, 0, 0) if self.flavour == OPENSEARCH else v >= (7, 17, 0)

    @property
    def has_data_streams(self) -> bool:
        # Elasticsearch since 7.9; OpenSearch since 1.0 (opensearch-project/OpenSearch#690, in the
        # 1.0.0 release notes). Older servers get plain indices with the same names.
        v = self.version
        return v >= (1, 0, 0) if self.flavour == OPENSEARCH else v >= (7, 9, 0)

    def mapping_type(self, ecs_type: str) -> dict:
        """The mapping this server accepts for an ECS field type: the type itself where it has it,
        else the nearest one that indexes the same values."""
        if self.flavour != OPENSEARCH:
            return {"type": ecs_type}
        v = self.version
        if ecs_type == "flattened":
            # flat_object since 2.7; before, the object is kept in _source but not indexed, so a
            # vendor field can never be refused for a type clash.
            return {"type": "flat_object"} if v >= (2, 7, 0) else {"type": "object", "enabled": False}
        if ecs_type == "wildcard":
            return {"type": "wildcard"} if v >= (2, 15, 0) else {"type": "keyword"}
        if ecs_type == "match_only_text":
            return {"type": "match_only_text"} if v >= (2, 12, 0) else {"type": "text"}
        if ecs_type == "constant_keyword":
            return {"type": "keyword"}
        return {"type": ecs_type}


# What `shipper setup elasticsearch --print` assumes when no server is asked.
DEFAULT_SERVER = Server(ELASTICSEARCH, "9.0.0")


def server_of(root: Any) -> Server:
    """The Server from a `GET /` answer; raises NotASearchServer for anything else."""
    version: Any = root.get("version") if isinstance(root, dict) else None  # JSON: checked below
    number = version.get("number") if isinstance(version, dict) else None
    if not isinstance(number, str) or not number[:1].isdigit():
        raise NotASearchServer(f"GET / did not answer with a version number: {str(root)[:200]}")
    flavour = OPENSEARCH if version.get("distribution") == "opensearch" else ELASTICSEARCH
    return Server(flavour, number)
