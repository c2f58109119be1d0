"""`type: opensearch` — the Elasticsearch output (same code, same bulk protocol) with OpenSearch's
defaults: HTTPS on 9200, as OpenSearch installs with its security plugin on. OpenSearch 1.x–3.x;
`shipper setup elasticsearch` installs templates OpenSearch accepts (flat_object, no
constant_keyword)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from shipper_plugins.outputs.elasticsearch import ElasticsearchOutput, ElasticsearchOutputConfig


class OpensearchOutputConfig(ElasticsearchOutputConfig):
    type: Literal["opensearch"] = "opensearch"  # type: ignore[assignment]  # this output's name, not the base's
    hosts: list[str] = Field(default=["https://127.0.0.1:9200"], min_length=1)


class OpensearchOutput(ElasticsearchOutput):
    Config = OpensearchOutputConfig  # type: ignore[assignment]  # a subclass of the base's, as `type` is
    product = "opensearch"
