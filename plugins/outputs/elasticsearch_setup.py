"""`shipper setup elasticsearch`: installs the index template shipper's documents are written into
(the way `filebeat setup` does): ECS field types from Elastic's definitions for the ECS fields,
`flattened` for the free-form vendor namespaces, data stream settings.

For every output of `type: elasticsearch` or `type: opensearch`, the server is asked what it is
(`GET /`) and given templates it accepts: the mapping types that product and version have
(plugins/outputs/elasticsearch_server.py), and `data_stream` only where it has data streams.
Each step is one (path, body) of `templates()`, installed in order: a later step (an ingest
pipeline, say) is added there.

The field types travel in the package (`ecs_field_types.yml`, built by
scripts/build_ecs_field_types.py), because the agent's host has no copy of ECS.
"""
from __future__ import annotations

import sys
import threading
from typing import Any

import click

from shipper.api import (
    ConfigError,
    OutputContext,
    PermanentRefusal,
    ecs_field_types,
    installed_parsers,
    load_config,
    redact,
)
from shipper_plugins.outputs import elasticsearch_ingest_pipeline as ingest_pipeline
from shipper_plugins.outputs.elasticsearch_ingest_pipeline import namespace_mapping, pipeline, pipeline_name
from shipper_plugins.outputs.elasticsearch_server import DEFAULT_SERVER, Server

TEMPLATE_PRIORITY = 200  # above Elasticsearch's built-in `logs` template (100) for the same names


def _leaf(spec: Any, server: Server) -> dict:
    if isinstance(spec, str):
        spec = {"type": spec}
    out: dict[str, Any] = server.mapping_type(spec["type"])
    kind = out["type"]
    if kind == "keyword":
        out["ignore_above"] = spec.get("ignore_above", 1024)
    if kind == "scaled_float":
        out["scaling_factor"] = spec["scaling_factor"]
    if spec.get("multi_fields"):
        out["fields"] = {name: server.mapping_type(t) for name, t in spec["multi_fields"].items()}
    return out


def ecs_mappings(flattened: list[str], server: Server = DEFAULT_SERVER) -> dict:
    """Index mappings: every ECS field with its ECS type (or the nearest type the server has);
    each vendor namespace `flattened` (OpenSearch: `flat_object`)."""
    root: dict[str, Any] = {}
    for name, spec in ecs_field_types()["fields"].items():
        parts = name.split(".")
        node = root
        for p in parts[:-1]:
            holder = node.setdefault(p, {})
            node = holder.setdefault("properties", {})
        leaf = _leaf(spec, server)
        existing = node.get(parts[-1])
        if leaf["type"] in ("object", "nested") and leaf.get("enabled", True):
            # ECS declares `x` as object/nested and `x.y` as its fields: keep both.
            node[parts[-1]] = {**(existing or {}), "type": leaf["type"]}
        elif existing and "properties" in existing:
            continue  # a leaf that ECS also nests under (none in 9.4): the object wins
        else:
            node[parts[-1]] = leaf
    for ns in flattened:
        root[ns] = namespace_mapping(ns, server)  # the parser's typed fields, else flattened
    # Vendor strings that look like dates stay strings; unknown fields outside ECS still map.
    return {"date_detection": False, "properties": root}


def index_patterns(cfg) -> list[str]:
    if cfg.index:
        return [cfg.index.format(dataset="*", namespace=cfg.namespace, module="*", yyyy="*", MM="*", dd="*")]
    return [f"logs-{ns}.*-{cfg.namespace}" for ns in flattened_namespaces(cfg)]


def flattened_namespaces(cfg) -> list[str]:
    """The vendor namespaces to map `flattened`: by default each installed parser's `module`, so a
    third-party parser's namespace is covered too and the core names no product."""
    if cfg.flattened_namespaces is not None:
        return list(cfg.flattened_namespaces)
    return sorted({cls.module for cls in installed_parsers().values()})


def templates(cfg, server: Server = DEFAULT_SERVER, enrich: str = "install") -> dict[str, dict]:
    """{API path: body} for the component templates and the index template, in install order,
    as this server accepts them. `enrich`: "install" (the ingest pipeline is the first step),
    "installed" (only named as final_pipeline), "none" (the server took no pipeline)."""
    name = cfg.template_name
    meta = {"managed_by": "shipper", "ecs_version": ecs_field_types()["ecs_version"]}
    settings = {"index": {"codec": "best_compression", "mapping": {"total_fields": {"limit": 10000},
                                                                  "ignore_malformed": True}}}
    if enrich != "none":
        settings["index"]["final_pipeline"] = pipeline_name(name)  # enrichment (plugins/outputs/elasticsearch_ingest_pipeline.py)
    index_template: dict[str, Any] = {
        "index_patterns": index_patterns(cfg),
        "composed_of": [f"{name}@settings", f"{name}-ecs@mappings"],
        "priority": TEMPLATE_PRIORITY,
        "_meta": meta,
    }
    if not cfg.index and server.has_data_streams:
        index_template["data_stream"] = {}
    steps = {f"/_ingest/pipeline/{pipeline_name(name)}": pipeline(server)} if enrich == "install" else {}
    return steps | {
        f"/_component_template/{name}@settings": {"template": {"settings": settings}, "_meta": meta},
        f"/_component_template/{name}-ecs@mappings": {"template": {"mappings": ecs_mappings(flattened_namespaces(cfg), server)},
                                                      "_meta": meta},
        f"/_index_template/{name}": index_template,
    }


