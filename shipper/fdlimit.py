"""Raising the soft descriptor limit to the hard one at start.

The soft limit is what a process is given, the hard one what it may take: systemd's default is
1024 soft, 524288 hard, and the file sources together keep half of the soft limit open (tail.descriptors.fd_budget), so
thousands of followed files are closed and reopened by identity. Fluentd, Vector and Filebeat's
units do the same (raise it, or set LimitNOFILE). No library does this; it is one setrlimit call.
"""
from __future__ import annotations

import logging
import resource
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shipper.config import Config

log = logging.getLogger("shipper.fdlimit")


def soft_limit() -> int:
    """The soft RLIMIT_NOFILE now (unlimited read as 65536): what the budgets of descriptors are shares of."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return 65536 if soft == resource.RLIM_INFINITY else soft


def raise_soft_limit() -> tuple[int, int]:
    """Set the soft RLIMIT_NOFILE to the hard limit; the (old, new) soft limits. A limit that
    cannot be raised (a seccomp filter refusing setrlimit, as the unit's @resources does) stays,
    said once: the unit's LimitNOFILE sets both limits there."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == hard:
        return soft, soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (OSError, ValueError) as e:
        log.info(f"the soft descriptor limit stays {soft} (not raised to the hard limit {hard}: {e})")
        return soft, soft
    return soft, hard


# What the agent keeps open besides its sources and outputs: stdin/stdout/stderr, its log, the checkpoint writer's and
# the forkserver's pipes, the main loop's wake pipe and selector (12 measured with one stdout output and no endpoint;
# the rest is room).
AGENT_OWN = 15
# The HTTP endpoint's connections at most: a sixteenth of the limit, between 2 and what it is given
# (MAX_CONNECTIONS unless told).
ENDPOINT_SHARE = 16
MAX_CONNECTIONS = 64


def endpoint_connections(wanted: int) -> int:
    """The connections the HTTP endpoint holds at most under the soft limit (shipper.http_endpoint)."""
    return max(2, min(wanted, soft_limit() // ENDPOINT_SHARE))


# A parse worker keeps 3 descriptors in the agent: its pipe, its process's sentinel, the forkserver's connection for it
# (measured: `shipper run` with parse_workers 1, 2, 4 kept 5, 8, 14 more than with 0). The workers of every pool share
# 2 more (the forkserver's alive pipe, the resource tracker's), and a start takes up to 3 for a moment.
PER_WORKER = 3
WORKERS_SHARED = 5
# The parse workers together keep at most a quarter of what the limit leaves past what the sources, the outputs and
# the agent keep (past 64 when that is more): the tailers' files and the holders' come first (parse workers are
# speed, the files are the data); the workers a source asks for beyond are not started (grant_workers).
WORKERS_SHARE = 4

# What the running config's sources, outputs, parse workers and the agent keep open whatever they read (take()): the
# tailers' budget of files is a share of what the limit leaves past it (tail.descriptors.fd_budget).
_kept = AGENT_OWN
_worker_slots: int | None = None  # the parse workers the running config's limit leaves room for (take(); None: not
# taken, as in a test's pipeline: counted past the agent's own)
_workers_granted = 0  # of which started now (grant_workers, give_back_workers)
_workers_lock = threading.Lock()


def kept() -> int:
    return _kept


def take(config: Config) -> None:
    """`config` runs now (started, or reloaded): the budgets of files are shares of what the limit leaves past it, after
    the parse workers it may run."""
    global _kept, _worker_slots
    fixed = AGENT_OWN + _outputs_and_endpoint(config) + sum(_by_source(config))
    slots = _slots_past(fixed)
    with _workers_lock:
        _worker_slots = slots
    counted = min(_workers_wanted(config), slots)
    _kept = fixed + (WORKERS_SHARED + PER_WORKER * counted if counted else 0)


def _slots_past(fixed: int) -> int:
    """The parse workers a quarter of what the limit leaves past `fixed` descriptors (past 64 at least) has room for."""
    room = max(0, (soft_limit() - max(64, fixed)) // WORKERS_SHARE)
    return max(0, room - WORKERS_SHARED) // PER_WORKER


def _workers_wanted(config: Config) -> int:
    """The parse workers `config`'s sources may run at once: those asked for (`parse_workers: N`), and the auto pools
    the host's CPUs allow (shipper.parse_auto) while sources catch up."""
    from shipper import parse_auto

    asked = sum(s.parse_workers for s in config.sources if isinstance(s.parse_workers, int))
    auto = sum(1 for s in config.sources if s.parse_workers == "auto")
    return asked + min(auto, parse_auto.usable_cpus() // 2) * parse_auto.WORKERS


def grant_workers(wanted: int) -> int:
    """How many of `wanted` parse workers a pool may start (the room the limit leaves them, less those started):
    give them back with give_back_workers when the pool ends."""
    global _workers_granted
    with _workers_lock:
        slots = _worker_slots if _worker_slots is not None else _slots_past(AGENT_OWN)
        granted = max(0, min(wanted, slots - _workers_granted))
        _workers_granted += granted
    return granted


def give_back_workers(count: int) -> None:
    global _workers_granted
    with _workers_lock:
        _workers_granted = max(0, _workers_granted - count)


def workers_refused(wanted: int, granted: int) -> str:
    """Why a pool got `granted` of the `wanted` workers: the descriptor limit, and what to do."""
    return (f"the descriptor limit {soft_limit()} leaves room for {granted} of the {wanted} parse worker processes "
            f"({PER_WORKER} descriptors each; the workers of all sources get at most a quarter of what the limit leaves "
            "past the sources, outputs and agent: the files come first); raise LimitNOFILE, or set fewer "
            "`parse_workers` (docs/operations.md, File descriptors)")
def _by_source(config: Config) -> list[int]:
    """What each of `config`'s sources keeps open whatever it reads (Source.descriptors_for)."""
    from shipper import registry

    return [registry.load("source", s.type).descriptors_for(s, config.base_dir) for s in config.sources]


def _outputs_and_endpoint(config: Config) -> int:
    """What `config`'s outputs keep open (Output.descriptors_for), and the HTTP endpoint (its listening socket and its
    connections) when it has one."""
    from shipper import registry

    outputs = sum(registry.load("output", o.type).descriptors_for(o) for o in config.outputs)
    return outputs + (1 + endpoint_connections(MAX_CONNECTIONS) if config.settings.http is not None else 0)


def too_few_for(config: Config) -> str | None:
    """Why the soft descriptor limit cannot run `config`'s sources (each keeps what its class's `descriptors_for`
    says open whatever it reads), or None. Beyond it sources died making their watchers (EMFILE) and the main loop
    after them: refused instead, saying what to raise."""
    by_source = _by_source(config)
    need = AGENT_OWN + _outputs_and_endpoint(config) + sum(by_source)
    limit = soft_limit()
    if need <= limit:
        return None
    many = sum(1 for n in by_source if n)
    return (f"the descriptor limit {limit} is too low for {many} sources that keep descriptors open and "
            f"{len(config.outputs)} outputs: they and the agent need at least {need} (raise LimitNOFILE, or the "
            "hard limit: docs/operations.md, File descriptors)")
