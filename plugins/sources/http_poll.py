"""`type: http_poll` — polls the Puppet Enterprise activity service API, one cursor per `service_id`.

For each service: GET `<url>?service_id=S&order=asc&offset=N&limit=L` (the API's default order is
descending, so `asc` is always sent), pages until a short page, and hands every commit to the parser
as one record, `{"service_id", "api_version", "commit"}` (orjson), keyed `S:<digest>:<twins before it>`
(not its offset: pruning shifts offsets onto other commits, and the key names the event's stable id). The cursor (see
http_poll_cursor) is checkpointed with each page, so it only moves once the page is delivered.

Failures never end the source: 401/403 → an error naming the token file, retried with backoff (and
at once when the token file changes), gauge `shipper_http_poll_auth_failing` = 1; a 3xx → an error naming
where it points (kind http_3xx), retried, never followed (the token would go along); 5xx, 429, timeouts,
refused connections, TLS failures → backoff with jitter, per service (one failing service delays only
itself), at least the server's Retry-After and at most backoff_max; an answer over max_response_bytes →
smaller pages; a page that is not the documented JSON → one `_parse_failure` event carrying the body,
then retried. Each failure kind is logged when it starts and when it changes (shipper.failures). With `--once`, a source that still fails after
a few attempts stops with an error (exit 1) instead of waiting for ever.

A commit's offset is the only number Puppet gives it, and `total` says how many there are: offsets the
total counts but no page listed, still missing `vendor_id_grace` seconds later, are a gap in the
product's numbering (shipper.vendor_ids, one tracker per service, saved with its cursor): warned, counted
and attested by the runner. A history that moved (re-sync) starts the numbering again: not a gap.
"""
from __future__ import annotations

import collections
import difflib
import logging
import os
import random
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal
from urllib.parse import urlsplit

import orjson
from pydantic import Field, field_validator, model_validator

from shipper.api import (
    WAIT_MAX,
    EndRun,
    RawBatch,
    RegularFile,
    Source,
    SourceConfig,
    SourceFailures,
    VendorIdGaps,
    iso_utc,
    metrics,
)
from shipper_plugins.sources.http_poll_client import (
    ActivityClient,
    AuthError,
    MalformedPage,
    PollError,
    TokenFile,
    TooLarge,
    TransientError,
)
from shipper_plugins.sources.http_poll_cursor import HARD_KEEP, Cursor, Listed, commit_digest, commit_time

# The activity service's service ids (its API docs' list: docs/research/formats.md §5.2). No error is documented
# for an id it does not know: a test server listing nothing for a typo was read from for ever, silently.
KNOWN_SERVICES = ("classifier", "code-manager", "pe-console", "rbac")
# Puppet's own forwarder (pe_event_forwarding) polls these.
DEFAULT_SERVICES = ["classifier", "rbac", "pe-console", "code-manager"]
ONCE_ATTEMPTS = 3
WIDEST = 10_000  # the largest page asked for, to see a second whose commits fill a page whole
# A second larger than the server's pages, ordered anew at each request, is read in windows this many times
# at most (a commit missed by one sweep of windows has a chance of about 1/e; 12 sweeps miss it 1 in 160,000)
COLLECT_SWEEPS = 12
COLLECT_REQUESTS = 2_000  # per poll, to see one such second

auth_failing = metrics.gauge("shipper_http_poll_auth_failing", "1 while the API refuses the source's token (401/403)",
                             ["source"])
resyncs = metrics.counter("shipper_http_poll_resyncs", "Times a service's history moved under the offset cursor",
                          ["source", "service"])
repeats_skipped = metrics.counter("shipper_http_poll_repeats_skipped", "Commits a re-sync found already shipped",
                                  ["source", "service"])