SEARCH_TYPES = ("elasticsearch", "opensearch")


# `shipper setup elasticsearch`: registered in the `shipper.setup` entry point group (setup.cfg).
@click.command("elasticsearch")
@click.option("-c", "--config", "config_path", envvar="SHIPPER_CONFIG", default="/etc/shipper/shipper.yaml",
              show_default=True, help="Config file (or the SHIPPER_CONFIG environment variable).")
@click.option("--output", "output_name", default=None,
              help="Only this output (default: every elasticsearch and opensearch output).")
@click.option("--print", "print_only", is_flag=True,
              help="Print the templates as JSON instead of installing them (for Elasticsearch 9 unless --server).")
@click.option("--server", "server_spec", default=None, metavar="FLAVOUR:VERSION",
              help="With --print: the server to print for, e.g. opensearch:2.19.1 or elasticsearch:7.17.0.")
def setup_elasticsearch(config_path: str, output_name: str | None, print_only: bool, server_spec: str | None) -> None:
    """Install the index template (ECS field types, flattened vendor namespaces) and data stream
    settings, as each Elasticsearch or OpenSearch server accepts them."""
    import orjson

    from shipper_plugins.outputs.elasticsearch import ElasticsearchOutput, ElasticsearchOutputConfig
    from shipper_plugins.outputs.opensearch import OpensearchOutput

    try:
        config = load_config(config_path)
    except ConfigError as e:
        for p in e.problems:
            click.echo(f"error: {p}", err=True)
        sys.exit(2)
    # The loader validated every block with its type's model: these are ElasticsearchOutputConfigs.
    outputs = [o for o in config.outputs if isinstance(o, ElasticsearchOutputConfig) and output_name in (None, o.name)]
    if not outputs:
        click.echo(f"error: {config.path}: no elasticsearch or opensearch output"
                   f"{' named ' + output_name if output_name else ''}", err=True)
        sys.exit(2)
    printed_for = DEFAULT_SERVER
    if server_spec:
        flavour, _, number = server_spec.partition(":")
        if flavour not in SEARCH_TYPES or not number[:1].isdigit():
            click.echo("error: --server is elasticsearch:VERSION or opensearch:VERSION", err=True)
            sys.exit(2)
        printed_for = Server(flavour, number)
    failed = False
    for cfg in outputs:
        if print_only:
            click.echo(orjson.dumps(templates(cfg, printed_for), option=orjson.OPT_INDENT_2).decode())
            continue
        try:
            output_class = OpensearchOutput if cfg.type == "opensearch" else ElasticsearchOutput
            output = output_class(cfg, OutputContext(cfg.name or cfg.type, threading.Event(), config.state_dir))
        except Exception as e:  # unreadable secret file and the like: say which, never the secret
            click.echo(redact(f"error: output {cfg.name}: {e}"), err=True)
            sys.exit(2)
        try:
            failed |= not _install(output, cfg)
        finally:
            output.close()
    sys.exit(1 if failed else 0)


def _install(output, cfg) -> bool:
    from elastic_transport import TransportError

    from shipper_plugins.outputs.elasticsearch_client import acknowledged, error_reason, transport_reason

    try:
        server = output.ask_server()
    except PermanentRefusal as e:
        click.echo(redact(f"error: output {cfg.name}: {e}"), err=True)
        return False
    except TransportError as e:
        click.echo(redact(f"error: output {cfg.name}: cannot ask {', '.join(cfg.hosts)} what it is (GET /): "
                          f"{transport_reason(e)}"), err=True)
        return False
    if server is None:
        # The oldest supported version of the product the type names: templates every later one accepts.
        server = Server("opensearch", "1.0.0") if cfg.type == "opensearch" else Server("elasticsearch", "7.17.0")
        click.echo(f"output {cfg.name}: the server did not say what it is (GET /); "
                   f"installing templates any {server.name} or later accepts", err=True)
    else:
        click.echo(f"output {cfg.name}: {server.name}"
                   f"{'' if server.has_data_streams or cfg.index else ' (no data streams: plain indices)'}")
    enriched = ingest_pipeline.install(output, cfg.template_name, cfg.name, click.echo)
    for path, body in templates(cfg, server, "installed" if enriched else "none").items():
        try:
            answer = output.client.request("PUT", path, body=body)
        except TransportError as e:
            click.echo(redact(f"error: output {cfg.name}: PUT {path} failed: {transport_reason(e)}"), err=True)
            return False
        if not 200 <= answer.status < 300:
            click.echo(f"error: output {cfg.name}: PUT {path} refused: {answer.status} {error_reason(answer.body)}", err=True)
            return False
        if not acknowledged(answer.body):  # a proxy's 200 page stores nothing
            click.echo(f"error: output {cfg.name}: PUT {path} answered {answer.status} without "
                       f'{{"acknowledged": true}}: {error_reason(answer.body)}', err=True)
            return False
        click.echo(f"output {cfg.name}: installed {path}")
    return True
