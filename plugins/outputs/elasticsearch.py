"""`type: elasticsearch` — `_bulk` with `create` and the event's stable id as `_id`.

Exactly once in effect: a replay after a crash or a resent request gets 409 for what is already
stored, counted as a duplicate avoided. Per item: 2xx stored; 409 already there; 429 and 5xx sent
again (only those items) with backoff; any other 4xx written to the dead-letter file and acked, so
the source moves on. Whole-request failures (refused, timeout, 429/5xx on the request) are retried
with backoff, and nothing is acked until stored.
"""
from __future__ import annotations

import logging
import os
import random
import re
from typing import Literal

import orjson
from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import TransportError
from elasticsearch import ApiError, UnsupportedProductError
from pydantic import Field, field_validator, model_validator

from shipper import metrics
from shipper.config_base import OutputConfig
from shipper.log import Throttled
from shipper.plugin import Batch, Output, Stopping, index_key
from shipper.secrets import SecretError, read_secret
from shipper_plugins.outputs.elasticsearch_client import make_client
from shipper_plugins.outputs.elasticsearch_dead_letter import DeadLetterFile

log = logging.getLogger("shipper.output.elasticsearch")

_DATASET_BAD = re.compile(r"[^a-z0-9_.]")
_INDEX_FIELDS = ("dataset", "namespace", "module", "yyyy", "MM", "dd")


class ElasticsearchOutputConfig(OutputConfig):
    type: Literal["elasticsearch"] = "elasticsearch"
    hosts: list[str] = Field(default=["http://127.0.0.1:9200"], min_length=1)
    username: str | None = None
    password_file: str | None = None
    password_env: str | None = None
    api_key_file: str | None = None  # the base64 "id:key" form, as Kibana shows it
    api_key_env: str | None = None
    bearer_token_file: str | None = None
    bearer_token_env: str | None = None
    ca_file: str | None = None
    verify_certs: bool = True
    namespace: str = "default"  # data stream namespace
    index: str | None = None  # a plain index pattern instead of data streams, e.g. "audit-{dataset}-{yyyy}.{MM}"
    batch_size: int = Field(default=1000, ge=1)  # documents per bulk request
    batch_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)  # uncompressed body per bulk request
    flush_interval: float = Field(default=1.0, ge=0)
    dead_letter: str | None = None  # default <state_dir>/dead_letter/<output name>.ndjson
    compress: bool = True  # gzip request bodies
    request_timeout: float = Field(default=60.0, gt=0)
    backoff_base: float = Field(default=0.5, gt=0)
    backoff_max: float = Field(default=30.0, gt=0)
    # Used by `shipper setup elasticsearch`:
    template_name: str = "shipper"
    flattened_namespaces: list[str] | None = None  # default: every installed parser's module

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, v: str) -> str:
        # Elasticsearch's data stream naming scheme: lower case, no '-', at most 100 bytes.
        if not re.fullmatch(r"[a-z0-9_]{1,100}", v):
            raise ValueError("a data stream namespace is lower case letters, digits and '_' (no '-')")
        return v

    @field_validator("index")
    @classmethod
    def _index(cls, v: str | None) -> str | None:
        if v is None:
            return v
        try:
            sample = v.format(**{k: "x" for k in _INDEX_FIELDS})
        except (KeyError, IndexError, ValueError) as e:
            raise ValueError(f"index pattern may use {{{'}, {'.join(_INDEX_FIELDS)}}} only ({e})")
        if sample != sample.lower() or sample.startswith(("-", "_", "+")):
            raise ValueError("index names are lower case and do not start with -, _ or +")
        return v

    @model_validator(mode="after")
    def _auth(self):
        for a, b in (("password_file", "password_env"), ("api_key_file", "api_key_env"),
                     ("bearer_token_file", "bearer_token_env")):
            if getattr(self, a) and getattr(self, b):
                raise ValueError(f"give {a} or {b}, not both")
        if (self.password_file or self.password_env) and self.username is None:
            raise ValueError("a password needs a username")
        # A missing secret is a config error (file, line, key) now, not a traceback at start.
        for a, b, what in (("password_file", "password_env", "password"), ("api_key_file", "api_key_env", "api key"),
                           ("bearer_token_file", "bearer_token_env", "bearer token")):
            try:
                read_secret(getattr(self, a), getattr(self, b), what)
            except SecretError as e:
                raise ValueError(str(e)) from None
        return self


