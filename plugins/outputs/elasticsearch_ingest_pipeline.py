"""What Elastic's integrations do server-side, for shipper's documents: an ingest pipeline
(`event.ingested`, GeoIP and ASN of `source.ip`, `user_agent.original` parsed) run as each index's
`final_pipeline`, and typed mappings for the vendor fields a parser declares.

A parser declares its namespace's known fields in `vendor_field_types` (dotted name under the
namespace → ECS type: keyword, long, boolean, ip, date, flattened): only fields whose type the
parser guarantees, since a value of another shape would be refused by the index. Open-ended blobs
(Databricks `request_params`) are `flattened`. The rest of a namespace is kept in `_source` but not
indexed (`dynamic: false`): no vendor value can make Elasticsearch refuse a document. A namespace
whose parser declares nothing stays wholly `flattened`, as before.

An event sealed by the agent (`event.hash`, docs/evidence.md) is stored as sealed: the enrichments
that would write into its fields (GeoIP/ASN into `source.*`, `user_agent.*`) skip it (UNSEALED), so
that `shipper verify` can tell tampering from enrichment; `event.ingested`, the store's own field,
is set on every document and left out of the hash (shipper.integrity.hashed_part).

The processors are Elasticsearch's own (geoip, user_agent, set): nothing is parsed here. Failures of
an enrichment never lose the document (`ignore_failure`); a pipeline error is marked as ECS wants
(`event.kind: pipeline_error`, `error.message`) on an unsealed document; a sealed one is stored as
sealed (a mark in its covered fields would read as tampering).
"""
from __future__ import annotations

import re
from typing import Any

from shipper.api import installed_parsers

# Where the enrichment puts what it found (ECS fields).
SOURCE_IP, SOURCE_GEO, SOURCE_AS = "source.ip", "source.geo", "source.as"
USER_AGENT = "user_agent.original"
# Painless (Elasticsearch and OpenSearch, null-safe): the document carries no integrity seal.
UNSEALED = "ctx.event?.hash == null"


def pipeline_name(template_name: str) -> str:
    return f"{template_name}-enrich"


def pipeline(server: Any = None) -> dict:
    """The pipeline body. Every processor is in Elasticsearch 7.17+ and OpenSearch 1+ (ingest-geoip
    and ingest-user-agent are bundled modules in both; the GeoLite2 City and ASN databases too)."""
    return {
        "description": "shipper: event.ingested, GeoIP/ASN of source.ip, user_agent.original parsed "
                       "(what Elastic's integrations do server-side)",
        "processors": [
            {"set": {"field": "event.ingested", "value": "{{{_ingest.timestamp}}}",
                     "tag": "event_ingested"}},
            {"geoip": {"field": SOURCE_IP, "target_field": SOURCE_GEO, "ignore_missing": True,
                       "ignore_failure": True, "tag": "geoip_source", "if": UNSEALED}},
            {"geoip": {"field": SOURCE_IP, "target_field": SOURCE_AS, "database_file": "GeoLite2-ASN.mmdb",
                       "properties": ["asn", "organization_name", "network"], "ignore_missing": True,
                       "ignore_failure": True, "tag": "geoip_source_asn", "if": UNSEALED}},
            # The ASN database names its fields as MaxMind does: renamed to ECS (as.number, as.organization.name).
            {"rename": {"field": "source.as.asn", "target_field": "source.as.number", "ignore_missing": True,
                        "ignore_failure": True, "if": UNSEALED}},
            {"rename": {"field": "source.as.organization_name", "target_field": "source.as.organization.name",
                        "ignore_missing": True, "ignore_failure": True, "if": UNSEALED}},
            {"rename": {"field": "source.as.network", "target_field": "source.network.name", "ignore_missing": True,
                        "ignore_failure": True, "if": UNSEALED}},
            {"user_agent": {"field": USER_AGENT, "target_field": "user_agent", "ignore_missing": True,
                            "ignore_failure": True, "tag": "user_agent", "if": UNSEALED}},
        ],
        # A sealed event is stored as sealed on failure too (its fields are covered by its hash): only
        # event.ingested, which the failing `set` did not write, is then absent (docs/evidence.md).
        "on_failure": [
            {"set": {"field": "event.kind", "value": "pipeline_error", "if": UNSEALED}},
            {"append": {"field": "error.message", "value": "{{{ _ingest.on_failure_message }}}", "if": UNSEALED}},
        ],
        "_meta": {"managed_by": "shipper"},
    }


