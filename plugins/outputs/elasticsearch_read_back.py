"""What an Elasticsearch/OpenSearch output stored, read back for `shipper verify --output`.

The scroll API, sorted by `_doc` (the cheapest order; verify orders by sequence itself): it is in
Elasticsearch 7.17–9 and OpenSearch 1–3 alike, where point-in-time searches are not.
"""
from __future__ import annotations

import re
from typing import Any, Iterator

PAGE = 1000
# A page holds PAGE stored events, each up to a source's max_line_bytes (1 MiB by default) and what
# was added to it: the bound only keeps an answer that does not end from taking the host's memory.
PAGE_ANSWER_MAX = PAGE * (1 << 20) + (64 << 20)
KEEP_ALIVE = "2m"


def index_glob(cfg) -> str:
    """Every index the output writes to: its data streams, or its index pattern with each field a *."""
    if cfg.index is None:
        return f"logs-*-{cfg.namespace}"
    return re.sub(r"\{[^}]*\}", "*", cfg.index)


def read_back(client, cfg, since: str | None) -> Iterator[tuple[str, dict]]:
    """(where, event) for every chained event stored since `since` (an ISO time, or all).

    An event's @timestamp is the product's time of it, not when it was sealed: a backlog shipped
    today carries last week's. So `since` picks the attestations (their @timestamp is the agent's
    clock) and, per chain, every link from the first of them on, by sequence."""
    glob = index_glob(cfg)
    chained: dict[str, Any] = {"exists": {"field": "event.sequence"}}
    if not since:
        yield from _scroll(client, glob, {"bool": {"filter": [chained]}})
        return
    first: dict[str, int] = {}  # chain -> the sequence of its first attestation since `since`
    attested = {"bool": {"filter": [chained, {"exists": {"field": "shipper.attestation.previous_sequence"}},
                                    {"range": {"@timestamp": {"gte": since}}}]}}
    for _, doc in _scroll(client, glob, attested):
        chain, seq = (doc.get("labels") or {}).get("shipper_chain"), (doc.get("event") or {}).get("sequence")
        if isinstance(chain, str) and isinstance(seq, int):
            first[chain] = min(seq, first.get(chain, seq))
    if not first:
        return
    links = {"bool": {"filter": [chained, {"range": {"event.sequence": {"gte": min(first.values())}}}]}}
    for where, doc in _scroll(client, glob, links):
        chain, seq = (doc.get("labels") or {}).get("shipper_chain"), (doc.get("event") or {}).get("sequence")
        if chain in first and isinstance(seq, int) and seq >= first[chain]:
            yield where, doc


def _scroll(client, glob: str, query: dict) -> Iterator[tuple[str, dict]]:
    body = {"size": PAGE, "sort": ["_doc"], "query": query}
    # Only whole answers, or verify would call what it could not read missing: with a shard down the
    # servers answer 200 with the other shards' hits (allow_partial_search_results defaults to true), and
    # a wildcard passes over closed indices without a word (expand_wildcards defaults to open); with
    # closed ones expanded and ignore_unavailable=false a closed index is an error naming it.
    answer = client.request("POST", f"/{glob}/_search?scroll={KEEP_ALIVE}&expand_wildcards=open,closed"
                                    "&ignore_unavailable=false&allow_no_indices=true&allow_partial_search_results=false",
                            body, max_answer=PAGE_ANSWER_MAX)
    scroll_id = None
    try:
        while True:
            if answer.status != 200:
                raise RuntimeError(f"reading back {glob}: HTTP {answer.status}: {str(answer.body)[:300]}")
            scroll_id = answer.body.get("_scroll_id") or scroll_id
            _whole(glob, answer.body)
            hits = answer.body["hits"]["hits"]
            for h in hits:
                yield f"{h.get('_index')}/{h.get('_id')}", h["_source"]
            if len(hits) < PAGE or not scroll_id:
                return
            answer = client.request("POST", "/_search/scroll", {"scroll": KEEP_ALIVE, "scroll_id": scroll_id},
                                    max_answer=PAGE_ANSWER_MAX)
    finally:
        if scroll_id:
            try:
                client.request("DELETE", "/_search/scroll", {"scroll_id": scroll_id})
            except Exception:  # the context expires by itself in KEEP_ALIVE
                pass


def _whole(glob: str, body: dict) -> None:
    """A page some shards did not answer (a scroll page can lose a shard after the search began) holds
    part of the store: an error, never a judgement of the trail."""
    shards = body.get("_shards") or {}
    failed = shards.get("failed") or 0
    if failed or body.get("timed_out"):
        reasons = {str(((f.get("reason") or {}).get("type"))) for f in shards.get("failures") or [] if isinstance(f, dict)}
        why = f"{failed} of {shards.get('total', '?')} shards failed ({', '.join(sorted(reasons)) or 'no reason given'})" \
            if failed else "the search timed out"
        raise RuntimeError(f"reading back {glob}: the store answered only in part: {why}; nothing was judged, "
                           "verify again once every shard answers")
