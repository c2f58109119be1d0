"""Raising the soft descriptor limit to the hard one at start.

The soft limit is what a process is given, the hard one what it may take: systemd's default is
1024 soft, 524288 hard, and the file sources together keep half of the soft limit open (tail.descriptors.fd_budget), so
thousands of followed files are closed and reopened by identity. Fluentd, Vector and Filebeat's
units do the same (raise it, or set LimitNOFILE). No library does this; it is one setrlimit call.
"""
from __future__ import annotations

import logging
import resource

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