def vendor_field_types(namespace: str) -> dict[str, str]:
    """The declared field types of the parser whose module is `namespace` ({} if none says)."""
    for cls in installed_parsers().values():  # a broken third-party parser is left out, not fatal
        if cls.module == namespace and cls.vendor_field_types:
            return dict(cls.vendor_field_types)
    return {}


def namespace_mapping(namespace: str, server: Any, types: dict[str, str] | None = None) -> dict:
    """The mapping of one vendor namespace: its declared fields typed, the rest kept unindexed; or
    wholly `flattened` when the parser declares nothing."""
    if types is None:
        types = vendor_field_types(namespace)
    if not types:
        return server.mapping_type("flattened")
    props: dict[str, Any] = {}
    for dotted, kind in sorted(types.items()):
        parts = dotted.split(".")
        node = props
        for p in parts[:-1]:
            holder = node.setdefault(p, {"type": "object", "properties": {}})
            node = holder.setdefault("properties", {})
        leaf = dict(server.mapping_type(kind))
        if leaf["type"] == "keyword":
            leaf["ignore_above"] = 1024
        node[parts[-1]] = leaf
    return {"type": "object", "dynamic": False, "properties": props}


_NO_PROCESSOR = re.compile(r"No processor type exists with name \[([A-Za-z0-9_]+)\]")


def install(output, template_name: str, output_name: str, echo) -> bool:
    """PUT the pipeline through an Elasticsearch/OpenSearch output's client: True when the server took
    it (so the settings may name it as `final_pipeline`). A server without a processor (a node without
    ingest-geoip, say) gets the pipeline without it, said once; one that takes no pipeline at all (no
    ingest, no privilege) is warned about and the templates go without enrichment: shipping never
    depends on it."""
    from elastic_transport import TransportError

    from shipper.api import redact
    from shipper_plugins.outputs.elasticsearch_client import acknowledged, error_reason, transport_reason

    name = pipeline_name(template_name)
    path = f"/_ingest/pipeline/{name}"
    body = pipeline()
    dropped: list[str] = []
    while True:
        try:
            answer = output.client.request("PUT", path, body=body)
        except TransportError as e:
            echo(redact(f"warning: output {output_name}: PUT {path} failed: {transport_reason(e)}; "
                        f"templates installed without enrichment"), err=True)
            return False
        if 200 <= answer.status < 300 and not acknowledged(answer.body):  # a proxy's page: nothing stored
            echo(f"warning: output {output_name}: PUT {path} answered {answer.status} without "
                 f'{{"acknowledged": true}}: {error_reason(answer.body)}; templates installed without enrichment',
                 err=True)
            return False
        if 200 <= answer.status < 300:
            without = f" (without {', '.join(dropped)}: the server has no such processor)" if dropped else ""
            echo(f"output {output_name}: installed {path}{without}")
            return True
        reason = error_reason(answer.body)
        missing = _NO_PROCESSOR.search(reason or "")
        kinds = {next(iter(p)) for p in body["processors"]}
        if missing and missing[1] in kinds and missing[1] not in ("set",):
            dropped.append(missing[1])
            body = {**body, "processors": [p for p in body["processors"] if next(iter(p)) != missing[1]
                                           and not _follows(p, missing[1])]}
            continue
        echo(f"warning: output {output_name}: PUT {path} refused: {answer.status} {reason}; "
             f"templates installed without enrichment", err=True)
        return False


def _follows(processor: dict, dropped_kind: str) -> bool:
    """The renames that only tidy what a dropped geoip wrote."""
    return dropped_kind == "geoip" and "rename" in processor and processor["rename"]["field"].startswith("source.as.")
