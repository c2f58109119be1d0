"""`type: elasticsearch` (and `type: opensearch`) — `_bulk` with `create` and the event's stable id
as `_id`, to Elasticsearch 7.17, 8.x, 9.x or OpenSearch 1.x–3.x (elasticsearch_client.py says why
over plain JSON and the bare transport).

Exactly once in effect: a replay after a crash or a resent request gets 409 for what is already
stored, counted as a duplicate avoided once the stored document is read back (`_mget`) and shows the
same event (ID_FIELDS, those the stored `_source` holds; not the read time of an event tagged
`_read_time`). Another event under that `_id` (a product that numbers its records again from an earlier id
after a restore) is stored under an `_id` derived from the first and its content, with a
warning and `shipper_output_ids_reused`; credentials that may not read documents leave a 409 unchecked,
said once. Per item: 2xx stored; 409 already there; 429 and 5xx sent
again (only those items) with backoff; 401/403 or 404 index_not_found on an item refuse the target,
not the document (below); any other status written to the dead-letter file and acked, so the source
moves on. A whole request answered 413 is halved; one document alone answered 413
goes to the dead letter. Outages (refused, timeout, 408/429/5xx on the request) are retried here
with backoff; a 429 or 503 with `Retry-After` (seconds or an HTTP date) waits at least that long, at
most backoff_max. Refusals that sending again unchanged cannot fix (401/403, a certificate that does not
verify, a media type or request the server refuses) are raised as PermanentRefusal: the core logs
them once, shows them and retries with a long backoff. Nothing is acked until stored.

The server is asked what it is (`GET /`) before the first request: its product and version are
logged, kept for `probe()` and the setup command.
"""
from __future__ import annotations

import collections
import hashlib
import logging
import os
import random
import re
import time
from typing import Literal

import orjson
from pydantic import Field, field_validator, model_validator

from shipper.api import (
    PARSE_FAILURE,
    READ_TIME,
    WAIT_MAX,
    Batch,
    BoundedMemo,
    ConfigPath,
    Output,
    OutputConfig,
    PermanentRefusal,
    RegularFile,
    SecretError,
    Stopping,
    Throttled,
    index_key,
    metrics,
    read_secret,
)
from shipper_plugins.outputs.elasticsearch_dead_letter import DeadLetterFile
from shipper_plugins.outputs.elasticsearch_server import NotASearchServer, Server, server_of

log = logging.getLogger("shipper.output.elasticsearch")

# A document on its way: (action line + source line, index, _id, the event or its serialised line).
_Doc = tuple[bytes, str, str, "dict | bytes"]

# What a replay of an event repeats and another event under a reused vendor id hardly would: compared
# between a document answered 409 and the one stored. Fields an ingest pipeline adds or the read time
# sets are left out (a parse failure's @timestamp is its read time: only its original is compared).
ID_FIELDS = ("@timestamp", "message", "event.action", "event.outcome", "event.original", "user.name", "user.id",
             "user.email", "source.ip")
_CONTENT_FIELDS = tuple(f for f in ID_FIELDS if f != "@timestamp")
ids_reused = metrics.counter("shipper_output_ids_reused",
                             "Events answered 409 whose _id holds another event (a vendor id used again): "
                             "stored under an _id derived from their content", ["output"])

dropped_by_server = metrics.counter("shipper_output_dropped_by_server",
                                    "Events the server answered stored yet kept nowhere: an ingest pipeline's `drop` "
                                    "processor (bulk item 200, result noop)", ["output"])
DROPPED_SAID_EVERY = 60.0  # seconds between two warnings naming the events an ingest pipeline dropped

# elastic_transport (with urllib3, requests and asyncio, which its package imports: ~325 M instructions, a third of
# a start) is imported by the methods that talk to a server (elasticsearch_client.py), not at this module's
# import: `check`, `status` and `reset` import it for the config model alone.

