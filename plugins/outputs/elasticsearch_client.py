"""The official Elasticsearch client, configured for shipper: node pool over `hosts`, gzip, orjson,
auth from files or environment, TLS verified unless told otherwise. No retries on status codes:
the output decides per item what to retry (the client would resend whole bulk requests)."""
from __future__ import annotations

from elasticsearch import Elasticsearch
from elasticsearch.serializer import OrjsonSerializer

from shipper.secrets import read_secret


def make_client(cfg) -> Elasticsearch:
    kwargs: dict = {}
    password = read_secret(cfg.password_file, cfg.password_env, "password")
    if cfg.username is not None:
        kwargs["basic_auth"] = (cfg.username, password or "")
    api_key = read_secret(cfg.api_key_file, cfg.api_key_env, "api key")
    if api_key:
        kwargs["api_key"] = api_key
    token = read_secret(cfg.bearer_token_file, cfg.bearer_token_env, "bearer token")
    if token:
        kwargs["bearer_auth"] = token
    if cfg.ca_file:
        kwargs["ca_certs"] = cfg.ca_file
    if any(h.startswith("https") for h in cfg.hosts):
        kwargs["verify_certs"] = cfg.verify_certs
    return Elasticsearch(
        cfg.hosts,
        http_compress=cfg.compress,
        request_timeout=cfg.request_timeout,
        # A refused connection or a timeout moves to the next node of the pool (which marks the
        # failed node dead and retries it later); with one host there is nothing to move to.
        max_retries=len(cfg.hosts) - 1,
        retry_on_timeout=True,  # safe: every document is a `create` with a stable `_id`
        retry_on_status=(),
        dead_node_backoff_factor=1.0,
        max_dead_node_backoff=30.0,
        serializers={"application/json": OrjsonSerializer(), "application/vnd.elasticsearch+json": OrjsonSerializer()},
        **kwargs,
    )
