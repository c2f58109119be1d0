"""Raising the soft descriptor limit to the hard one at start.

The soft limit is what a process is given, the hard one what it may take: systemd's default is
1024 soft, 524288 hard, and the file sources together keep half of the soft limit open (tail.descriptors.fd_budget), so
thousands of followed files are closed and reopened by identity. Fluentd, Vector and Filebeat's
units do the same (raise it, or set LimitNOFILE). No library does this; it is one setrlimit call.
"""
from __future__ import annotations

import logging
import resource
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


# What the running config's sources and the agent keep open whatever they read (too_few_for's count of the config
# taken: take()): the tailers' budget of files is a share of what the limit leaves past it (tail.descriptors.fd_budget).
_kept = AGENT_OWN


def kept() -> int:
    return _kept


def take(config: Config) -> None:
    """`config` runs now (started, or reloaded): the budgets of files are shares of what the limit leaves past it."""
    global _kept
    _kept = AGENT_OWN + _outputs_and_endpoint(config) + sum(_by_source(config))


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
