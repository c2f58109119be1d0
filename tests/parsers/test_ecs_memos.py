"""The memos of shipper.ecs keep short texts only: a hostile log of long unique values (an "ip" or a
"timestamp" of megabytes, each line another) must not pile up in memory."""
from __future__ import annotations

import gc
import tracemalloc
from datetime import timezone

from hypothesis import example, given, strategies as st

from shipper.ecs import LocalTimeParser, clean_ip


def _kept_after(call, n: int = 300, size: int = 100_000) -> int:
    """Bytes still allocated after `call` saw n distinct texts of `size` characters."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(n):
            call(f"{i:08d}" + "x" * size)
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_clean_ip_keeps_no_long_text():
    assert clean_ip("10.0.0.1:443") == "10.0.0.1" and clean_ip(" [::1]:80 ") == "::1"
    assert _kept_after(clean_ip) < 1_000_000  # 300 texts of 100 kB: 30 MB if they were kept


def test_local_time_parser_keeps_no_long_text():
    parse = LocalTimeParser(timezone.utc)
    assert parse("2026-01-02 03:04:05") == "2026-01-02T03:04:05.000Z"
    assert _kept_after(parse) < 1_000_000


def _clean_ip_by_ipaddress(value: str):
    """What clean_ip said before its IPv4 fast path (the general path alone)."""
    import ipaddress
    s = value.strip()
    if not s:
        return None
    import re
    m = re.match(r"^(?P<ip>\d{1,3}(?:\.\d{1,3}){3}):\d+$", s, re.ASCII)
    if m:
        s = m.group("ip")
    elif s.startswith("[") and "]" in s:
        s = s[1: s.index("]")]
    try:
        ip = ipaddress.ip_address(s)
    except ValueError:
        return None
    if ip.version == 6 and ip.scope_id is not None:
        return str(ipaddress.IPv6Address(s.partition("%")[0]))
    return str(ip)


_octet = st.one_of(st.integers(0, 255).map(str), st.integers(0, 999).map(lambda n: f"{n:03d}"),
                   st.sampled_from(["", "0x1", "1e1", "٣", " 1", "-1", "256"]))


_SUFFIXES = ["", ":80", ":", ":08", ":٣", ":80:90", ":80\n", " ", "\x00", "/32"]  # ports and what is none


@given(st.one_of(
    st.tuples(_octet, _octet, _octet, _octet).map(".".join),
    st.tuples(st.tuples(_octet, _octet, _octet, _octet).map(".".join), st.sampled_from(_SUFFIXES)).map("".join),
    st.ip_addresses().map(str),
    st.text(max_size=20),
))
# The forms the C library's inet_pton alone must refuse for its fast path to say what ipaddress says (leading
# zeros, short and long forms, a trailing dot, spaces, signs, other scripts' digits): every run, not only when drawn.
@example("010.1.1.1")
@example("1.2.3.04")
@example("0.0.0.00:80")
@example("1.2.3")
@example("1.2.3.4.5")
@example("1.2.3.4.")
@example("1..2.3")
@example("1.2.3.4 ")
@example("+1.2.3.4")
@example("1.2.3.٣")
@example("255.255.255.255")
@example("0.0.0.0:08")
def test_clean_ip_says_what_ipaddress_says(text):
    """The inet_pton fast path changes no answer: every text gets what the ipaddress path alone gives, asked
    once or again (the memo's answer, for what the fast path does not read)."""
    expected = _clean_ip_by_ipaddress(text)
    assert clean_ip(text) == expected
    assert clean_ip(text) == expected
