"""Source → parser → router → outputs, in batches, with checkpoints moved only on acknowledgement."""
from __future__ import annotations

import hashlib
import logging
import socket
import threading
import time
from typing import Any

from shipper import __version__, metrics, registry
from shipper.acks import AckTracker
from shipper.checkpoint import CheckpointStore
from shipper.config import Config
from shipper.config_base import OutputConfig, SourceConfig
from shipper.ecs import PARSE_FAILURE, UNMAPPED_ACTION, decode_text, failure_event
from shipper.output_worker import OutputWorker
from shipper.plugin import Batch, OutputContext, Parser, RawBatch, Source, SourceContext
from shipper.router import Router

log = logging.getLogger("shipper.pipeline")


def stable_id(source: str, key: str, index: int) -> str:
    """Id of an event without a vendor id: the same record at the same position gets the same id."""
    return hashlib.blake2b(f"{source}\0{key}\0{index}".encode(), digest_size=16).hexdigest()


class EventBuilder:
    """Runs a source's parser over a raw batch and adds what every event carries."""

    def __init__(self, cfg: SourceConfig, parser: Parser, host_name: str):
        self.cfg = cfg
        self.parser = parser
        self.source = cfg.name
        self.host = host_name
        self.agent = {"type": "shipper", "version": __version__}
        self.extra_tags = list(cfg.tags)
        self.preserve_original = cfg.preserve_original_event
        self._m_read = metrics.events_read.labels(cfg.name)
        self._m_bytes = metrics.bytes_read.labels(cfg.name)
        self._m_fail = metrics.parse_failures.labels(cfg.name)
        self._m_unmapped = metrics.unmapped_actions.labels(cfg.name)

    def _parse_guarded(self, raws: list[bytes]) -> list[list[dict]]:
        try:
            return self.parser.parse_batch(raws)
        except Exception:
            out = []
            for raw in raws:
                try:
                    out.append(self.parser.parse(raw))
                except Exception as e:  # a parser bug ships the record flagged, never crashes
                    out.append([failure_event(raw, f"parser {type(e).__name__}: {e}", self.parser.module, self.parser.dataset)])
            return out

    def build(self, raw: RawBatch) -> tuple[list[dict], list[str]]:
        parsed = self._parse_guarded(raw.records)
        events: list[dict] = []
        ids: list[str] = []
        meta = raw.meta
        flags = raw.flags
        failures = unmapped = 0
        for rec_i, evs in enumerate(parsed):
            key = raw.keys[rec_i]
            rec_flags = flags[rec_i] if flags else ()
            for j, ev in enumerate(evs):
                if rec_flags:
                    have = ev.get("tags") or []
                    ev["tags"] = have + [t for t in rec_flags if t not in have]
                host = ev.get("host")
                if host is None:
                    ev["host"] = {"name": self.host}
                elif "name" not in host:
                    host["name"] = self.host
                ev["agent"] = self.agent
                if meta:
                    for k, v in meta.items():
                        cur = ev.get(k)
                        ev[k] = {**v, **cur} if isinstance(cur, dict) and isinstance(v, dict) else v
                tags = ev.get("tags")
                if tags:
                    if PARSE_FAILURE in tags:
                        failures += 1
                    if UNMAPPED_ACTION in tags:
                        unmapped += 1
                if self.extra_tags:
                    ev["tags"] = (tags or []) + [t for t in self.extra_tags if t not in (tags or ())]
                if self.preserve_original:
                    ev["event"].setdefault("original", decode_text(raw.records[rec_i]))
                vendor_id = ev["event"].get("id")
                ids.append(vendor_id if vendor_id else stable_id(self.source, key, j))
                events.append(ev)
        self._m_read.inc(len(events))
        self._m_bytes.inc(raw.nbytes)
        if failures:
            self._m_fail.inc(failures)
        if unmapped:
            self._m_unmapped.inc(unmapped)
        return events, ids