# A URL urllib3's parser (under elastic_transport's url_to_node_config) takes as it is: a host of ASCII letters,
# digits, '.' and '-', a port of digits, a path of unreserved characters; no user, query or fragment. The
# config's hosts are checked by url_to_node_config itself only when they are not of this form.
_PLAIN_URL = re.compile(r"https?://[A-Za-z0-9.-]+(?::[0-9]+)?(?:/[A-Za-z0-9._~/-]*)?")

_DATASET_BAD = re.compile(r"[^a-z0-9_.]")
_INDEX_FIELDS = ("dataset", "namespace", "module", "yyyy", "MM", "dd")


class ElasticsearchOutputConfig(OutputConfig):
    type: Literal["elasticsearch"] = "elasticsearch"
    delivery_settings = frozenset({"batch_size", "batch_bytes", "flush_interval", "compress", "request_timeout",
                                   "backoff_base", "backoff_max"})
    hosts: list[str] = Field(default=["http://127.0.0.1:9200"], min_length=1)
    username: str | None = None
    password_file: str | None = None
    password_env: str | None = None
    api_key_file: str | None = None  # the base64 "id:key" form, as Kibana shows it
    api_key_env: str | None = None
    bearer_token_file: str | None = None
    bearer_token_env: str | None = None
    ca_file: RegularFile | None = None
    verify_certs: bool = True
    namespace: str = "default"  # data stream namespace
    index: str | None = None  # a plain index pattern instead of data streams, e.g. "audit-{dataset}-{yyyy}.{MM}"
    batch_size: int = Field(default=1000, ge=1)  # documents per bulk request
    batch_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)  # uncompressed body per bulk request
    flush_interval: float = Field(default=1.0, ge=0, le=WAIT_MAX)
    dead_letter: ConfigPath | None = None  # default <state_dir>/dead_letter/<output name>.ndjson
    compress: bool = True  # gzip request bodies
    request_timeout: float = Field(default=60.0, gt=0, le=WAIT_MAX)
    backoff_base: float = Field(default=0.5, gt=0, le=WAIT_MAX)
    backoff_max: float = Field(default=30.0, gt=0)  # also caps a 429/503's Retry-After
    # Used by `shipper setup elasticsearch`:
    template_name: str = "shipper"
    flattened_namespaces: list[str] | None = None  # default: every installed parser's module

    @field_validator("hosts")
    @classmethod
    def _hosts(cls, v: list[str]) -> list[str]:
        from urllib.parse import urlsplit

        for url in v:
            try:
                parts = urlsplit(url)
                _ = parts.port  # raises on a port that is not a number
            except ValueError as e:  # the URL itself is not repeated: it may hold a password
                # urllib quotes what it took for the port: after an unencoded '/', '?' or '#' in a
                # password, that is the password's first part.
                why = str(e) if "'" not in str(e) else "its port is not a number"
                raise ValueError(f"not a URL: {why} (a password in a URL needs its '/', '?', '#', '@', "
                                 "'\\' percent-encoded; password_file avoids that)") from None
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"{parts.scheme or 'no scheme'}: a host is http://HOST:PORT or https://HOST:PORT")
            if _PLAIN_URL.fullmatch(url):
                continue
            from elastic_transport.client_utils import url_to_node_config

            try:  # what the client will parse it with, so a URL it refuses is a config error, not a traceback
                url_to_node_config(url, use_default_ports_for_scheme=True)
            except ValueError:
                raise ValueError("not a URL the client can use (a password in a URL needs its '/', '?', '#', "
                                 "'@', '\\' percent-encoded; password_file avoids that)") from None
        return v

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


def _dataset_name(ds) -> str:
    if not isinstance(ds, str) or not ds:
        return "generic"
    return _DATASET_BAD.sub("_", ds.lower())[:100]