class HttpPollSourceConfig(SourceConfig):
    type: Literal["http_poll"] = "http_poll"
    parser: str = "puppet_enterprise"
    url: str = Field(description="e.g. https://console.example.com:4433/activity-api/v2/events")
    token_file: str = Field(description="file holding the RBAC token (X-Authentication); re-read when it changes")
    ca_file: RegularFile | None = None  # PE's CA (e.g. /etc/puppetlabs/puppet/ssl/certs/ca.pem); default: system store
    # ids among classifier, code-manager, pe-console, rbac: another id is a config error (a typo read nothing)
    services: list[str] = Field(default_factory=lambda: list(DEFAULT_SERVICES), min_length=1)
    api_version: Literal["auto", "v1", "v2"] = "auto"  # auto: from /v1/ or /v2/ in the URL
    poll_interval: float = Field(default=30.0, gt=0, le=WAIT_MAX)
    page_size: int = Field(default=500, ge=1, le=1000)  # the API's own default and usual cap is 1000
    # seconds, per connect and per socket read; at most WAIT_MAX (longer overflows the waits under it)
    timeout: float = Field(default=30.0, gt=0, le=WAIT_MAX)
    # seconds for a whole answer, headers and body (a server dripping bytes is cut there); default: timeout
    answer_deadline: float | None = Field(default=None, gt=0, le=WAIT_MAX)
    max_response_bytes: int = Field(default=64 * 1024 * 1024, ge=64 * 1024)  # per answer; pages shrink past it
    backoff_initial: float = Field(default=1.0, gt=0, le=WAIT_MAX)
    backoff_max: float = Field(default=300.0, gt=0, le=WAIT_MAX)
    read_from: Literal["beginning", "end"] = "beginning"  # for a service without a checkpoint
    # Commits (those with the newest commit times) remembered per service, so that when the history moves
    # (pruned, restored, the server's clock stepped back, a commit stamped in the future) they are re-read
    # and skipped, and the commits stamped among them are found; each costs ~40 bytes of checkpoint.
    resync_commits: int = Field(default=1000, ge=1, le=100_000)
    # Deprecated and ignored (a warning says so): the re-read was a span of commit time, now resync_commits.
    resync_window: float | None = Field(default=None, ge=0)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        p = urlsplit(v)
        if p.scheme not in ("http", "https") or not p.netloc:
            raise ValueError("must be an http:// or https:// URL of the events endpoint")
        return v

    @field_validator("services")
    @classmethod
    def _services(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v) or any(not s.strip() for s in v):
            raise ValueError("service ids must be unique and non-empty")
        unknown = [s for s in v if s not in KNOWN_SERVICES]
        if unknown:
            named = ", ".join(f"{s!r}" + "".join(f" (did you mean {m!r}?)" for m in
                                                 difflib.get_close_matches(s.lower(), KNOWN_SERVICES, n=1))
                              for s in unknown)
            raise ValueError(f"unknown service id{'s' if len(unknown) > 1 else ''} {named}: the activity service knows {', '.join(KNOWN_SERVICES)} "
                             "(no error is documented for another id: a server that lists nothing for it would have the "
                             "source read nothing, silently)")
        return v

    @model_validator(mode="after")
    def _version(self) -> "HttpPollSourceConfig":
        if self.api_version == "auto":
            path = urlsplit(self.url).path
            if "/v1/" in path + "/":
                self.api_version = "v1"
            elif "/v2/" in path + "/":
                self.api_version = "v2"
            else:
                raise ValueError("cannot tell the API version from the url (no /v1/ or /v2/): set api_version")
        return self