class SourceRunner:
    def __init__(self, pipeline: "Pipeline", cfg: SourceConfig):
        self.pipeline = pipeline
        self.cfg = cfg
        self.tag = cfg.effective_tag
        parser_cls = registry.load("parser", cfg.parser)
        self.builder = EventBuilder(cfg, parser_cls(_parser_options(cfg)), pipeline.host_name)
        self.tracker = AckTracker(self._commit)
        self.stop = threading.Event()  # stop reading
        self.finished = threading.Event()
        self.error: BaseException | None = None
        self.last_commit: float | None = None
        state = pipeline.store.load(cfg.name)
        ctx = SourceContext(
            name=cfg.name, emit=self.emit, stop=self.stop, once=pipeline.once, state=state,
            state_dir=pipeline.config.state_dir, logger=logging.getLogger(f"shipper.source.{cfg.name}"),
            extra={"base_dir": pipeline.config.base_dir},
        )
        self.source: Source = registry.load("source", cfg.type)(cfg, ctx)
        self.thread = threading.Thread(target=self._run, name=f"source-{cfg.name}", daemon=True)
        self._m_unrouted = metrics.unrouted.labels(cfg.name)
        self._m_ckpt = metrics.checkpoint_time.labels(cfg.name)

    def _commit(self, fragment: dict[str, Any]) -> None:
        self.pipeline.store.update(self.cfg.name, fragment)
        self.last_commit = time.time()
        self._m_ckpt.set(self.last_commit)

    def emit(self, raw: RawBatch) -> None:
        events, ids = self.builder.build(raw)
        targets = self.pipeline.router.route(self.tag)
        if not targets and events:
            self._m_unrouted.inc(len(events))
            self.pipeline.warn_unrouted(self.tag)
        batch = Batch(self.cfg.name, self.tag, events, ids, raw.nbytes)
        seq = self.tracker.register(len(targets) if events else 0, raw.checkpoint)
        batch.seq = seq
        if not events:
            return
        for worker in targets:
            if not worker.put(batch, self.tracker, seq, self.pipeline.abandon):
                return  # stopping: not acked, so not checkpointed, so read again next start

    def _run(self) -> None:
        try:
            self.source.run()
        except Exception as e:
            self.error = e
            log.exception("source failed", extra={"source": self.cfg.name})
        finally:
            self.finished.set()


def _parser_options(cfg: SourceConfig) -> dict[str, Any]:
    return {"timezone": cfg.timezone, "source": cfg.name}


class Pipeline:
    def __init__(self, config: Config, once: bool = False):
        self.config = config
        self.once = once
        self.host_name = config.settings.host_name or socket.gethostname()
        self.store = CheckpointStore(config.state_dir)
        self.abandon = threading.Event()  # give up on in-flight batches (shutdown timeout, 2nd signal)
        self.workers: dict[str, OutputWorker] = {}
        for ocfg in config.outputs:
            self.workers[ocfg.name] = self._make_worker(ocfg)
        self.router = Router([(o.match, self.workers[o.name]) for o in config.outputs])
        self.runners: dict[str, SourceRunner] = {c.name: SourceRunner(self, c) for c in config.sources}
        self._warned_tags: set[str] = set()

    def _make_worker(self, ocfg: OutputConfig) -> OutputWorker:
        ctx = OutputContext(name=ocfg.name, stop=self.abandon, state_dir=self.config.state_dir,
                            logger=logging.getLogger(f"shipper.output.{ocfg.name}"))
        output = registry.load("output", ocfg.type)(ocfg, ctx)
        return OutputWorker(ocfg.name, output, ocfg.max_in_flight_batches, ocfg.max_in_flight_bytes, self.abandon)

    def warn_unrouted(self, tag: str) -> None:
        if tag not in self._warned_tags:
            self._warned_tags.add(tag)
            log.warning("no output matches this tag: its events are counted and not shipped", extra={"tag": tag})

    def start(self) -> None:
        for w in self.workers.values():
            w.start()
        for r in self.runners.values():
            r.thread.start()

    def sources_finished(self) -> bool:
        return all(r.finished.is_set() for r in self.runners.values())

    def wait_delivered(self, timeout: float | None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        for r in self.runners.values():
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not r.tracker.wait_idle(left):
                return False
        return True

    def stop(self, timeout: float) -> bool:
        """Stop reading, deliver what is in flight for up to `timeout`, close. True if all delivered."""
        for r in self.runners.values():
            r.stop.set()
        deadline = time.monotonic() + timeout
        for r in self.runners.values():
            r.thread.join(max(0.0, deadline - time.monotonic()))
        delivered = self.wait_delivered(max(0.0, deadline - time.monotonic()))
        if not delivered:
            log.warning("shutdown timeout: undelivered batches stay unacknowledged and are read again next start")
        self.abandon.set()
        for w in self.workers.values():
            w.close(timeout=5.0)
        for r in self.runners.values():
            try:
                r.source.close()
            except Exception:
                log.exception("error closing source", extra={"source": r.cfg.name})
        self.store.close()
        return delivered

    def source_errors(self) -> list[str]:
        return [f"{name}: {r.error}" for name, r in self.runners.items() if r.error is not None]