def dataset_of(event: dict) -> str:
    return _dataset_name(index_key(event)[0])


def _dataset_name(ds) -> str:
    if not isinstance(ds, str) or not ds:
        return "generic"
    return _DATASET_BAD.sub("_", ds.lower())[:100]


class IndexNamer:
    """`logs-<event.dataset>-<namespace>`, or the configured `index` pattern."""

    def __init__(self, cfg: ElasticsearchOutputConfig):
        self.namespace = cfg.namespace
        self.pattern = cfg.index
        self._cache: dict[str, str] = {}

    def __call__(self, event: dict) -> str:
        return self.of_key(index_key(event))

    def of_key(self, key: tuple) -> str:
        """The index of an event from its shipper.plugin.index_key (what parse workers send)."""
        ds, module, ts = key
        ds = _dataset_name(ds)
        if self.pattern is None:
            name = self._cache.get(ds)
            if name is None:
                name = self._cache[ds] = f"logs-{ds}-{self.namespace}"
            return name
        ts = ts if isinstance(ts, str) and len(ts) >= 10 else "0000-00-00"
        return self.pattern.format(dataset=ds, namespace=self.namespace, module=module or "generic",
                                   yyyy=ts[0:4], MM=ts[5:7], dd=ts[8:10])


class ElasticsearchOutput(Output):
    Config = ElasticsearchOutputConfig

    def __init__(self, config: ElasticsearchOutputConfig, ctx):
        super().__init__(config, ctx)
        self.client = make_client(config)
        self.index_of = IndexNamer(config)
        path = config.dead_letter or os.path.join("dead_letter", f"{ctx.name}.ndjson")
        self.dead_letter = DeadLetterFile(os.path.join(ctx.state_dir, path))  # absolute paths stay as they are
        self.coalesce = (config.batch_size, config.flush_interval)  # read by the output worker
        self._trouble = Throttled(log)
        name = ctx.name
        self._m_errors = metrics.output_errors.labels(name)
        self._m_retries = metrics.output_retries.labels(name)
        self._m_dupes = metrics.duplicates_avoided.labels(name)
        self._m_dead = metrics.dead_lettered.labels(name)

    def describe(self) -> str:
        where = f"index {self.config.index}" if self.config.index else f"data streams logs-<dataset>-{self.config.namespace}"
        return f"elasticsearch {', '.join(self.config.hosts)} → {where}; dead letters {self.dead_letter.path}"

    def close(self) -> None:
        self.client.close()

    def send(self, batch: Batch) -> None:
        self.send_many([batch])

    def send_many(self, batches: list[Batch]) -> None:
        cfg = self.config
        dumps = orjson.dumps
        # (action line + source line, index, _id, event or its line); events are serialised, never modified.
        docs: list[tuple[bytes, str, str, dict | bytes]] = []
        for b in batches:
            if b.lines is not None:
                # From parse workers: the same `dumps(ev, default=str)` lines, and the index keys;
                # the event itself is decoded only for a dead letter.
                of_key = self.index_of.of_key
                for line, key, _id in zip(b.lines.split(b"\n"), b.index_keys, b.ids):
                    index = of_key(key)
                    action = dumps({"create": {"_index": index, "_id": _id}})
                    docs.append((action + b"\n" + line + b"\n", index, _id, line))
                continue
            for ev, _id in zip(b.events, b.ids):
                index = self.index_of(ev)
                action = dumps({"create": {"_index": index, "_id": _id}})
                docs.append((action + b"\n" + dumps(ev, default=str) + b"\n", index, _id, ev))
        start = 0
        while start < len(docs):
            end, size = start, 0
            while end < len(docs) and end - start < cfg.batch_size and (end == start or size + len(docs[end][0]) <= cfg.batch_bytes):
                size += len(docs[end][0])
                end += 1
            self._deliver(docs[start:end])
            start = end

    def _deliver(self, docs: list[tuple[bytes, str, str, dict]]) -> None:
        pending = docs
        failures = 0
        while pending:
            if self.ctx.stop.is_set():
                raise Stopping()
            items = self._bulk(pending, failures)
            if items is None:  # whole request failed
                failures += 1
                self._m_retries.inc()
                self._sleep(failures)
                continue
            retry, dead = [], []
            for doc, item in zip(pending, items):
                result = next(iter(item.values())) if isinstance(item, dict) and item else {}
                status = result.get("status", 0) if isinstance(result, dict) else 0
                if 200 <= status < 300:
                    continue
                if status == 409:
                    self._m_dupes.inc()
                elif status == 429 or status >= 500 or status == 0:
                    retry.append(doc)
                else:
                    dead.append({"output": self.ctx.name, "index": doc[1], "_id": doc[2], "status": status,
                                 "error": result.get("error"),
                                 "event": doc[3] if isinstance(doc[3], dict) else orjson.loads(doc[3])})
            if dead:
                self._dead_letter(dead)
            if retry:
                failures += 1
                self._m_retries.inc(len(retry))
                self._trouble.failure("elasticsearch refused some documents for now; sending them again",
                                      output=self.ctx.name, documents=len(retry))
                self._sleep(failures)
            else:
                self._trouble.recovered("elasticsearch delivery recovered", output=self.ctx.name)
            pending = retry

    def _bulk(self, docs, failures: int) -> list | None:
        body = b"".join(d[0] for d in docs)
        try:
            resp = self.client.bulk(operations=body)
        except ApiError as e:
            status = e.meta.status if e.meta is not None else 0
            self._m_errors.inc()
            if status == 413 and len(docs) > 1:  # too large for http.max_content_length: halve
                half = len(docs) // 2
                self._deliver(docs[:half])
                self._deliver(docs[half:])
                return [{"create": {"status": 200}}] * len(docs)
            self._trouble.failure("elasticsearch bulk request failed; retrying", output=self.ctx.name,
                                  status=status, error=str(e.message)[:200])
            return None
        except (TransportError, TransportConnectionError, UnsupportedProductError) as e:
            self._m_errors.inc()
            self._trouble.failure("elasticsearch unreachable; retrying", output=self.ctx.name,
                                  error=f"{type(e).__name__}: {str(e)[:200]}")
            return None
        body = resp.body
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(items, list) or len(items) != len(docs):
            self._m_errors.inc()
            self._trouble.failure("elasticsearch bulk answer does not match the request; retrying",
                                  output=self.ctx.name)
            return None
        return items

    def _dead_letter(self, entries: list[dict]) -> None:
        while True:
            try:
                self.dead_letter.write(entries)
                break
            except OSError as e:  # not on disk → not acked: keep trying (the batch waits)
                self._m_errors.inc()
                self._trouble.failure("cannot write the dead-letter file", output=self.ctx.name,
                                      path=self.dead_letter.path, error=e.strerror)
                if self.ctx.stop.wait(1.0):
                    raise Stopping()
        self._m_dead.inc(len(entries))
        first = entries[0]
        log.warning("elasticsearch rejected documents; written to the dead-letter file",
                    extra={"output": self.ctx.name, "documents": len(entries), "path": self.dead_letter.path,
                           "status": first["status"], "error_type": _error_type(first.get("error")),
                           "first_id": first["_id"]})

    def _sleep(self, failures: int) -> None:
        cfg = self.config
        delay = random.uniform(cfg.backoff_base / 2, min(cfg.backoff_max, cfg.backoff_base * 2 ** min(failures, 20)))
        if self.ctx.stop.wait(delay):
            raise Stopping()


def _error_type(error) -> str | None:
    return error.get("type") if isinstance(error, dict) else (str(error)[:100] if error else None)