class HttpPollSource(Source):
    Config = HttpPollSourceConfig
    config: HttpPollSourceConfig
    reports_vendor_gaps = True  # commit offsets against the API's total

    def __init__(self, config, ctx):
        super().__init__(config, ctx)
        self.log = ctx.logger or logging.getLogger(f"shipper.source.{ctx.name}")
        base = ctx.base_dir
        self.token_path = os.path.join(base, os.path.expanduser(config.token_file))
        self.ca_path = os.path.join(base, os.path.expanduser(config.ca_file)) if config.ca_file else None
        self.token = TokenFile(self.token_path)
        self.client = ActivityClient(config.url, config.api_version, self.token, self.ca_path, config.timeout,
                                     config.answer_deadline, config.max_response_bytes)
        self.cursors: dict[str, Cursor] = {s: Cursor.from_state(ctx.state.get(_key(s))) for s in config.services}
        self._fresh = {s for s in config.services if _key(s) not in ctx.state}
        self.offset_gaps = {s: _offset_gaps(ctx.state.get(_key(s)), c.offset) for s, c in self.cursors.items()}
        # Per service, commits the total counts that no page lists, already reported: the listing's offsets
        # stay that many below the total's, so an over-count reported once is not reported again with every
        # new commit. Lowered when the listing catches up (a short page's end nearer the total).
        self.unlisted = {s: _unlisted(ctx.state.get(_key(s))) for s in config.services}
        self._failures = SourceFailures(self.log, ctx.name)
        self._sched = {s: _Schedule() for s in config.services}
        self._pages = {s: config.page_size for s in config.services}  # halved while answers are over the byte limit
        self._big_second_said: dict[str, float | None] = {}  # per service: the last second read on by offset
        self._auth_failing = False
        self._malformed_shipped: set[str] = set()
        self._m_auth = auth_failing.labels(ctx.name)
        if config.resync_window is not None:
            self.log.warning("resync_window is ignored: the commits re-read after the history moved are now "
                             f"counted (resync_commits: {config.resync_commits}), not a span of commit time")
        # Commits read and handed on that no output had acknowledged when the last run ended (saved with
        # ctx.note, deleted by the batch's checkpoint once delivered): met again in the listing, they are read
        # again; not met by its end, the activity service deleted them first (retention): a loss, named.
        self._unconfirmed: dict[str, dict[str, Any]] = {}
        # Per service: the total of the last page read before the history moved, and, during the re-read a
        # move starts, [commits then known and not read yet, the re-read's first offset, commits it skipped]
        self._known_total: dict[str, int] = {}
        self._rereading: dict[str, list[int]] = {}
        for key, note in ctx.state.items():
            if not key.startswith(READ_NOTE_PREFIX) or not isinstance(note, dict):
                continue
            left = self._unconfirmed.setdefault(str(note.get("service")), {"keys": [], "commits": collections.Counter(),
                                                                           "ts": {}})
            left["keys"].append(key)
            for entry in note.get("commits") or []:
                if len(entry) >= 3:  # [ts, digest, rank]: one commit, however many runs noted it (a commit
                    ts, digest, rank = entry[:3]  # re-read and handed on again is noted again, and a
                    commit_key = f"{digest}:{rank}"  # restart before the old note was deleted loads both)
                    left["commits"][commit_key] = 1
                else:  # [ts, digest], saved before ranks were noted: counted as they come
                    ts, commit_key = entry
                    left["commits"][commit_key] += 1
                    left["old_form"] = True
                left["ts"][commit_key] = ts
        if urlsplit(config.url).scheme == "http":
            self.log.warning("plain http: the token and the audit events travel unencrypted "
                             "(use https unless a local TLS-terminating proxy is in front)", extra={"url": config.url})

    # --- for `shipper check` and status -------------------------------------------------------------
    def describe(self) -> list[str]:
        def present(path: str | None) -> str:
            return "" if path is None else (" (present)" if os.path.isfile(path) else " (MISSING)")

        return [f"{self.config.url} (API {self.config.api_version})",
                f"token file {self.token_path}{present(self.token_path)}",
                f"CA {self.ca_path or 'system trust store'}{present(self.ca_path)}",
                f"services (one cursor each): {', '.join(self.config.services)}"]

    def status(self) -> dict[str, Any]:
        return {"services": {s: {"offset": c.offset, "failing": self._failures.failing(s),
                                 "consecutive_failures": self._sched[s].failures, "page_size": self._pages[s]}
                             for s, c in self.cursors.items()}}

    def last_error(self) -> dict[str, Any] | None:
        return self._failures.report()

    def close(self) -> None:
        self.client.close()

    # --- the loop ------------------------------------------------------------------------------------
    def run(self) -> None:
        """Each service on its own schedule: a failing one backs off (or waits its Retry-After) alone."""
        stop = self.ctx.stop
        services = self.config.services
        watcher = threading.Thread(target=self._abort_on_stop, name=f"{self.ctx.name}-abort", daemon=True)
        watcher.start()
        done: set[str] = set()  # --once: services read to their end (or given up)
        gave_up: list[str] = []
        for service in [s for s in self._unconfirmed if s not in services]:
            self._settle(service, "the service is no longer polled")
        while not stop.is_set():
            for service in services:
                sched = self._sched[service]
                if service in done or sched.next_at > time.monotonic():
                    continue
                if stop.is_set():
                    return
                try:
                    self._poll(service)
                except PollError as e:
                    if stop.is_set():
                        return  # the stop cut the answer: no failure to report
                    self._failed(service, e)
                except Exception as e:  # a bug here must not end the source for good: log it, retry later
                    metrics.source_errors.labels(self.ctx.name, "internal").inc()
                    self.log.exception("http_poll: unexpected error; retrying with backoff", extra={"service": service})
                    self._failures.failed("internal", f"{type(e).__name__}: {e}", scope=service, level=logging.ERROR)
                    self._backoff(service, None)
                else:
                    self._report_offset_gaps(service)
                    sched.failures = 0
                    self._pages[service] = min(self.config.page_size, self._pages[service] * 2)
                    self._recovered(service)
                    sched.next_at = time.monotonic() + self.config.poll_interval
                    if self.ctx.once:
                        done.add(service)
                    continue
                if self.ctx.once and sched.failures >= ONCE_ATTEMPTS:
                    done.add(service)
                    gave_up.append(f"{service}: {sched.last_error}")
            if self.ctx.once and len(done) == len(services):
                if gave_up:
                    raise EndRun(f"activity API still failing after {ONCE_ATTEMPTS} attempts: {'; '.join(gave_up)}")
                return
            self._wait_for_next(done)

    def _backoff(self, service: str, retry_after: float | None) -> float:
        sched = self._sched[service]
        sched.failures += 1
        ceiling = min(self.config.backoff_max, self.config.backoff_initial * 2 ** min(sched.failures - 1, 30))
        delay = ceiling / 2 + random.uniform(0, ceiling / 2)  # jitter: many agents must not retry in step
        if retry_after is not None:  # the server said when: honoured, within backoff_max
            delay = min(self.config.backoff_max, max(delay, retry_after))
        sched.next_at = time.monotonic() + delay
        return delay

    def _wait_for_next(self, done: set[str]) -> None:
        waiting = [s for s in self.config.services if s not in done]
        if not waiting:
            return
        wake = min(self._sched[s].next_at for s in waiting)
        while not self.ctx.stop.is_set():
            left = wake - time.monotonic()
            if left <= 0:
                return
            self.ctx.stop.wait(min(left, 0.25))
            if self._auth_failing and self.token.changed():
                for s in waiting:  # a renewed token is tried at once
                    self._sched[s].next_at = time.monotonic()
                return

    def _abort_on_stop(self) -> None:
        self.ctx.stop.wait()
        self.client.abort()  # an answer being read (a server dripping bytes) must not hold the shutdown

    def _failed(self, service: str, e: PollError) -> None:
        sched = self._sched[service]
        sched.last_error = str(e)
        metrics.source_errors.labels(self.ctx.name, e.kind).inc()
        if isinstance(e, AuthError):
            self._auth_failing = True
            self._m_auth.set(1)
        if isinstance(e, MalformedPage):
            self._ship_malformed(service, e)
        if isinstance(e, TooLarge) and self._pages[service] > 1:
            # smaller pages, at once: the answer is big, not the server down
            self._pages[service] = max(1, self._pages[service] // 2)
            self.log.warning(f"activity API: {e}: asking for pages of {self._pages[service]} commits",
                             extra={"service": service, "kind": e.kind})
            sched.next_at = time.monotonic()
            return
        delay = self._backoff(service, getattr(e, "retry_after", None))
        # Errors an operator must act on (token, URL, a broken proxy, a commit over the byte limit) log as
        # errors, outages as warnings: when a failure starts and when its kind changes, then a summary a minute.
        serious = isinstance(e, (AuthError, MalformedPage, TooLarge)) or e.kind in ("http_4xx", "http_3xx")
        self._failures.failed(e.kind, f"activity API: {e}", scope=service,
                              level=logging.ERROR if serious else logging.WARNING, service=service,
                              retry_in_s=round(delay, 1))

    def _recovered(self, service: str) -> None:
        if self._auth_failing and not any(self._sched[s].failures for s in self.config.services):
            self._auth_failing = False
            self._m_auth.set(0)
        self._failures.recovered("activity API answers again", scope=service, service=service)

    # --- one service ---------------------------------------------------------------------------------
    def _poll(self, service: str) -> None:
        if self._read(service):
            self._settle(service, "deleted by the activity service (its retention pruned them) before they "
                                  "could be read again")
            self._count_pruned_unread(service)

    def _count_pruned_unread(self, service: str) -> None:
        """A re-read after a move reached the end of the listing: of the commits known to exist and not read
        when the history moved, those it cannot have met (the commits it found unshipped are fewer) were
        deleted unread (pruned while the source was behind: its output down). New commits since make this
        count low, never high: "at least"."""
        pending = self._rereading.pop(service, None)
        if pending is None:
            return
        unread, start, skipped = pending
        lost = unread - ((self.cursors[service].offset - start) - skipped)
        if lost <= 0:
            return
        metrics.losses.labels(self.ctx.name).inc()
        metrics.source_errors.labels(self.ctx.name, "commits_lost").inc(lost)
        self.ctx.lost(f"service {service}: at least {lost} commit(s) deleted before they were read", 0)
        self.log.warning(f"activity API: service {service}: at least {lost} commit(s) were deleted (the activity "
                         "service's retention pruned them) before the source could read them: it was behind (an "
                         "output down, or slow); they are lost", extra={"service": service, "kind": "commits_lost",
                                                                       "commits": lost})

    def _settle(self, service: str, why: str) -> None:
        """The listing was read to its end: the commits read in an earlier run, never delivered, that it did
        not hold are lost. Said once; the notes are then forgotten."""
        left = self._unconfirmed.pop(service, None)
        if left is None:
            return
        missing = +left["commits"]
        if missing:
            n = sum(missing.values())
            stamps = sorted(left["ts"][d] for d in missing if isinstance(left["ts"].get(d), (int, float)))
            span = f"stamped {_iso(stamps[0])} to {_iso(stamps[-1])}" if stamps else "stamped at no readable time"
            metrics.losses.labels(self.ctx.name).inc()
            metrics.source_errors.labels(self.ctx.name, "commits_lost").inc(n)
            self.ctx.lost(f"service {service}: {n} commit(s) {span}, read but not delivered", 0)
            self.log.warning(f"activity API: service {service}: {n} commit(s) ({span}) read before the last stop "
                             f"but not delivered are no longer listed: {why}; they are lost",
                             extra={"service": service, "kind": "commits_lost", "commits": n,
                                    "digests": sorted(missing)[:20]})
        self.ctx.note({key: None for key in left["keys"]})

    def _read(self, service: str) -> bool:
        """One poll of a service; True if it read the listing to its end."""
        cur = self.cursors[service]
        size = self._pages[service]
        if service in self._fresh and self.config.read_from == "end":
            page = self.client.get(service, 0, 1)
            cur.offset = page.total or 0
            cur.tail_partial = True  # the first commits read may belong to a second begun before them
            self.offset_gaps[service].restart(cur.offset)
            self.log.info("no checkpoint: starting at the current end", extra={"service": service, "offset": cur.offset})
            self._emit(service, [], [], cur)
            self._fresh.discard(service)
            return True
        self._fresh.discard(service)
        moved = 0
        by_offset = False  # the cursor's last second is larger than the server's pages: read on by offset
        widen = 1
        while not self.ctx.stop.is_set():
            k = 0 if by_offset else cur.reread()
            start = cur.offset - k
            limit = min(WIDEST, (k + size) * widen) if widen > 1 else k + size
            # The commit before the cursor's last second too: stamped in that second, it shows the second begins
            # earlier than the offsets say (pruning moved them), though the page may hold just the commits shipped
            before = 1 if k and start > 0 and cur.tail_starts_second() else 0
            page = self.client.get(service, start - before, limit + before)
            commits = page.commits
            at_end = len(commits) < limit + before and (page.total is None or start - before + len(commits) >= page.total)
            earlier: str | None = None
            if before and commits:
                ts = commit_time(commits[0])
                if ts is not None and cur.tail_ts is not None and ts >= cur.tail_ts:
                    earlier = "the commit before the cursor's last second is stamped in it or later"
                commits = commits[1:]
            listed = [Listed.of(c) for c in commits]
            cur.adopt(listed)
            repeats: list[bool] = []
            read_by_offset, by_offset = by_offset, False
            if read_by_offset:
                passed = cur.passed_in_tail()
                repeats = [cur.is_repeat(c, passed) for c in listed]
                new, whole, why = listed, True, None
            else:
                new, whole, why = cur.after_tail(listed, at_end)
                if earlier is not None:
                    new, whole, why = [], True, earlier
            # A total below the cursor is a shrink only if the page agrees: commits served at or past the
            # cursor prove the history reaches it (a server whose total under-counts, else re-read for ever).
            shrank = page.total is not None and page.total < cur.offset
            if shrank and not commits:
                why = f"the total shrank from at least {cur.offset} to {page.total}"
            collected: tuple[list[Listed], bool, int] | None = None
            if why is None and not whole and (len(commits) < limit or limit >= WIDEST):
                # the server answers fewer commits than the cursor's last second holds: read it in windows
                got = self._collect_second(service, cur, start, max(1, len(commits)))
                if isinstance(got, str):
                    why = got
                else:
                    collected = got
            if why is not None:
                moved += 1
                if moved > 1:  # an API contradicting itself page after page: back off, do not hammer it
                    raise TransientError(f"the history of service {service} keeps moving ({why})")
                self._resync(service, cur, why, page.total)
                widen = 1
                continue
            if page.total is not None:  # commits counted past what is listed open a gap until they come
                self._known_total[service] = page.total  # the history as it stood before a move
                if len(commits) < limit:
                    self.unlisted[service] = min(self.unlisted[service], max(0, page.total - start - len(commits)))
                last = page.total - 1 - self.unlisted[service]
                self._offset_gaps_now(service, self.offset_gaps[service].claim(last, time.monotonic()))
            if not whole:
                if collected is None:
                    widen *= 2  # the cursor's last second fills the page: ask for it whole, in one answer
                    continue
                widen = 1
                new, complete, unseen = collected
                if new:
                    self._ship(service, new, cur)
                if complete or not new:
                    if not complete:  # not all of it seen, nothing new either: on by offset, as a last resort
                        self._warn_big_second(service, cur, len(commits), unseen)
                    by_offset = True  # the second is known whole: the commits after it have stable offsets
                    continue
                if self.ctx.once:  # --once reads what is there now: on until that second is passed
                    continue
                return False  # part of that second seen: the rest on the next poll
            widen = 1
            if not new:
                if commits and not at_end and not read_by_offset:  # a server capping `limit` answered
                    by_offset = True  # the cursor's last second alone
                    continue
                if cur.skip or moved:  # a re-read's new cursor is saved even when it found nothing, or a
                    cur.end_of_reread()  # restart would re-read (and count a loss) again
                    self._emit(service, [], [], cur)
                return True  # nothing after the cursor
            self._ship(service, new, cur, repeats)
            if len(commits) < limit and (page.total is None or cur.offset >= page.total):
                if cur.skip:  # a re-read reached the end: what it did not meet was pruned or dropped
                    cur.end_of_reread()
                    self._emit(service, [], [], cur)
                return True  # a short page: nothing more now (a page cut by a server-side cap goes on)
        return False

    def _collect_second(self, service: str, cur: Cursor, start: int,
                        answered: int) -> tuple[list[Listed], bool, int] | str:
        """The server answers fewer commits (`answered`) than the cursor's last second holds: read that second
        in windows of that size from its first offset (`start`), sweep after sweep while the server orders it
        anew at each request, until as many different commits were seen as it holds (its end, the first later
        commit, has a stable offset). Returns its commits not passed yet, whether all of it was seen and how
        many of its commits were not told apart, or why the history moved."""
        ts = cur.tail_ts
        seen: collections.Counter[str] = collections.Counter()  # digest -> most copies of it in one answer (identical twins)
        commit_of: dict[str, Listed] = {}
        end: int | None = None
        requests = 0
        # A server whose order is stable shows the same sweep every time: then that sweep's counts are the
        # second's, twins included (the most copies in one answer never reach a twin count above the window size).
        last_sweep: list[str] | None = None
        same_sweeps = 0
        for _ in range(COLLECT_SWEEPS):
            pos = start
            sweep: list[str] = []
            while (end is None or pos < end) and requests < COLLECT_REQUESTS and not self.ctx.stop.is_set():
                requests += 1
                commits = [Listed.of(c) for c in self.client.get(service, pos, answered).commits]
                cur.adopt(commits)
                run = 0
                while run < len(commits) and commits[run].ts == ts:
                    run += 1
                digests = [c.digest for c in commits[:run]]
                for c in commits[:run]:
                    commit_of.setdefault(c.digest, c)
                for d, n in collections.Counter(digests).items():
                    seen[d] = max(seen[d], n)
                sweep.extend(digests)
                if run < len(commits) or not run:
                    if end is None:
                        end = pos + run
                    break
                pos += run
            if end is not None and sum(seen.values()) >= end - start:
                break
            # Every sweep identical, holding every commit seen (a server ordering anew at each request repeats
            # one sweep 12 times by chance at most ~1 in 10^7, for a second of 2 in windows of 1, and never one
            # that misses a commit it showed): a stable order, whose sweep counts twins too
            whole_sweep = end is not None and len(sweep) == end - start
            same_sweeps = same_sweeps + 1 if whole_sweep and sweep == last_sweep else 0
            last_sweep = sweep if whole_sweep else None
            counts = collections.Counter(sweep)
            if same_sweeps >= COLLECT_SWEEPS - 1 and not seen - counts:
                seen = counts
                break
            if requests >= COLLECT_REQUESTS or self.ctx.stop.is_set():
                break
        tail = collections.Counter(cur.tail)
        complete = end is not None and sum(seen.values()) >= end - start
        if complete and tail - seen:
            return f"{sum((tail - seen).values())} commit(s) of the last second shipped are no longer listed in it"
        unseen = 0 if end is None else max(0, end - start - sum(seen.values()))
        return [commit_of[d] for d, n in (seen - tail).items() for _ in range(n)], complete, unseen

    def _warn_big_second(self, service: str, cur: Cursor, answered: int, unseen: int) -> None:
        """Read on by offset, where a commit like one of the second already passed counts as passed: up to
        `unseen` commits of it (identical ones, or ones no answer showed) are lost. Said and counted each time."""
        if self._big_second_said.get(service) == cur.tail_ts:  # met again in the same poll or the next
            return
        self._big_second_said[service] = cur.tail_ts
        many = f"up to {unseen}" if unseen else "an unknown number"  # 0: its end was not found
        metrics.losses.labels(self.ctx.name).inc()
        metrics.source_errors.labels(self.ctx.name, "commits_skipped").inc(unseen)
        self.ctx.lost(f"service {service}: {many} commit(s) stamped {_iso(cur.tail_ts)}", 0)
        self.log.warning(f"activity API: service {service} has more commits in one second ({_iso(cur.tail_ts)}) "
                         f"than the server answers at once ({answered}), and {COLLECT_SWEEPS} reads of that second "
                         f"in another order each time did not show them all: {many} of its commits could "
                         "not be told apart (identical commits, or commits no answer showed) and may be lost; "
                         "it is read on by offset",
                         extra={"service": service, "kind": "big_second", "commits": len(cur.tail), "unseen": unseen})

    def _ship(self, service: str, commits: list[Listed], cur: Cursor, repeats: list[bool] | None = None) -> None:
        records: list[bytes] = []
        keys: list[str] = []
        shipped: list[list] = []  # [commit time, digest] of each commit shipped, for the read note
        skipped = 0
        first = cur.offset
        left = self._unconfirmed.get(service)
        met = False
        for i, commit in enumerate(commits):
            ship = cur.take(commit, self.config.resync_commits, repeat=repeats[i] if repeats else False)
            rank = cur.twins_before(commit)
            if left is not None and _met_again(left, commit, rank):
                met = True
            if ship:
                records.append(orjson.dumps({"service_id": service, "api_version": self.config.api_version,
                                             "commit": commit.commit}))
                keys.append(f"{service}:{commit.digest}:{rank}")
                shipped.append([commit.ts, commit.digest, rank])
            else:
                skipped += 1
        if skipped:
            repeats_skipped.labels(self.ctx.name, service).inc(skipped)
            if service in self._rereading:
                self._rereading[service][2] += skipped
        self._offset_gaps_now(service, self.offset_gaps[service].observe(range(first, cur.offset), time.monotonic()))
        if cur.reappeared:
            self.log.warning(f"activity API: {len(cur.reappeared)} commit(s) of service {service} shipped before, "
                             f"then gone from the listing, are listed again in their second ({_iso(cur.tail_ts)}): "
                             "not shipped again (an identical new commit would look the same)",
                             extra={"service": service, "kind": "reappeared", "digests": cur.reappeared[:20]})
            cur.reappeared = []
        if cur.oversized is not None:
            ts, n = cur.oversized
            cur.oversized = None
            if cur.oversized_said != ts:  # once per second, across restarts
                cur.oversized_said = ts
                self.log.warning(f"activity API: service {service} has more commits stamped in one second "
                                 f"({_iso(ts)}: {n} so far) than resync_commits ({self.config.resync_commits}): "
                                 f"that second is remembered whole, up to {HARD_KEEP} commits (~40 bytes of "
                                 "checkpoint each), so that commits stamped in it later are still found (said once "
                                 "per second)", extra={"service": service, "kind": "big_second", "commits": n})
        self._emit(service, records, keys, cur, shipped, self._renote(service, left) if met and left else None)

    def _renote(self, service: str, left: dict[str, Any]) -> dict[str, Any]:
        """Checkpoint entries that replace the notes of commits read before the last stop by a note of those
        not met again yet: written with the checkpoint that moves the cursor past the ones met (a restart after
        it must not wait for them, and call them lost when the listing ends without them; found after a reload
        whose source had met them, re-shipped and delivered them)."""
        entries: list[list] = []
        for k, n in (+left["commits"]).items():
            ts = left["ts"].get(k)
            if ":" in k:  # digest:rank, one commit
                digest, rank = k.rsplit(":", 1)
                entries.append([ts, digest, int(rank)])
            else:  # a digest of a note saved before ranks: as many commits as it counts
                entries.extend([ts, k] for _ in range(n))
        out: dict[str, Any] = {key: None for key in left["keys"]}
        left["keys"] = []
        if entries:
            key = f"{READ_NOTE_PREFIX}{service}:{secrets.token_hex(8)}"
            out[key] = {"service": service, "commits": entries}
            left["keys"].append(key)
        return out

    def _report_offset_gaps(self, service: str) -> None:
        """After a poll: offsets the total counted that no page listed for vendor_id_grace seconds."""
        tracker = self.offset_gaps[service]
        gaps = tracker.due(time.monotonic(), self.config.vendor_id_grace)
        self._offset_gaps_now(service, gaps)
        saved = self.ctx.state.get(_key(service))
        was = saved.get(OFFSET_GAPS_KEY) if isinstance(saved, dict) else None
        if (was or self._gap_state(service, _offset_gaps(None, self.cursors[service].offset))) != \
                self._gap_state(service, tracker):
            # saved with the cursor: a gap reported is not reported again after a restart, one opened
            # by a total (no commit shipped with it) is still open
            self._emit(service, [], [], self.cursors[service])

    def _offset_gaps_now(self, service: str, gaps: list[tuple[int, int]]) -> None:
        if gaps:
            self.unlisted[service] += sum(hi - lo + 1 for lo, hi in gaps)
            self.ctx.vendor_gaps(gaps, f"service {service} commit offsets")

    def _gap_state(self, service: str, tracker: VendorIdGaps) -> dict[str, Any]:
        return {**tracker.state(), "unlisted": self.unlisted[service]}

    def _emit(self, service: str, records: list[bytes], keys: list[str], cur: Cursor,
              shipped: list[list] | None = None, renoted: dict[str, Any] | None = None) -> None:
        state = cur.to_state()
        state[OFFSET_GAPS_KEY] = self._gap_state(service, self.offset_gaps[service])
        self.ctx.state[_key(service)] = state
        # An empty batch still carries the checkpoint (a re-sync that found only repeats moves the cursor).
        checkpoint: dict[str, Any] = {_key(service): state, **(renoted or {})}
        if shipped:  # saved before it is handed on, deleted with the checkpoint that delivers it
            note = f"{READ_NOTE_PREFIX}{service}:{secrets.token_hex(8)}"
            self.ctx.note({note: {"service": service, "commits": shipped}})
            checkpoint[note] = None
        self.ctx.emit(RawBatch(records, keys, checkpoint, sum(len(r) for r in records)))

    def _resync(self, service: str, cur: Cursor, why: str, total: int | None) -> None:
        """The history moved (pruned, restored, commits stamped out of order): re-read from the first commit
        stamped after the cursor's floor, so every remembered commit is met (and skipped) and every commit
        stamped among them is shipped."""
        resyncs.labels(self.ctx.name, service).inc()
        # A last commit stamped in the future (the server's clock ran ahead, then was put right) sorts after
        # every new commit until real time passes it: each poll with new commits re-reads. Said once per commit.
        future = cur.tail_ts is not None and cur.tail_ts > time.time() + 1 and cur.last is not None
        again = future and cur.future_warned == cur.last
        if future:
            cur.future_warned = cur.last
            why += (f"; the last commit shipped is stamped in the future ({_iso(cur.tail_ts)}): until that time "
                    "passes, new commits sort before it and each poll that finds some re-reads (said once)")
        if not again:
            metrics.source_errors.labels(self.ctx.name, "history_moved").inc()
        floor = cur.floor
        lo, hi = 0, total if total is not None else cur.offset
        # Commits are in ascending time: binary search for the first one stamped after the floor
        # (no floor: every commit shipped is remembered, re-read from the first).
        while floor is not None and lo < hi and not self.ctx.stop.is_set():
            mid = (lo + hi) // 2
            probe = self.client.get(service, mid, 1).commits
            ts = commit_time(probe[0]) if probe else None
            if probe and ts is not None and ts <= floor:
                lo = mid + 1
            else:
                hi = mid
        after = "the first commit" if floor is None else f"the first commit stamped after {floor}"
        self.log.log(logging.DEBUG if again else logging.WARNING,
                     f"history of service {service} moved under the cursor ({why}): re-reading from commit "
                     f"offset {lo} ({after}), skipping the {len(cur.recent)} commits it remembers shipping",
                     extra={"service": service, "old_offset": cur.offset, "new_offset": lo})
        # The commits before `lo` that the cursor passed are those it no longer remembers (a pruned one makes
        # this count too low, never too high). More commits before `lo` now are commits stamped before the
        # floor after newer ones were shipped (a clock step back further than resync_commits reach): not read.
        unseen = lo - (cur.offset - cur.remembered_after_floor())
        if floor is not None and unseen > 0:
            metrics.losses.labels(self.ctx.name).inc()
            self.ctx.lost(f"service {service}: {unseen} commit(s) stamped before {floor}", 0)
            metrics.source_errors.labels(self.ctx.name, "commits_skipped").inc(unseen)
            self.log.warning(f"history of service {service}: {unseen} commit(s) appeared before commit time {floor}, "
                             "stamped earlier than the commits the source remembers shipping (the server's clock "
                             "stepped back further than resync_commits reach): they are not shipped; raise "
                             "resync_commits to cover such a step",
                             extra={"service": service, "kind": "commits_skipped", "commits": unseen})
        known = self._known_total.get(service)
        before = self._rereading.get(service)
        unread = before[0] if before is not None else \
            (max(0, known - self.unlisted[service] - cur.offset) if known is not None else 0)
        if floor is not None and unseen > 0:  # those sort before the re-read: counted above already
            unread = max(0, unread - unseen)
        self._rereading[service] = [unread, lo, 0]
        cur.resync_from(lo)
        self.offset_gaps[service].restart(lo)  # the offsets name other commits now: open gaps are not gaps

    def _ship_malformed(self, service: str, e: MalformedPage) -> None:
        """A page that cannot be read is shipped once (flagged by the parser), then retried."""
        cur = self.cursors[service]
        digest = commit_digest(e.body.decode("utf-8", "replace"))
        if digest in self._malformed_shipped:
            return
        self._malformed_shipped.add(digest)
        record = orjson.dumps({"service_id": service, "api_version": self.config.api_version,
                               "malformed_page": e.body[:64 * 1024].decode("utf-8", "replace"),
                               "error": f"unreadable activity API page at offset {cur.offset}: {e}"})
        self.ctx.emit(RawBatch([record], [f"{service}:{cur.offset}:malformed:{digest}"], {}, len(record)))


@dataclass
class _Schedule:
    next_at: float = 0.0  # monotonic time of the service's next request
    failures: int = 0  # consecutive
    last_error: str = ""


def _iso(ts: float | None) -> str:
    """A commit's time in messages, written as every event's @timestamp is."""
    return "no time" if ts is None else iso_utc(datetime.fromtimestamp(ts, timezone.utc))


def _met_again(left: dict[str, Any], commit: Listed, rank: int) -> bool:
    """A commit read before the last stop and not delivered is listed again: not lost. Notes name it by digest and
    rank; older notes by its digest alone, or (saved before COMMON) by its whole-commit digest."""
    counts = left["commits"]
    key = f"{commit.digest}:{rank}"
    if counts[key] > 0:
        counts[key] -= 1
        return True
    if not left.get("old_form"):  # the whole-commit digest is a sorted dump and a hash: asked only when needed
        return False
    for k in (commit.digest, commit.whole()):
        if counts[k] > 0:
            counts[k] -= 1
            return True
    return False


def _key(service: str) -> str:
    return f"service:{service}"


OFFSET_GAPS_KEY = "offset_gaps"  # in a service's checkpoint, beside the cursor
READ_NOTE_PREFIX = "read:"  # read:<service>:<token> — commits handed on and not delivered yet (SourceContext.note)


def _offset_gaps(state: Any, offset: int) -> VendorIdGaps:
    saved = state.get(OFFSET_GAPS_KEY) if isinstance(state, dict) else None
    if isinstance(saved, dict) and isinstance(saved.get("highest"), int):
        return VendorIdGaps(saved)
    return VendorIdGaps({"highest": offset - 1})  # a new service, or a checkpoint from before the check


def _unlisted(state: Any) -> int:
    saved = state.get(OFFSET_GAPS_KEY) if isinstance(state, dict) else None
    n = saved.get("unlisted") if isinstance(saved, dict) else None
    return n if isinstance(n, int) and n > 0 else 0
