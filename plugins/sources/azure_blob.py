"""`type: azure_blob` — reads JSON-lines blobs from Azure Storage, as Azure Monitor writes Databricks
diagnostic logs: one append blob per hour and category, appended to through the hour.

Each poll lists the containers (names or globs), finds the folders holding `y=` hour folders, and
lists only the hours from the folder's mark (everything before it was read and is older than
`lookback`) to now, a day prefix at a time. Every blob is read from its checkpointed offset with a
ranged download of only the new bytes; complete lines leave in batches, a partial last line waits,
an over-long line is cut and flagged like the file source does (shipper.tail.lines). A batch's
checkpoint (blob identity, offset) is committed only once every output acknowledged it.

Failures never end the daemon's source: throttling (429/503, `Retry-After` honoured), refused
credentials, a missing container, an outage are logged once when they start, counted, shown in
`status` and `/health`, and retried with backoff. With `--once`, a source still failing after a few
attempts stops with an error (exit 1) instead of waiting for ever.
"""
from __future__ import annotations

import fnmatch
import logging
import os
import random
import re
import secrets
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Literal
from urllib.parse import urlsplit

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobPrefix
from pydantic import Field, field_validator, model_validator

from shipper.api import (
    TRUNCATED,
    EndRun,
    LineKeys,
    RawBatch,
    SecretError,
    Source,
    SourceConfig,
    SourceFailures,
    metrics,
    split_lines,
)
from shipper_plugins.sources.azure_blob_client import (
    AuthFailed,
    BlobError,
    ContainerMissing,
    Internal,
    ServiceClock,
    classify,
    listed,
    load_credentials,
    make_client,
)
from shipper_plugins.sources.azure_blob_state import (
    TAIL,
    BlobState,
    blob_hour,
    blob_key,
    floor_hour,
    format_hour,
    hour_root,
    hours_key,
    list_prefixes,
    parse_hour,
    tail_digest,
)

ONCE_ATTEMPTS = 3
READ_SIZE = 4 << 20
YEAR_FOLDER = re.compile(r"^y=\d{4}$")
CREDENTIAL_KEYS = ("account_key", "sas_token", "connection_string")
CLOSED_PREFIX = "hours_closed:"
CLOCKS_APART = 120.0  # seconds between the host's clock and Azure Storage's that are worth a warning
READ_NOTE_PREFIX = "read:"  # read:<blob key>:<token> — lines handed on and not delivered yet (SourceContext.note)


