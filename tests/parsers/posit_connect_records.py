"""Posit Connect audit records, one per documented action, as JSON objects and as the logfmt TEXT logrus
writes: made for the parser's tests (tests/parsers/test_posit_connect.py) and bench/corpus.py, which runs in
the bench's venv (no pytest)."""
from __future__ import annotations

import random
import re


def go_quote(s: str) -> str:
    """Go's strconv.Quote, as logrus writes a value (written from the Go documentation, not our reader)."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch in "\a\b\f\n\r\t\v":
            out.append("\\" + "abfnrtv"["\a\b\f\n\r\t\v".index(ch)])
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        elif not ch.isprintable():
            out.append(f"\\u{o:04x}" if o <= 0xFFFF else f"\\U{o:08x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


BARE = re.compile(r"[A-Za-z0-9\-._/@^+]+")


SYSTEM_ACTOR = {"actor_id": 0, "actor_role": "system", "actor_description": "Scheduled email checker"}
USER_ACTOR = {"actor_id": 4, "actor_guid": "8c1c6df6-16bf-4901-b52c-50de0b1da233", "actor_role": "publisher",
              "actor_description": "Frank Castell (fcastell)"}


def make_record(action: str, fields: list[str], n: int, system: bool, rnd: random.Random) -> dict:
    rec: dict = {"time": f"2022-10-18T20:07:{n % 60:02d}.{n % 1000:03d}Z", "level": "info", "type": "audit",
                 "action": action, "msg": f"Did {action} #{n}: \"quoted\" and\ttabbed", "entry_id": 1000 + n}
    rec.update(SYSTEM_ACTOR if system else USER_ACTOR)
    for f in fields:
        if f in rec or f.startswith("actor_") or f in ("time", "level", "type", "action", "msg", "entry_id"):
            continue
        if f.endswith("_id"):
            rec[f] = rnd.randint(1, 10**6)
        elif f.endswith("_guid"):
            rec[f] = f"{rnd.getrandbits(32):08x}-16bf-4901-b52c-50de0b1da233"
        else:
            rec[f] = rnd.choice([f"{f} value {n}", "publisher", "a b=c \"d\"", "é ünïcode", "x"])
    return rec


def as_text(rec: dict, rnd: random.Random) -> bytes:
    items = list(rec.items())
    rnd.shuffle(items)
    parts = []
    for k, v in items:
        s = str(v)
        parts.append(f"{k}={s}" if BARE.fullmatch(s) else f"{k}={go_quote(s)}")
    return " ".join(parts).encode()