class IndexNamer:
    """`logs-<event.dataset>-<namespace>`, or the configured `index` pattern."""

    def __init__(self, cfg: ElasticsearchOutputConfig):
        self.namespace = cfg.namespace
        self.pattern = cfg.index
        # dataset -> index name: datasets come from the events (a parser passing a log's own
        # event.dataset on), so the memo is bounded as every other one
        self._names: BoundedMemo[str, str] = BoundedMemo(max_entries=1024)

    def __call__(self, event: dict) -> str:
        return self.of_key(index_key(event))

    def of_key(self, key: tuple) -> str:
        """The index of an event from its shipper.plugin.index_key (what parse workers send)."""
        ds, module, ts = key
        ds = _dataset_name(ds)
        if self.pattern is None:
            name = self._names.get(ds)
            if name is None:
                name = self._names.remember(ds, f"logs-{ds}-{self.namespace}")
            return name
        ts = ts if isinstance(ts, str) and len(ts) >= 10 else "0000-00-00"
        return self.pattern.format(dataset=ds, namespace=self.namespace, module=module or "generic",
                                   yyyy=ts[0:4], MM=ts[5:7], dd=ts[8:10])


class ElasticsearchOutput(Output):
    Config = ElasticsearchOutputConfig
    config: ElasticsearchOutputConfig
    takes_lines = True  # send() writes Batch.lines as they are
    stores_in_order = False  # an index: an export pages through it shard by shard
    product = "elasticsearch"  # what the config's `type` promises, for a warning if the server is another

    def __init__(self, config: ElasticsearchOutputConfig, ctx):
        super().__init__(config, ctx)
        from shipper_plugins.outputs.elasticsearch_client import Client

        self.client = Client(config)
        self.server: Server | None = None  # from GET /, before the first bulk request
        self._server_asked = False
        self._awaiting_answer = 0  # the events of a _bulk request sent and not answered yet (named if close cuts it)
        self.index_of = IndexNamer(config)
        path = config.dead_letter or os.path.join("dead_letter", f"{ctx.name}.ndjson")
        self.dead_letter = DeadLetterFile(os.path.join(ctx.state_dir, path))  # absolute paths stay as they are
        self.coalesce = (config.batch_size, config.flush_interval)  # read by the output worker
        self._trouble = Throttled(log)
        self.trouble: str | None = None  # the current delivery problem, for /health; None when delivering
        name = ctx.name
        self._m_errors = metrics.output_errors.labels(name)
        self._m_retries = metrics.output_retries.labels(name)
        self._m_dupes = metrics.duplicates_avoided.labels(name)
        self._m_dead = metrics.dead_lettered.labels(name)
        self._m_reused = ids_reused.labels(name)
        self._m_dropped = dropped_by_server.labels(name)
        self._dropped_unsaid: list[str] = []  # indices of events dropped by a pipeline since the last warning
        self._dropped_said_at: float | None = None
        self._unchecked_said = False  # a 409 that could not be read back, said once
        self._uncomparable_said = False  # a 409 read back without any field to compare, said once

    def describe(self) -> str:
        where = f"index {self.config.index}" if self.config.index else f"data streams logs-<dataset>-{self.config.namespace}"
        return f"{self.config.type} {', '.join(self.config.hosts)} → {where}; dead letters {self.dead_letter.path}"

    # the server

    def ask_server(self) -> Server | None:
        """`GET /` once: the product and version (None when the answer does not say, e.g. 403 for
        credentials that may not read it). Raises PermanentRefusal for refused credentials or TLS,
        elastic_transport's TransportError for an outage."""
        from elastic_transport import TlsError

        from shipper_plugins.outputs.elasticsearch_client import error_reason, tls_reason, tls_refused

        if self._server_asked:
            return self.server
        try:
            answer = self.client.request("GET", "/")
        except TlsError as e:
            if not tls_refused(e):
                raise
            raise self._refusal(f"TLS: {tls_reason(e)}") from None
        status = answer.status
        if status == 401 or status in (408, 429) or status >= 500:
            self._raise_for(status, answer.body, "GET /")
        try:
            if status != 200:
                raise NotASearchServer(f"GET / answered {status}: {error_reason(answer.body)}")
            self.server = server_of(answer.body)
        except NotASearchServer as e:
            # The bulk request is the judge: a writer-only API key (no `monitor`, 403) or a proxy that
            # lets only the APIs through still takes documents; anything else refuses the bulk request.
            log.warning("cannot tell which server this is; shipping anyway with plain JSON",
                        extra={"output": self.ctx.name, "error": str(e)})
        else:
            extra = {"output": self.ctx.name, "server": self.server.name}
            if not self.server.supported:
                log.warning("this server version is older than shipper supports (Elasticsearch 7.17, OpenSearch 1.0)",
                            extra=extra)
            elif self.server.flavour != self.product:
                log.warning(f"`type: {self.config.type}` talks to {self.server.name}: works, but its defaults "
                            f"and docs are for {self.product}", extra=extra)
            else:
                log.info("connected", extra=extra)
        self._server_asked = True
        return self.server

    def _raise_for(self, status: int, body, what: str) -> None:
        """Outage statuses raise TransportError (retried here); the rest are refusals."""
        from elastic_transport import TransportError

        from shipper_plugins.outputs.elasticsearch_client import error_reason

        reason = error_reason(body)
        if status in (408, 429) or status >= 500:
            raise TransportError(f"{what} answered {status}: {reason}")
        if status == 401:
            raise self._refusal(f"{what}: 401 credentials refused ({reason}); check username/password, api key or token")
        if status == 403:
            raise self._refusal(f"{what}: 403 not allowed ({reason}); the user needs the privilege to create documents "
                                f"in the target indices / data streams")
        if status in (400, 406, 415) and ("media_type" in reason or "is not supported" in reason):
            raise self._refusal(f"{what}: {status} media type refused ({reason})")
        raise self._refusal(f"{what}: {status} refused ({reason})")

    def _refusal(self, reason: str) -> PermanentRefusal:
        return PermanentRefusal(reason, server=", ".join(self.config.hosts))

    def probe(self) -> dict:
        """For `shipper check --outputs`: what the server is, whether it takes our credentials, TLS,
        and whether shipper's index template (and so its data streams) is installed. Raises
        PermanentRefusal for a refusal, OSError (ConnectionError) when no node answered."""
        from elastic_transport import TransportError

        from shipper_plugins.outputs.elasticsearch_client import transport_reason

        try:
            return self._probe()
        except TransportError as e:
            raise ConnectionError(f"{', '.join(self.config.hosts)}: {transport_reason(e)}") from e

    def _probe(self) -> dict:
        from shipper_plugins.outputs.elasticsearch_client import error_reason

        self._server_asked = False
        server = self.ask_server()
        found: dict = {"server": server.name if server else "unknown (GET / did not say; see the warning)",
                       "auth": f"{self.client.auth_kind}, accepted" if self.client.auth_kind != "none" else "none",
                       "tls": self.client.tls}
        name = self.config.template_name
        answer = self.client.request("GET", f"/_index_template/{name}")
        templates = answer.body.get("index_templates") if isinstance(answer.body, dict) else None
        # Only a template the answer shows is installed: a proxy's 200 page or an empty list proves nothing.
        tpl = next((t.get("index_template") or {} for t in templates if isinstance(t, dict)
                    and t.get("name", name) == name), None) if isinstance(templates, list) else None
        if answer.status == 200 and tpl is None:
            found["template"] = (f"unknown: GET /_index_template/{name} answered 200 without it: "
                                 f"{str(answer.body)[:200]}")
        elif answer.status == 200 and tpl is not None:
            found["template"] = f"{name} installed"
            if self.config.index:
                found["data_streams"] = f"no (index pattern {self.config.index})"
            else:
                found["data_streams"] = "yes" if "data_stream" in tpl else "no (plain indices)"
        elif answer.status == 404:
            found["template"] = f"{name} missing: run `shipper setup elasticsearch`"
            if not self.config.index and server is not None and server.flavour == "elasticsearch":
                found["data_streams"] = "yes (Elasticsearch's built-in logs-*-* template)"
            elif not self.config.index:
                found["data_streams"] = "no (plain indices until the template is installed)"
        elif answer.status == 403:  # a writer need not read templates (manage_index_templates)
            found["template"] = f"unknown: these credentials may not read index templates ({error_reason(answer.body)})"
        else:
            self._raise_for(answer.status, answer.body, f"GET /_index_template/{name}")
        return found

    def read_back(self, since: str | None = None):
        """What this output stored, for `shipper verify --output` (plugins/outputs/elasticsearch_read_back.py)."""
        from shipper_plugins.outputs.elasticsearch_read_back import read_back

        return read_back(self.client, self.config, since)

    def close(self) -> None:
        self._name_dropped([], at_close=True)
        waiting = self._awaiting_answer
        if waiting:
            # A reload or stop cutting a request the node may have stored (an answer held by a GC pause or a proxy):
            # its events are read again, refused as duplicates by that cluster (`create`, stable ids) but stored by
            # another one the reload moved the output to (tests/e2e/test_attack19_es_reload_hung_bulk_repeat_unnamed.py),
            # as the Fluentd output names a chunk its close cut.
            log.warning(f"{self.config.type} output {self.ctx.name} closed while a _bulk request of {waiting} events "
                        f"waited for its answer from {', '.join(self.config.hosts)}: the node may have stored them, "
                        "and they are sent again (refused as duplicates by the same cluster; stored again by another: "
                        f"a possible repeat of {waiting} events)", extra={"output": self.ctx.name, "events": waiting})
        self.client.close()

    def _name_dropped(self, indices: list[str], at_close: bool = False) -> None:
        """Events a pipeline dropped: counted, and named in a warning at once, then at most every
        DROPPED_SAID_EVERY seconds (a pipeline dropping "noise" drops some of every request), and at the close."""
        self._m_dropped.inc(len(indices))
        self._dropped_unsaid.extend(indices)
        now = time.monotonic()
        due = self._dropped_said_at is None or now - self._dropped_said_at >= DROPPED_SAID_EVERY or at_close
        if not self._dropped_unsaid or not due:
            return
        counts = collections.Counter(self._dropped_unsaid)
        log.warning(f"{self.config.type} kept {len(self._dropped_unsaid)} events nowhere: an ingest pipeline dropped "
                    "them (bulk items answered 200, result noop: a `drop` processor in the index's default_pipeline "
                    "or final_pipeline); they are not sent again",
                    extra={"output": self.ctx.name, "events": len(self._dropped_unsaid),
                           "indices": ", ".join(f"{i} ({n})" for i, n in counts.most_common(5))})
        self._dropped_unsaid, self._dropped_said_at = [], now

    def send(self, batch: Batch) -> None:
        self.send_many([batch])

    def send_many(self, batches: list[Batch]) -> None:
        cfg = self.config
        dumps = orjson.dumps
        # Events are serialised, never modified.
        docs: list[_Doc] = []
        for b in batches:
            if b.lines is not None and b.index_keys is not None:
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

    def _deliver(self, docs: list[_Doc]) -> None:
        from shipper_plugins.outputs.elasticsearch_client import error_reason

        pending = docs
        failures = 0
        while pending:
            if self.ctx.stop.is_set():
                raise Stopping()
            items = self._bulk(pending)
            if items is None:  # whole request failed
                failures += 1
                self._m_retries.inc()
                self._sleep(failures)
                continue
            retry, dead, conflicts = [], [], []
            dropped: list[str] = []
            for doc, item in zip(pending, items):
                result = next(iter(item.values())) if isinstance(item, dict) and item else {}
                status = result.get("status") if isinstance(result, dict) else None
                if isinstance(status, bool) or not isinstance(status, (int, float)):
                    status = 0  # no status one can read (null, "201", a list): not known stored, sent again
                if 200 <= status < 300:
                    # An index or create answered "noop" was dropped by an ingest pipeline (Elasticsearch's
                    # markItemAsDropped): stored nowhere, and sent again it would be dropped again.
                    if result.get("result") == "noop":
                        dropped.append(str(result.get("_index") or doc[1]))
                    continue
                if status == 409:
                    conflicts.append((doc, str(result.get("_index") or doc[1])))  # a backing index, for a data stream
                elif status == 429 or status >= 500 or status == 0:
                    retry.append(doc)
                elif _refuses_the_target(status, result.get("error")):
                    # Not this document's fault: every document for that index would follow it into
                    # the dead letter. Nothing is acked; stored items answer 409 when sent again.
                    raise self._refusal(f"POST /_bulk: {doc[1]}: {status} "
                                        f"{error_reason({'error': result.get('error')})}")
                else:
                    dead.append(_dead_entry(self.ctx.name, doc, status, result.get("error")))
            if dropped:
                self._name_dropped(dropped)
            if dead:
                self._dead_letter(dead)
            again, unread = self._same_as_stored(conflicts) if conflicts else ([], None)
            if retry or unread:
                failures += 1
                self.trouble = (f"{len(retry)} documents answered 429/5xx; sending them again" if retry else
                                f"documents answered 409 cannot be read back for now ({unread}); sending them again")
                resent = len(retry) + (len(again) if unread else 0)  # with a read-back failed, `again` is every 409
                self._m_retries.inc(resent)
                self._trouble.failure(f"{self.config.type} refused some documents for now; sending them again",
                                      output=self.ctx.name, documents=resent)
                self._sleep(failures)
            else:
                self.trouble = None
                self._trouble.recovered(f"{self.config.type} delivery recovered", output=self.ctx.name)
            pending = retry + again

    def _same_as_stored(self, conflicts: list[tuple[_Doc, str]]) -> tuple[list[_Doc], str | None]:
        """Documents answered 409, read back: those stored as sent are duplicates avoided; another event
        under the `_id` is returned under a derived `_id`, to be sent (warned, counted); one gone since is
        returned as it was. A read-back that failed for now (429, 5xx, a connection lost) returns every
        document, to be sent again after a backoff (they answer 409 and are read back again), with the
        reason: counting them unchecked would lose the events whose vendor id was used again. Only a
        read-back the credentials may not make (401/403) or the server cannot (another 4xx, an answer
        that does not match) leaves the 409s counted as duplicates, said once. Only the fields both the sent
        and the stored event have are compared; a stored document lacking them all is counted unchecked, said once."""
        from elastic_transport import TransportError

        from shipper_plugins.outputs.elasticsearch_client import JSON_HEADERS, answer_max, error_reason, transport_reason

        body = orjson.dumps({"docs": [{"_index": index, "_id": doc[2]} for doc, index in conflicts]})
        try:
            answer = self.client.request("POST", "/_mget", body=body, headers=JSON_HEADERS,
                                         max_answer=answer_max(len(conflicts), sum(len(doc[0]) for doc, _ in conflicts)))
        except TransportError as e:
            return [doc for doc, _index in conflicts], f"_mget: {transport_reason(e)}"
        if answer.status == 429 or answer.status >= 500:
            return [doc for doc, _index in conflicts], f"_mget answered {answer.status}: {error_reason(answer.body)}"
        found = answer.body.get("docs") if answer.status == 200 and isinstance(answer.body, dict) else None
        if not isinstance(found, list) or len(found) != len(conflicts):
            why = f"_mget answered {answer.status}: {error_reason(answer.body)}"
            self._m_dupes.inc(len(conflicts))
            if not self._unchecked_said:
                self._unchecked_said = True
                log.warning(f"{self.config.type}: documents answered 409 (already stored) cannot be read back to "
                            f"check that they hold the same event ({why}): counted as duplicates avoided; an event "
                            "whose product used its id again (a restore) would not be stored. Give the credentials "
                            "the `read` privilege on the target indices (said once)",
                            extra={"output": self.ctx.name, "documents": len(conflicts)})
            return [], None
        again: list[_Doc] = []
        reused: list[str] = []
        uncomparable: set[str] = set()  # compared fields the stored documents lack, when they lack them all
        for (doc, _index), got in zip(conflicts, found):
            stored = got.get("_source") if isinstance(got, dict) and got.get("found") is True else None
            if not isinstance(stored, dict):
                again.append(doc)  # deleted since the 409: created again
                continue
            line = doc[0].split(b"\n", 1)[1]
            sent = doc[3] if isinstance(doc[3], dict) else orjson.loads(doc[3])
            mine = _compared(sent)
            theirs = _compared(stored, fields=tuple(mine))
            # A field the stored `_source` lacks (`_source.excludes`, field-level security) cannot be
            # compared: taken for a difference, every replay would be stored again under derived ids.
            missing = [f for f, v in theirs.items() if v is None]
            if missing and len(missing) == len(mine):
                self._m_dupes.inc()
                uncomparable.update(missing)
                continue
            if all(mine[f] == theirs[f] for f in mine if f not in missing):
                self._m_dupes.inc()
                continue
            # The same event sent again gets the same derived _id: exactly once in effect for it too.
            new_id = hashlib.blake2b(doc[2].encode() + b"\0" + orjson.dumps(mine, option=orjson.OPT_SORT_KEYS),
                                     digest_size=16).hexdigest()
            action = orjson.dumps({"create": {"_index": doc[1], "_id": new_id}})
            again.append((action + b"\n" + line, doc[1], new_id, doc[3]))
            reused.append(doc[2])
        if uncomparable and not self._uncomparable_said:
            self._uncomparable_said = True
            log.warning(f"{self.config.type}: documents answered 409 (already stored) were read back without "
                        f"{', '.join(sorted(uncomparable))} (the index's `_source.excludes` or field-level security "
                        "on the credentials), leaving nothing to compare with the event sent: counted as "
                        "duplicates avoided unchecked; an event whose product used its id again (a restore) would "
                        "not be stored. Let the credentials read these fields (said once)",
                        extra={"output": self.ctx.name})
        if reused:
            self._m_reused.inc(len(reused))
            log.warning(f"{self.config.type}: {len(reused)} event(s) answered 409 hold other content than the event "
                        "stored under their _id (the product numbered its records again from an earlier id, e.g. "
                        "after a restore): stored under an _id derived from their content, not counted as "
                        "duplicates", extra={"output": self.ctx.name, "documents": len(reused), "first_id": reused[0]})
        return again, None

    def _bulk(self, docs) -> list | None:
        """The per-item answers, or None when the request failed for now (retried by the caller)."""
        from elastic_transport import TlsError, TransportError

        from shipper_plugins.outputs.elasticsearch_client import (
            NDJSON_HEADERS,
            answer_max,
            error_reason,
            tls_reason,
            tls_refused,
            transport_reason,
        )

        body = b"".join(d[0] for d in docs)
        try:
            self.ask_server()
            self._awaiting_answer = len(docs)
            try:
                answer = self.client.request("POST", "/_bulk", body=body, headers=NDJSON_HEADERS,
                                             max_answer=answer_max(len(docs), len(body)))
            finally:
                self._awaiting_answer = 0
            status = answer.status
            if status == 413:  # larger than http.max_content_length or a proxy's body limit
                if len(docs) > 1:
                    half = len(docs) // 2
                    self._deliver(docs[:half])
                    self._deliver(docs[half:])
                else:  # one document alone is too large: sending it again will never work
                    self._dead_letter([_dead_entry(self.ctx.name, docs[0], 413, {
                        "type": "request_entity_too_large",
                        "reason": f"a request with this document alone ({len(body)} bytes) was answered 413: "
                                  f"{error_reason(answer.body)}"})])
                return [{"create": {"status": 200}}] * len(docs)
            if not 200 <= status < 300:
                self._raise_for(status, answer.body, "POST /_bulk")
        except TlsError as e:
            if tls_refused(e):
                raise self._refusal(f"TLS: {tls_reason(e)}") from None
            self._m_errors.inc()
            self.trouble = f"{', '.join(self.config.hosts)}: TLS handshake cut short: {tls_reason(e)}"
            self._trouble.failure(f"{self.config.type}: TLS handshake cut short; retrying", output=self.ctx.name,
                                  error=tls_reason(e))
            return None
        except TransportError as e:
            self._m_errors.inc()
            self.trouble = f"{', '.join(self.config.hosts)}: {transport_reason(e)}"
            self._trouble.failure(f"{self.config.type} unreachable or failing; retrying", output=self.ctx.name,
                                  error=transport_reason(e))
            return None
        items = answer.body.get("items") if isinstance(answer.body, dict) else None
        items = _items_in_request_order(items, docs)
        if items is None:
            self._m_errors.inc()
            self._trouble.failure(f"{self.config.type} bulk answer does not match the request; retrying",
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
                # For /health, `shipper status` and the line --once ends with: retries here are not delivery.
                self.trouble = f"cannot write the dead-letter file {self.dead_letter.path}: {e.strerror}; the batch waits"
                self._trouble.failure("cannot write the dead-letter file", output=self.ctx.name,
                                      path=self.dead_letter.path, error=e.strerror)
                if self.ctx.stop.wait(1.0):
                    raise Stopping()
        self._m_dead.inc(len(entries))
        first = entries[0]
        log.warning(f"{self.config.type} rejected documents; written to the dead-letter file",
                    extra={"output": self.ctx.name, "documents": len(entries), "path": self.dead_letter.path,
                           "status": first["status"], "error_type": _error_type(first.get("error")),
                           "first_id": first["_id"]})

    def _sleep(self, failures: int) -> None:
        cfg = self.config
        delay = random.uniform(cfg.backoff_base / 2, min(cfg.backoff_max, cfg.backoff_base * 2 ** min(failures, 20)))
        asked = self.client.retry_after
        if asked is not None and asked > delay:
            # The server (or its proxy) said when it can take more: sooner only adds to its load.
            delay = min(asked, cfg.backoff_max)
            self.trouble = f"{self.trouble or 'the server is busy'}; waiting {delay:g} s as it asked (Retry-After: {asked:g})"
        if self.ctx.stop.wait(delay):
            raise Stopping()


def _items_in_request_order(items, docs) -> list | None:
    """The answer's items lined up with the request's documents by `_id`, or None when they cannot be.
    Elasticsearch answers in request order, but a proxy or a reimplementation may reorder, repeat or
    misname items; taken by position, a refusal would then be pinned on a stored document and a document
    never stored counted as stored."""
    if not isinstance(items, list) or len(items) != len(docs):
        return None
    ids = [_item_id(it) for it in items]
    if all(i is None or i == d[2] for i, d in zip(ids, docs)):
        return items
    wanted = [d[2] for d in docs]
    named = [i for i in ids if i is not None]
    if len(named) != len(ids) or len(set(wanted)) != len(wanted) or sorted(named) != sorted(wanted):
        return None
    by_id = dict(zip(named, items))
    return [by_id[i] for i in wanted]


def _item_id(item) -> str | None:
    result = next(iter(item.values()), None) if isinstance(item, dict) else None
    return result.get("_id") if isinstance(result, dict) else None


def _compared(event: dict, fields: tuple[str, ...] | None = None) -> dict[str, object]:
    """By dotted name: the `fields` given (None where the event lacks one: the stored side), or without them the
    fields of ID_FIELDS the event has, those of `_compared_fields`."""
    out: dict[str, object] = {}
    for name in fields or _compared_fields(event):
        value: object = event
        for part in name.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value is not None or fields:
            out[name] = value
    return out


def _compared_fields(event: dict) -> tuple[str, ...]:
    """ID_FIELDS; only `event.original` for a parse failure; no `@timestamp` for an event tagged `_read_time`:
    that is the reader's clock, another at each read, and would make a replay after a crash look like another
    event stored under the same _id."""
    tags = event.get("tags")
    if isinstance(tags, list):
        if PARSE_FAILURE in tags:
            return ("event.original",)
        if READ_TIME in tags:
            return _CONTENT_FIELDS
    return ID_FIELDS


def _refuses_the_target(status: float, error) -> bool:
    """An item refused for where it goes, not for what it is: no privilege on the index (401/403),
    or an index that may not be created (auto_create_index false)."""
    etype = error.get("type") if isinstance(error, dict) else None
    return status in (401, 403) or (status == 404 and etype == "index_not_found_exception")


def _dead_entry(output: str, doc: _Doc, status: float, error) -> dict:
    return {"output": output, "index": doc[1], "_id": doc[2], "status": status, "error": error,
            "event": doc[3] if isinstance(doc[3], dict) else orjson.loads(doc[3])}


def _error_type(error) -> str | None:
    return error.get("type") if isinstance(error, dict) else (str(error)[:100] if error else None)