class AzureBlobSourceConfig(SourceConfig):
    type: Literal["azure_blob"] = "azure_blob"
    parser: str = "databricks"
    # https://ACCOUNT.blob.core.windows.net (Azurite: http://127.0.0.1:10000/devstoreaccount1);
    # not needed with a connection string, which names the endpoint itself.
    account_url: str | None = None
    containers: list[str] = Field(min_length=1)  # names or globs, e.g. "insights-logs-*"
    prefix: str = ""  # only blobs whose name starts with this
    account_name: str | None = None  # with an account key; default: from account_url
    # One credential, from a file or an environment variable; none: Azure's default credential chain
    # (managed identity, workload identity, az login; needs azure-identity).
    account_key_file: str | None = None  # the storage account key (grants everything: prefer a SAS or a role)
    account_key_env: str | None = None  # environment variable holding the account key
    sas_token_file: str | None = None  # a SAS with read and list on the containers; re-read after a refusal
    sas_token_env: str | None = None  # environment variable holding the SAS
    connection_string_file: str | None = None  # a storage connection string (names the endpoint too)
    connection_string_env: str | None = None  # environment variable holding the connection string
    poll_interval: float = Field(default=30.0, gt=0)  # seconds between reads of each container
    # Seconds a fully read hourly blob is still listed after its hour ended and after it was last
    # written to (late records land in the previous hour's blob). A blob not fully read is listed
    # until it is; older hours are not listed again.
    lookback: float = Field(default=7200.0, ge=0)
    max_line_bytes: int = Field(default=1024 * 1024, ge=64)  # longer lines are cut, flagged _line_truncated
    timeout: float = Field(default=30.0, gt=0)  # connect and read timeout of each call
    # Blobs downloading at once: while one is parsed, the next ones' new bytes are fetched
    # (1: one at a time). Memory: up to this many reads of 4 MiB (or max_line_bytes) held.
    read_ahead: int = Field(default=4, ge=1, le=32)
    backoff_initial: float = Field(default=1.0, gt=0)  # seconds; doubled per failure in a row, with jitter
    backoff_max: float = Field(default=300.0, gt=0)  # seconds, backoff ceiling; also caps Retry-After
    # Pages one listing may take (each up to 5,000 names) before it is taken for a service whose
    # continuation tokens never end: an error naming the listing, retried like an outage.
    max_list_pages: int = Field(default=2000, ge=1, le=1_000_000)

    @field_validator("account_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is None:
            return v
        p = urlsplit(v)
        if p.scheme not in ("http", "https") or not p.netloc:
            raise ValueError("must be an http:// or https:// URL, e.g. https://ACCOUNT.blob.core.windows.net")
        return v.rstrip("/")

    @field_validator("containers")
    @classmethod
    def _containers(cls, v: list[str]) -> list[str]:
        if any(not c.strip() for c in v) or len(set(v)) != len(v):
            raise ValueError("container names or globs must be unique and non-empty")
        return v

    @model_validator(mode="after")
    def _credentials(self) -> "AzureBlobSourceConfig":
        given = [k for k in CREDENTIAL_KEYS for suffix in ("_file", "_env") if getattr(self, k + suffix)]
        if len(given) > 1:
            raise ValueError(f"give one credential, not several: {', '.join(sorted(set(given)))}")
        if not given or given[0] != "connection_string":
            if self.account_url is None:
                raise ValueError("account_url is required (unless connection_string_file or _env is given)")
        if given and given[0] == "account_key" and self.account_name is None:
            self.account_name = _account_from_url(self.account_url or "")
            if not self.account_name:
                raise ValueError("account_name is required with an account key (not found in account_url)")
        return self


def _account_from_url(url: str) -> str | None:
    p = urlsplit(url)
    host = p.hostname or ""
    if re.fullmatch(r"[\d.]+|localhost|\[.*\]", host) or ":" in host:  # emulator style: /ACCOUNT path
        seg = p.path.strip("/").split("/", 1)[0]
        return seg or None
    return host.split(".", 1)[0] or None


class AzureBlobSource(Source):
    Config = AzureBlobSourceConfig
    config: AzureBlobSourceConfig

    def __init__(self, config, ctx):
        super().__init__(config, ctx)
        self.log = ctx.logger or logging.getLogger(f"shipper.source.{ctx.name}")
        self.base_dir = ctx.base_dir
        self.blobs: dict[str, BlobState] = {}
        self.marks: dict[str, datetime] = {}
        # Per folder mark: the time (storage's clock, Unix) before which every blob of the hours before the
        # mark was last written when it moved. A blob of those hours created later is new (read, with a
        # warning); one only written later was written again after it was closed: read on from its kept
        # state (_advance_marks), or, its state dropped by an earlier version, counted and named.
        self.closed_at: dict[str, float] = {}
        self._told_rewritten: set[tuple[str, Any]] = set()
        # (blob, created as listed, created as read) seen once / warned about: a blob re-created since its
        # listing shows such a pair once; one still shown by a later poll is a service that disagrees with itself
        self._created_seen: set[tuple[str, str, str]] = set()
        self._created_told: set[tuple[str, str, str]] = set()
        self._unconfirmed: dict[str, list[tuple[str, dict]]] = {}  # container -> [(note key, note)]
        self._gone_said: set[tuple[str, str]] = set()  # (blob key, creation time) named lost as deleted
        for k, v in ctx.state.items():
            if k.startswith("blob:"):
                st = BlobState.from_json(v)
                if st is not None:
                    self.blobs[k] = st
            elif k.startswith("hours:"):
                h = parse_hour(v)
                if h is not None:
                    self.marks[k] = h
            elif k.startswith(CLOSED_PREFIX) and isinstance(v, (int, float)):
                self.closed_at["hours:" + k[len(CLOSED_PREFIX):]] = float(v)
            elif k.startswith(READ_NOTE_PREFIX) and isinstance(v, dict) and isinstance(v.get("container"), str):
                # Lines read and handed on that no output had acknowledged when the last run ended (deleted by
                # the batch's checkpoint once delivered): read again from the checkpoint if the blob is still
                # there; deleted (or re-created, or cut shorter) first, they are a loss, named.
                self._unconfirmed.setdefault(v["container"], []).append((k, v))
        self._seen_size: dict[str, tuple] = {}  # key -> (creation time, size read to, ETag): skip unchanged
        self.client = None
        self.service_clock = ServiceClock()
        self._clocks_apart = False  # the host's clock and the service's differ by more than CLOCKS_APART: said
        self.read_size = max(READ_SIZE, config.max_line_bytes + 1)
        self._failures = SourceFailures(self.log, ctx.name)
        self._empty_globs: set[str] = set()
        self._next_at: dict[str, float] = {}  # container -> monotonic time it is next read
        self._fails: dict[str, tuple[int, BlobError]] = {}  # container -> (failures in a row, the last)
        self._m_cut = metrics.lines_truncated.labels(ctx.name)
        self._m_losses = metrics.losses.labels(ctx.name)
        if config.account_url and urlsplit(config.account_url).scheme == "http" and \
                urlsplit(config.account_url).hostname not in ("127.0.0.1", "localhost", "::1"):
            self.log.warning("plain http: credentials and audit events travel unencrypted", extra={"url": config.account_url})

    # --- for `shipper check`, status and /health ---------------------------------------------------
    def describe(self) -> list[str]:
        c = self.config
        kind = next((k for k in CREDENTIAL_KEYS if getattr(c, k + "_file") or getattr(c, k + "_env")),
                    "Azure default credential chain (azure-identity)")
        return [f"{c.account_url or '(endpoint from the connection string)'}",
                f"containers: {', '.join(c.containers)}" + (f", prefix {c.prefix!r}" if c.prefix else ""),
                f"credential: {kind}" + _present(self._secret_file()),
                f"a read hourly blob is listed until {c.lookback:.0f}s after its hour and its last write"]

    def _secret_file(self) -> str | None:
        c = self.config
        f = c.account_key_file or c.sas_token_file or c.connection_string_file
        return os.path.join(self.base_dir, os.path.expanduser(f)) if f else None

    def status(self) -> dict[str, Any]:
        blobs = list(self.blobs.values())
        behind = [{"blob": f"{b.container}/{b.name}", "offset": b.offset, "size": b.size, "lag": b.size - b.offset}
                  for b in blobs if not b.done]
        return {"blobs_tracked": len(blobs), "blobs_behind": behind[:50], "lag_bytes": sum(b["lag"] for b in behind),
                "hour_marks": {k[len("hours:"):]: format_hour(v) for k, v in dict(self.marks).items()}}

    def last_error(self) -> dict[str, Any] | None:
        return self._failures.report()

    def close(self) -> None:
        if self.client is not None:
            try:
                self.client.close()
            except Exception:
                pass

    # --- the loop ------------------------------------------------------------------------------------
    def run(self) -> None:
        """Each container on its own schedule: read every poll_interval; a failing one (missing,
        throttled, refused) backs off alone while the others go on. A failure of the account itself
        (credentials, listing the containers) backs off the whole source."""
        failures = 0
        read_once: set[str] = set()  # --once: containers read to their end in this run
        while not self.ctx.stop.is_set():
            try:
                containers = self._connect_and_list()
                self._poll(containers, skip=read_once)
            except Exception as e:
                if isinstance(e, SecretError):
                    e = AuthFailed(str(e))
                elif not isinstance(e, BlobError):  # a bug must not end the source for good: log it, retry
                    self.log.exception("azure_blob: unexpected error; retrying with backoff")
                    e = Internal(f"internal error: {type(e).__name__}: {e}")
                if self.ctx.stop.is_set():
                    return
                failures += 1
                self._failed("", e)
                if self.ctx.once and failures >= ONCE_ATTEMPTS:
                    raise EndRun(f"Azure Storage still failing after {failures} attempts: {e}")
                self.ctx.stop.wait(self._backoff(failures, e.retry_after))
                continue
            failures = 0
            self._failures.recovered("Azure Storage answers again")
            if self.ctx.stop.is_set():
                return
            if self.ctx.once:
                read_once.update(c for c in containers if c not in self._fails)
                given_up = {c: e for c, (n, e) in self._fails.items() if n >= ONCE_ATTEMPTS}
                if given_up:
                    raise EndRun(f"Azure Storage still failing after {ONCE_ATTEMPTS} attempts: "
                                       + "; ".join(str(e) for e in given_up.values()))
                if set(containers) <= read_once:
                    return
            now = time.monotonic()
            due = min((self._next_at.get(c, 0.0) for c in containers if c not in read_once),
                      default=now + self.config.poll_interval)
            self.ctx.stop.wait(min(self.config.poll_interval, max(0.0, due - now)))

    def _backoff(self, failures: int, retry_after: float | None) -> float:
        ceiling = min(self.config.backoff_max, self.config.backoff_initial * 2 ** min(failures - 1, 30))
        delay = ceiling / 2 + random.uniform(0, ceiling / 2)  # jitter: many agents must not retry in step
        return min(self.config.backoff_max, max(delay, retry_after or 0.0))

    def _failed(self, scope: str, e: BlobError) -> None:
        metrics.source_errors.labels(self.ctx.name, e.kind).inc()
        if isinstance(e, AuthFailed):
            self.close()  # the next attempt reads the credential files again (a renewed SAS, a new key)
            self.client = None
        # What an operator must fix (credentials, a container name) logs as an error; outages and
        # throttling as warnings.
        serious = isinstance(e, (AuthFailed, ContainerMissing))
        self._failures.failed(e.kind, f"Azure Storage: {e}", scope=scope,
                              level=logging.ERROR if serious else logging.WARNING)

    # --- one poll ------------------------------------------------------------------------------------
    def _connect_and_list(self) -> list[str]:
        if self.client is None:
            creds = load_credentials(self.config, self.base_dir)
            try:
                self.client = make_client(self.config.account_url, creds, self.config.timeout,
                                          self.service_clock)
            except ValueError as e:  # a malformed connection string or key: say so, without the secret
                raise AuthFailed(f"cannot use the {creds.kind.replace('_', ' ')}: {type(e).__name__}") from None
        return self._containers()

    def _poll(self, containers: list[str], skip: set[str]) -> None:
        """Read each container that is due; a failure is the container's alone (scope = its name)."""
        now = datetime.now(timezone.utc)
        for container in containers:
            if self.ctx.stop.is_set() or self.client is None:
                return
            if container in skip or time.monotonic() < self._next_at.get(container, 0.0):
                continue
            try:
                self._poll_container(container, now)
            except BlobError as e:
                n = self._fails.get(container, (0, e))[0] + 1
                self._fails[container] = (n, e)
                self._next_at[container] = time.monotonic() + self._backoff(n, e.retry_after)
                self._failed(container, e)
            else:
                self._next_at[container] = time.monotonic() + self.config.poll_interval
                if self._fails.pop(container, None) is not None:
                    self._failures.recovered("Azure Storage answers again", scope=container)

    def _containers(self) -> list[str]:
        names = [c for c in self.config.containers if not _is_glob(c)]
        globs = [c for c in self.config.containers if _is_glob(c)]
        if globs:
            start = os.path.commonprefix([re.split(r"[*?\[]", g, maxsplit=1)[0] for g in globs])
            try:
                found = [c.name for c in listed(self.client.list_containers(name_starts_with=start or None),
                                                "listing containers", self.ctx.stop, self.config.max_list_pages)]
            except Exception as e:
                raise classify(e, "listing containers") from None
            for c in found:
                if c not in names and any(fnmatch.fnmatchcase(c, g) for g in globs):
                    names.append(c)
            for g in globs:
                matched = any(fnmatch.fnmatchcase(c, g) for c in names)
                if not matched and g not in self._empty_globs:
                    # Not a failure (Azure creates a category's container with its first log), but say it once.
                    self.log.warning(f"no container matches {g!r} yet", extra={"glob": g})
                (self._empty_globs.add if not matched else self._empty_globs.discard)(g)
        return names

    def _poll_container(self, container: str, now: datetime) -> None:
        cc = self.client.get_container_client(container)
        roots, found = self._discover(cc, container)
        # The listing just answered: the service's clock is fresh. Hours are listed up to the later of the
        # two clocks and closed by the earlier one (a host clock stepped ahead closes no hour Azure writes to).
        service = self.service_clock.now()
        list_to = now if service is None else max(now, datetime.fromtimestamp(service, timezone.utc))
        now = min(now, datetime.fromtimestamp(self._closing_time(), timezone.utc))
        for root in sorted(roots):
            hk = hours_key(container, root)
            mark = self.marks.get(hk)
            # From the day before the mark's: a blob delivered up to a day after its hour was closed still shows.
            prefixes = [root] if mark is None else list_prefixes(root, mark - timedelta(days=1), list_to + timedelta(days=1))
            closed_at = self.closed_at.get(hk, mark.timestamp() if mark is not None else 0.0)
            for p in prefixes:
                what = f"listing blobs in container {container} under {p!r}"
                try:
                    for b in listed(cc.list_blobs(name_starts_with=p), what, self.ctx.stop, self.config.max_list_pages):
                        h = blob_hour(b.name)
                        if mark is not None and h is not None and h < mark and \
                                not self._after_close(container, b, h, closed_at):
                            continue  # read before, and older than the look-back
                        found[b.name] = b
                except Exception as e:
                    raise classify(e, what) from None
        if self.ctx.stop.is_set():
            return  # the listing may have ended early
        if container in self._unconfirmed:
            self._settle(cc, container, found)
        self._vanished(container, found)
        # Name order is time order for hourly blobs (zero-padded y=/m=/d=/h=).
        jobs = [j for j in (self._prepare(container, found[n]) for n in sorted(found)) if j is not None]
        self._read_all(cc, container, jobs)
        if self.ctx.stop.is_set():
            return
        self._advance_marks(container, roots, now)

    def _settle(self, cc, container: str, found: dict[str, Any]) -> None:
        """The lines read in an earlier run and never delivered: still in their blob, they are read again from
        the checkpoint; gone (deleted, re-created, cut shorter) they are lost, said once per blob. The notes are
        then forgotten (this run's reads note again)."""
        by_blob: dict[str, list[dict]] = {}
        for _key, note in self._unconfirmed[container]:
            by_blob.setdefault(str(note.get("name")), []).append(note)
        for name, notes in by_blob.items():
            props = found.get(name)
            if props is None:  # not listed: past the hours listed, or deleted
                try:
                    props = cc.get_blob_client(name).get_blob_properties()
                except ResourceNotFoundError:
                    props = None
                except Exception as e:
                    raise classify(e, f"reading the properties of blob {container}/{name}") from None
            ends = [int(n["to"]) for n in notes if isinstance(n.get("to"), int)]
            starts = [int(n["from"]) for n in notes if isinstance(n.get("from"), int)]
            records = sum(int(n["records"]) for n in notes if isinstance(n.get("records"), int))
            created = {n.get("created") for n in notes}
            if props is None:
                why = "deleted"
            elif props.creation_time is None or props.creation_time.isoformat() not in created:
                why = "deleted and re-created"
            elif ends and int(props.size or 0) < max(ends):
                why = f"cut to {int(props.size or 0)} bytes"
            else:
                continue
            where = f"{container}/{name}"
            span = f"bytes {min(starts)} to {max(ends)}" if starts and ends else "bytes not known"
            self._gone_said.add((blob_key(container, name), str(next(iter(created))) if len(created) == 1 else ""))
            self._m_losses.inc()
            metrics.source_errors.labels(self.ctx.name, "undelivered_lines_gone").inc()
            self.ctx.lost(f"{where} ({why} before {records} line(s), {span}, read but not delivered, were read "
                          "again)", max(0, max(ends) - min(starts)) if starts and ends else 0)
            self.log.warning(f"blob {where} was {why} before the {records} line(s) read from it before the last "
                             f"stop, and not delivered, could be read again ({span}): they are lost",
                             extra={"blob": where, "kind": "undelivered_lines_gone", "records": records})
        self.ctx.note({key: None for key, _note in self._unconfirmed.pop(container)})

    def _vanished(self, container: str, found: dict[str, Any]) -> None:
        """Blobs followed and not read to their end that the listing no longer shows: deleted before the
        source could read them (it was behind: an output down). Their unread bytes are lost, named once."""
        for st in list(self.blobs.values()):
            if st.container == container and st.name not in found and not st.done:
                self._gone(st, st.size, "the listing no longer shows it")

    def _gone(self, st: BlobState, size: int, how: str) -> None:
        """A followed blob deleted with bytes from st.offset to `size` (at least) unread: a loss, said once."""
        key = blob_key(st.container, st.name)
        if (key, st.created) in self._gone_said or size <= st.offset:
            return
        self._gone_said.add((key, st.created))
        where = f"{st.container}/{st.name}"
        self._m_losses.inc()
        metrics.source_errors.labels(self.ctx.name, "deleted_unread").inc()
        self.ctx.lost(f"{where} (deleted before it was read to its end: bytes {st.offset} to {size} or more)",
                      size - st.offset)
        self.log.warning(f"blob {where} was deleted before the source could read it to its end ({how}): bytes "
                         f"{st.offset} to {size} (or more) were never read and are lost; the source was behind "
                         "(an output down, or slow)", extra={"blob": where, "kind": "deleted_unread",
                                                             "read_to": st.offset, "size": size})
        st.size = st.offset  # nothing more to read from it: its hour may close

    def _discover(self, cc, container: str) -> tuple[set[str], dict[str, Any]]:
        """The folders under `prefix` that hold `y=YYYY` folders, and the blobs found outside them."""
        roots: set[str] = set()
        loose: dict[str, Any] = {}
        todo = [self.config.prefix]
        while todo:
            p = todo.pop()
            try:
                items = list(listed(cc.walk_blobs(name_starts_with=p or None, delimiter="/"),
                                    f"listing container {container}", self.ctx.stop, self.config.max_list_pages))
            except Exception as e:
                raise classify(e, f"listing container {container}") from None
            for item in items:
                if isinstance(item, BlobPrefix):
                    seg = item.name[:-1].rsplit("/", 1)[-1]
                    if YEAR_FOLDER.match(seg):
                        roots.add(item.name[: len(item.name) - len(seg) - 1])
                    else:
                        todo.append(item.name)
                else:
                    loose[item.name] = item
        return roots, loose

    def _after_close(self, container: str, props, hour: datetime, closed_at: float) -> bool:
        """A blob of an hour before its folder's mark: True to read it (its state kept: read on from its
        offset; or created after the hour was closed). One written again after its state was forgotten (a
        checkpoint of an earlier version, which forgot it with the hour) is counted and named once per change."""
        key = blob_key(container, props.name)
        if key in self.blobs:
            return True  # followed: what Azure appended after its hour was closed is read on from its offset
        created = props.creation_time.timestamp() if props.creation_time else 0.0
        modified = props.last_modified.timestamp() if props.last_modified else created
        where = f"{container}/{props.name}"
        if created > closed_at:
            late_h = (created - hour.timestamp()) / 3600
            metrics.source_errors.labels(self.ctx.name, "late_blob").inc()
            self.log.warning(f"blob {where} appeared after its hour was closed ({late_h:.1f} h after its hour; "
                             f"lookback is {self.config.lookback:.0f}s): reading it",
                             extra={"blob": where, "kind": "late_blob"})
            return True
        if modified > closed_at and (key, props.etag) not in self._told_rewritten:
            self._told_rewritten.add((key, props.etag))
            self._m_losses.inc()
            self.ctx.lost(f"{where} (written again after its hour was closed)", 0)
            metrics.source_errors.labels(self.ctx.name, "written_after_close").inc()
            self.log.warning(f"blob {where} was written again after its hour was closed: the offset it was read "
                             "to was forgotten with the hour, so the new bytes are not read (lost; raise lookback "
                             "if Azure delivers this late)", extra={"blob": where, "kind": "written_after_close",
                                                                    "size": props.size})
        return False

    def _advance_marks(self, container: str, roots: set[str], now: datetime) -> None:
        """Move each folder's mark to the oldest hour still to be listed; forget the blobs before it.
        Sent as a checkpoint after the batches read so far, so it commits only after they do."""
        # An hourly blob is closed once fully read, and its hour and its last write are both more
        # than `lookback` ago; each folder's mark is the oldest hour holding a blob not closed.
        horizon = now.timestamp() - self.config.lookback
        cutoff = floor_hour(datetime.fromtimestamp(horizon, timezone.utc))
        fragment: dict[str, Any] = {}
        by_root: dict[str, list[tuple[str, BlobState, datetime]]] = {}
        for key, st in self.blobs.items():
            if st.container != container:
                continue
            r, h = hour_root(st.name), blob_hour(st.name)
            if r is not None and h is not None and r in roots:
                by_root.setdefault(r, []).append((key, st, h))
        for root in roots:
            hk = hours_key(container, root)
            mark = cutoff
            for _key, st, h in by_root.get(root, ()):
                if h < mark and (not st.done or st.modified > horizon):
                    mark = h
            old = self.marks.get(hk)
            if old is not None and old >= mark:
                continue
            self.marks[hk] = mark
            fragment[hk] = format_hour(mark)
            # Every blob before the new mark was last written before `horizon` (or holds the mark back).
            closed = max(horizon, self.closed_at.get(hk, 0.0))
            self.closed_at[hk] = closed
            fragment[CLOSED_PREFIX + hk[len("hours:"):]] = closed
            # A closed blob's state is kept while polls still list its hour (from the day before the mark's,
            # _poll_container): Azure appending to it later is read on from its offset. Forgotten only when
            # no listing shows it any more (the state stays ~2 days of blobs, not the whole history).
            listed_from = (mark - timedelta(days=1)).replace(hour=0)
            for key, _st, h in by_root.get(root, ()):
                if h < listed_from:
                    del self.blobs[key]
                    self._seen_size.pop(key, None)
                    fragment[key] = None
        if fragment:
            self.ctx.emit(RawBatch([], [], fragment, 0))

    # --- one blob ------------------------------------------------------------------------------------
    def _prepare(self, container: str, props) -> "_Job | None":
        """The blob's state, checked against the listing (re-created? shrunk?); None if nothing to read."""
        name = props.name
        key = blob_key(container, name)
        created = props.creation_time.isoformat()
        size = int(props.size or 0)
        etag = getattr(props, "etag", None)
        st = self.blobs.get(key)
        if self._seen_size.get(key) == (created, size, etag) and \
                not (st is not None and not st.done and self._closed(st)):
            return None  # unchanged since it was read to its end (a partial last line waits for more)
        if st is not None and st.created != created:
            if not st.done:
                self._m_losses.inc()
                self.ctx.lost(f"{container}/{name} (deleted and re-created; read to byte {st.offset} of "
                              f"{st.size} or more)", 0)
                self.log.warning("blob was deleted and re-created before it was read to its end: the old blob's "
                                 "last bytes are lost; reading the new one from its start",
                                 extra={"blob": f"{container}/{name}", "read_to": st.offset, "old_size": st.size})
            else:
                self.log.info("blob re-created under the same name: reading it from its start",
                              extra={"blob": f"{container}/{name}"})
            st = None
        if st is None:
            st = self.blobs[key] = BlobState(container, name, created)
        elif size < st.offset:
            self._m_losses.inc()
            self.ctx.lost(f"{container}/{name} (overwritten: {size} bytes, read to byte {st.offset})", 0)
            self.log.warning("blob shrank under the same identity (overwritten): reading it again from its start",
                             extra={"blob": f"{container}/{name}", "offset": st.offset, "size": size})
            st = self.blobs[key] = BlobState(container, name, created, gen=st.gen + 1)
        was_done = st.done
        st.size = max(st.size, size)
        st.modified = props.last_modified.timestamp() if props.last_modified else time.time()
        # Another ETag under the same creation time: appends, metadata, or another blob created within the
        # same second (creation time has one-second resolution); the bytes before the offset tell which.
        check = st.offset > 0 and st.tail is not None and etag is not None and etag != st.etag
        if st.offset >= size and not check:
            self._seen_size[key] = (created, size, etag)
            return None
        return _Job(key, st, size, created, etag, check, was_done)

    def _read_all(self, cc, container: str, jobs: list["_Job"]) -> None:
        """Read the blobs in order; the first range of the next `read_ahead - 1` ones downloads meanwhile
        (a backfill of many small hourly blobs waits on round trips, not on parsing)."""
        ahead = self.config.read_ahead - 1
        if ahead < 1 or len(jobs) < 2:
            for job in jobs:
                if self.ctx.stop.is_set():
                    return
                self._read_blob(cc, container, job, None)
            return
        pending: deque[tuple[_Job, Future]] = deque()
        todo = iter(jobs)
        with ThreadPoolExecutor(ahead, thread_name_prefix=f"{self.ctx.name}-read") as pool:
            try:
                while True:
                    while len(pending) < ahead + 1:
                        nxt = next(todo, None)
                        if nxt is None:
                            break
                        length = min(nxt.size - nxt.st.offset, self.read_size)
                        back = nxt.st.tail_len if nxt.check else 0
                        pending.append((nxt, pool.submit(self._download, cc, container, nxt, nxt.st.offset - back,
                                                         length + back)))
                    if not pending or self.ctx.stop.is_set():
                        return
                    job, first = pending.popleft()
                    self._read_blob(cc, container, job, first)
            finally:
                for _, f in pending:
                    f.cancel()

    def _download(self, cc, container: str, job: "_Job", offset: int, length: int) -> bytes | None:
        """Bytes [offset, offset + length) of the blob; None if it was re-created since the listing."""
        try:
            dl = cc.get_blob_client(job.st.name).download_blob(offset=offset, length=length)
            read = dl.properties.creation_time.isoformat()
        except ResourceNotFoundError:  # deleted since it was listed
            self._gone(job.st, job.size, "its read answered 404")
            return None
        except Exception as e:
            raise classify(e, f"reading blob {container}/{job.st.name} at offset {offset}") from None
        if read != job.created:
            self._creation_disagrees(container, job, read)
            return None
        try:
            return dl.readall()
        except Exception as e:
            raise classify(e, f"reading blob {container}/{job.st.name} at offset {offset}") from None

    def _creation_disagrees(self, container: str, job: "_Job", read: str) -> None:
        """The blob read has another creation time than the one listed: re-created since the listing (the
        next poll lists the new one), or, when a later poll shows the same pair again, a service whose listing
        and reads disagree: the blob is not read, and that is said once (it was skipped silently for ever)."""
        seen = (job.key, job.created, read)
        if seen not in self._created_seen and not self.ctx.once:  # `--once` polls once: it says so at once
            self._created_seen.add(seen)
            return
        if seen in self._created_told:
            return
        self._created_told.add(seen)
        metrics.source_errors.labels(self.ctx.name, "creation_time_mismatch").inc()
        self.log.warning("blob's creation time as listed and as read disagree poll after poll: it is not read "
                         "until they agree (its identity is its name and creation time)",
                         extra={"blob": f"{container}/{job.st.name}", "listed": job.created, "read": read,
                                "kind": "creation_time_mismatch"})

    def _read_blob(self, cc, container: str, job: "_Job", first: Future | None) -> None:
        st, size = job.st, job.size
        meta = {"log": {"file": {"path": f"{container}/{st.name}"}}}
        back = st.tail_len if job.check else 0  # bytes before the offset read again and compared
        if not job.check:
            st.etag = job.etag
        before = b""  # up to TAIL bytes ending at st.offset, for the checkpoint's tail digest
        while (st.offset < size or back) and not self.ctx.stop.is_set():
            length = min(size - st.offset, self.read_size)
            if first is not None:  # downloaded ahead, from this same offset and length
                data, first = first.result(), None
            else:
                data = self._download(cc, container, job, st.offset - back, length + back)
            if data is None:
                return  # re-created since the listing: the next poll sees the new one
            if back:
                if len(data) < back:
                    return  # a short answer: checked again next poll
                if tail_digest(data[:back]) != st.tail:
                    st = job.st = self._recreated(job)
                    back, before = 0, b""
                    continue
                if st.head is not None and st.offset - back > 0:  # the head lies outside the bytes compared
                    head = self._download(cc, container, job, 0, st.head_len)
                    if head is None or len(head) < st.head_len:
                        return  # re-created since the listing, or a short answer: checked again next poll
                    if tail_digest(head) != st.head:
                        st = job.st = self._recreated(job)
                        back, before = 0, b""
                        continue
                before, data, back = data[:back], data[back:], 0
                st.etag = job.etag
                if st.offset >= size:  # only the ETag changed (metadata): nothing new, nothing repeated
                    self.ctx.emit(RawBatch([], [], {job.key: st.to_json()}, 0))
                    break
            if not data:
                break
            start = st.offset
            if not self._emit_lines(job.key, st, data, meta, before):
                if len(data) == size - st.offset and self._closed(st):
                    self._emit_last_line(job.key, st, data, meta, before)
                break  # a partial last line: it waits for the next append
            k = st.offset - start
            before = (before + data[max(0, k - TAIL):k])[-TAIL:]
            if len(data) < length:
                break
        if not self.ctx.stop.is_set():
            self._seen_size[job.key] = (job.created, size, job.etag)

    def _recreated(self, job: "_Job") -> BlobState:
        """The bytes before the offset changed under the same creation time: another blob (deleted and
        created again within one second) or an overwrite. Read from its start, under new record keys."""
        old = job.st
        where = f"{old.container}/{old.name}"
        if job.was_done:
            self.log.warning("blob's bytes before the read offset changed though its creation time did not "
                             "(deleted and re-created within one second, or overwritten): reading it from its start",
                             extra={"blob": where, "read_to": old.offset})
        else:
            self._m_losses.inc()
            self.ctx.lost(f"{where} (deleted and re-created, or overwritten; read to byte {old.offset} of "
                          f"{old.size} or more)", 0)
            self.log.warning("blob's bytes before the read offset changed though its creation time did not "
                             "(deleted and re-created within one second, or overwritten) before it was read to "
                             "its end: the old blob's last bytes are lost; reading the new one from its start",
                             extra={"blob": where, "read_to": old.offset})
        st = BlobState(old.container, old.name, old.created, gen=old.gen + 1, size=job.size, modified=old.modified,
                       etag=job.etag)
        self.blobs[job.key] = st
        return st

    def _closed(self, st: BlobState) -> bool:
        """An hourly blob whose hour and last write are more than `lookback` ago: Azure writes no more
        to it, so a partial last line will never get its end."""
        h = blob_hour(st.name)
        horizon = self._closing_time() - self.config.lookback
        return h is not None and h < floor_hour(datetime.fromtimestamp(horizon, timezone.utc)) \
            and st.modified <= horizon

    def _closing_time(self) -> float:
        """The time hours are closed by: the earlier of the host's clock and the service's. The blobs' times
        are the service's; a host clock stepped ahead would close an hour Azure still writes to, whose later
        records would then never be read. The gap, when large, is said once (and its end)."""
        host, service = time.time(), self.service_clock.now()
        if service is None:
            return host
        apart = abs(host - service) > CLOCKS_APART
        if apart != self._clocks_apart:
            self._clocks_apart = apart
            if apart:
                metrics.source_errors.labels(self.ctx.name, "clock_skew").inc()
                self.log.warning(f"the host's clock is {host - service:+.0f}s from Azure Storage's: hours are "
                                 "closed by the earlier of the two (check NTP)",
                                 extra={"kind": "clock_skew", "host_minus_service": round(host - service)})
            else:
                self.log.info("the host's clock agrees with Azure Storage's again")
        return min(host, service)

    def _emit_last_line(self, key: str, st: BlobState, data: bytes, meta: dict, before: bytes) -> None:
        """The rest of a closed blob, a last line without its newline: handed on as it is (waiting
        for an end that never comes would lose it silently)."""
        self.log.warning("hourly blob closed with a last line lacking its newline: handed on as it is",
                         extra={"blob": f"{st.container}/{st.name}", "offset": st.offset, "bytes": len(data)})
        rec = data[:-1] if data.endswith(b"\r") else data
        flags = [(TRUNCATED,)] if st.cont else None
        off = st.offset
        st.offset, st.cont = off + len(data), False
        st.set_tail(before + data[-TAIL:])
        self.ctx.emit(RawBatch([rec], LineKeys(st.fid, [off]), self._noted(key, st, off, 1), len(data), meta, flags))

    def _noted(self, key: str, st: BlobState, start: int, records: int) -> dict[str, Any]:
        """A batch's checkpoint, its lines noted as read first (SourceContext.note): if the blob is deleted
        before they are delivered, the next run can name them. The checkpoint deletes the note."""
        note = f"{READ_NOTE_PREFIX}{key}:{secrets.token_hex(8)}"
        self.ctx.note({note: {"container": st.container, "name": st.name, "created": st.created, "from": start,
                              "to": st.offset, "records": records}})
        return {key: st.to_json(), note: None}

    def _emit_lines(self, key: str, st: BlobState, data: bytes, meta: dict, before: bytes) -> bool:
        """Hand on the complete lines of `data` (which starts at st.offset; `before`: the bytes before it)."""
        lines = split_lines(data, st.offset, self.config.max_line_bytes, st.cont)
        if not lines.consumed:
            return False
        if lines.cuts:
            self._m_cut.inc(lines.cuts)
        base = st.offset
        if base == 0 and st.head is None:  # complete lines only: bytes after them may still be overwritten
            st.head_len = min(lines.consumed, TAIL)
            st.head = tail_digest(data[:st.head_len])
        recs, offs, flags = lines.records, lines.offsets, lines.flags
        n = len(recs)
        step = self.config.batch_size
        for i in range(0, n, step):
            j = min(i + step, n)
            end = offs[j] if j < n else base + lines.consumed
            st.offset = end
            st.cont = lines.cont if j == n else bool(flags and flags[j])
            k = end - base
            st.set_tail(before + data[max(0, k - TAIL):k])
            self.ctx.emit(RawBatch(recs[i:j], LineKeys(st.fid, offs[i:j]), self._noted(key, st, offs[i], j - i),
                                   end - offs[i], meta, flags[i:j] if flags else None))
        if n == 0:  # only the consumed rest of a cut line's piece: still move the checkpoint
            st.offset, st.cont = base + lines.consumed, lines.cont
            k = lines.consumed
            st.set_tail(before + data[max(0, k - TAIL):k])
            self.ctx.emit(RawBatch([], [], {key: st.to_json()}, 0))
        return True


@dataclass
class _Job:
    key: str
    st: BlobState
    size: int  # as listed: read up to here this poll
    created: str
    etag: str | None = None  # as listed
    check: bool = False  # compare the bytes before the offset first (the ETag changed)
    was_done: bool = True  # the blob had been read to its end before this listing


def _present(path: str | None) -> str:
    return "" if path is None else f" from {path}" + ("" if os.path.isfile(path) else " (MISSING)")


def _is_glob(s: str) -> bool:
    return any(ch in s for ch in "*?[")
