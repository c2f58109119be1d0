"""The optional HTTP endpoint (config `http: {listen: "127.0.0.1:2020"}`; off by default).

/metrics  Prometheus text from shipper.metrics.REGISTRY (prometheus-client's own WSGI app)
/health   200 when every output delivered within its health_threshold, else 503; JSON reasons; sources failing
          to read now are listed (`sources_failing`, status "degraded", still 200)
/status   JSON for `shipper status`: per source position, in-flight, last ack; per output last success

Served by wsgiref's server with a thread per request (prometheus-client's ThreadingWSGIServer),
so a slow scraper never blocks the agent.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import orjson
from prometheus_client import make_wsgi_app
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.registry import Collector

from shipper import metrics

log = logging.getLogger("shipper.http")


def parse_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"http.listen must be HOST:PORT, got {listen!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def output_health(pipeline) -> dict[str, dict[str, Any]]:
    """Per output: healthy unless it has held batches without delivering one for health_threshold."""
    out = {}
    for name, w in list(pipeline.workers.items()):
        cfg = pipeline.output_configs.get(name)
        threshold = cfg.health_threshold if cfg else 300.0
        pending = w.pending()
        stuck = pipeline.undelivered_for.get(name, 0.0)
        errors = metrics.REGISTRY.get_sample_value("shipper_output_errors_total", {"output": name}) or 0
        doc: dict[str, Any] = {"healthy": True, "pending_batches": pending, "last_success": w.last_success,
                               "last_error": w.error_now() or w.last_error, "errors": int(errors),
                               "refused": w.refused}
        if not w._thread.is_alive() and name in pipeline.output_started and not pipeline.abandon.is_set():
            doc.update(healthy=False, reason="output thread ended")
        elif w.refused:  # no threshold: retrying will not fix it, someone has to
            doc.update(healthy=False, reason=f"refused by the server: {w.refused}")
        elif (pending or w.busy) and stuck > threshold:
            doc.update(healthy=False, reason=f"batches waiting, nothing delivered for {stuck:.0f}s (threshold {threshold:.0f}s)"
                       + (f"; last error: {w.last_error}" if w.last_error else ""))
        out[name] = doc
    return out


def source_status(pipeline) -> dict[str, dict[str, Any]]:
    out = {}
    for name, r in list(pipeline.runners.items()):
        try:
            live = r.source.status()
        except Exception as e:  # a plugin's status() must not break the endpoint
            live = {"status_error": f"{type(e).__name__}: {e}"}
        out[name] = {"last_error": _last_error(r.source), **{
            "type": r.cfg.type, "parser": r.cfg.parser, "tag": r.tag,
            "running": r.thread.is_alive(), "error": None if r.error is None else str(r.error),
            "in_flight_batches": r.tracker.in_flight(), "last_ack": r.last_commit, "status": live,
            "parse_workers": r.parse_workers(),
        }}
    return out


def _last_error(source) -> dict[str, Any] | None:
    try:
        return source.last_error()
    except Exception as e:  # a plugin's hook must not break the endpoint
        return {"kind": "status_error", "message": f"{type(e).__name__}: {e}", "failing": False}


def failing_sources(pipeline) -> dict[str, dict[str, Any]]:
    """Sources failing to read now, with their last error (for /health: the agent runs, its input does not)."""
    out = {}
    for name, r in list(pipeline.runners.items()):
        err = _last_error(r.source)
        if err and err.get("failing"):
            out[name] = err
    return out


class PipelineCollector(Collector):
    """Values computed at scrape time: checkpoint age and parse workers per source, in-flight fill per output."""

    def __init__(self, pipeline):
        self.pipeline = pipeline

    def collect(self):
        now = time.time()
        age = GaugeMetricFamily("shipper_checkpoint_age_seconds", "Seconds since the source's last checkpoint commit",
                                labels=["source"])
        for name, r in list(self.pipeline.runners.items()):
            if r.last_commit is not None:
                age.add_metric([name], now - r.last_commit)
        fill = GaugeMetricFamily("shipper_in_flight_fill_ratio",
                                 "Queued share of an output's in-flight budget (batches or bytes, the fuller)",
                                 labels=["output"])
        for name, w in list(self.pipeline.workers.items()):
            fill.add_metric([name], max(w.pending() / w.max_batches, w._bytes / w.max_bytes))
        workers = GaugeMetricFamily("shipper_parse_workers",
                                    "Worker processes parsing for the source (0: its own thread; parse_workers: auto "
                                    "starts them for a backlog)", labels=["source"])
        for name, r in list(self.pipeline.runners.items()):
            workers.add_metric([name], r.parse_workers())
        yield age
        yield fill
        yield workers


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # one line per scrape would drown the journal
        pass


class HttpEndpoint:
    def __init__(self, pipeline, listen: str, health_extra=None):
        self.pipeline = pipeline
        self.listen = listen
        self.health_extra = health_extra or (lambda: [])  # e.g. the runner's watchdog findings
        self._metrics_app = make_wsgi_app(metrics.REGISTRY)
        self._collector = PipelineCollector(pipeline)
        host, port = parse_listen(listen)
        self._server = make_server(host, port, self._app, ThreadingWSGIServer, handler_class=_QuietHandler)
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, name="http", daemon=True)

    def start(self) -> None:
        try:
            metrics.REGISTRY.register(self._collector)
        except ValueError:
            pass  # already registered (a reload re-created the endpoint)
        self._thread.start()
        log.info("http endpoint listening", extra={"listen": f"{self._server.server_address[0]}:{self.port}"})

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        try:
            metrics.REGISTRY.unregister(self._collector)
        except KeyError:
            pass

    def _json(self, start_response, code: str, doc: Any):
        body = orjson.dumps(doc, default=str)
        start_response(code, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    def _app(self, environ, start_response):
        path = environ.get("PATH_INFO", "/")
        try:
            if path == "/metrics":
                return self._metrics_app(environ, start_response)
            if path == "/health":
                outputs = output_health(self.pipeline)
                stalled = list(self.health_extra())
                bad = {n: d["reason"] for n, d in outputs.items() if not d["healthy"]}
                ok = not bad and not stalled
                doc = {"status": "ok" if ok else "unhealthy", "outputs": outputs}
                failing = failing_sources(self.pipeline)
                if failing:  # reported, not a 503: restarting the agent would not mend a database or an API
                    doc["sources_failing"] = failing
                    if ok:
                        doc["status"] = "degraded"
                if stalled:
                    doc["stalled"] = stalled
                if bad:
                    doc["reason"] = "; ".join(f"output {n}: {r}" for n, r in bad.items())
                return self._json(start_response, "200 OK" if ok else "503 Service Unavailable", doc)
            if path == "/status":
                return self._json(start_response, "200 OK", {
                    "pid": os.getpid(), "config": self.pipeline.config.path,
                    "sources": source_status(self.pipeline), "outputs": output_health(self.pipeline)})
            return self._json(start_response, "404 Not Found", {"error": "not found", "paths": ["/metrics", "/health", "/status"]})
        except Exception as e:
            log.exception("http endpoint error", extra={"path": path})
            return self._json(start_response, "500 Internal Server Error", {"error": f"{type(e).__name__}: {e}"})
