"""A logfmt reader for the lines Posit Connect writes with `AuditLogFormat = TEXT`.

Posit Connect is written in Go and logs through logrus' TextFormatter: `key=value` pairs separated
by spaces, in any order; a value holding anything but `[A-Za-z0-9-._/@^+]` is written quoted with
Go's `%q` (strconv.Quote), whose escapes are `\\a \\b \\f \\n \\r \\t \\v \\\\ \\" \\xNN \\uNNNN
\\UNNNNNNNN` and octal `\\NNN`.

Hand-written on purpose: of the logfmt readers on PyPI, `logfmt` (0.4) has not been released since
2018 and does not decode Go's escapes (`\\t`, `\\u00e9`, `\\x1b` come out as written), and `logfmtkv`
is months old with no track record; the whole reader is the few lines below. Quoted values are
decoded by orjson when their escapes are the JSON subset (nearly always), by `_go_unquote` else.
"""
from __future__ import annotations

import re

import orjson

# Fast path: two compiled scans per line (C speed) for well-formed lines: one checks the whole line is
# pairs, one takes them out. Anything else (a bare key, a stray or unterminated quote, white space other than
# ' ' and tab outside quotes) goes to the careful scanner below, which reports it. At each position at most one
# pair can match (keys stop at '=', a value at its closing quote or at a space), so the pairs found are
# the careful scanner's (a property test compares the two). The quoted part is written "unrolled" ([^"\\]*(?:\\.[^"\\]*)*): ~3x faster in
# `re` than an alternation per character.
_PAIR_RE = r'[ \t]*([^\s="]+)=(?:"([^"\\]*(?:\\.[^"\\]*)*)"|([^\s"]*))(?=[ \t]|\Z)'
_PAIR = re.compile(_PAIR_RE)
_LINE = re.compile(f"(?:{_PAIR_RE})*[ \t]*")

_SPACE = " \t"
_SIMPLE = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
           "\\": "\\", '"': '"', "'": "'", "/": "/"}
_HEX_LEN = {"x": 2, "u": 4, "U": 8}


def parse_logfmt(line: str) -> tuple[dict[str, object], list[str]]:
    """Pairs of one line, and the problems met (empty when the line is well-formed logfmt).

    A key repeated with another value keeps every value, as a list, in order. A key without `=`
    gets the empty string. Never raises.
    """
    out = _parse_split(line)
    if out is not None:
        return out, []
    if _LINE.fullmatch(line) is not None:
        return _pairs(_PAIR.findall(line)), []
    return _parse_careful(line)


def _parse_split(line: str) -> dict[str, object] | None:
    """The pairs of a well-formed line by str.split (~4x cheaper than the scans), or None when the line
    is not one for this way: a doubled backslash (then `\\"` may close a value), a NUL byte, or anything
    the careful reader would report. Quotes split the line into outside parts and quoted bodies (an
    escaped quote hidden as NUL meanwhile); outside parts split at spaces and tabs only, as the careful
    reader does, into `key=value` tokens, the last one `key=` before a quoted body."""
    if "\\" in line:
        if "\\\\" in line or "\x00" in line:
            return None
        line = line.replace('\\"', "\x00")
    elif "\x00" in line:
        return None
    parts = line.split('"')
    last = len(parts) - 1
    if last & 1:
        return None  # an unpaired quote
    pairs: list[tuple[str, str]] = []
    append = pairs.append
    for i in range(0, last + 1, 2):
        seg = parts[i]
        if i and seg and seg[0] not in " \t":
            return None  # no space after a quoted value
        if "\x00" in seg:
            return None  # an escaped quote outside quotes
        toks = seg.replace("\t", " ").split(" ") if "\t" in seg else seg.split(" ")
        if i < last:
            key = toks.pop()
            if len(key) < 2 or key.find("=") != len(key) - 1:
                return None  # not `key=` right before the quote
        for t in toks:
            if t:
                k, eq, v = t.partition("=")
                if not k or not eq:
                    return None  # a bare key, or a value without a key
                append((k, v))
        if i < last:
            body = parts[i + 1]
            if "\x00" in body:
                body = body.replace("\x00", '\\"')
            if "\\" in body:
                body = _unquote('"' + body + '"')
            append((key[:-1], body))
    out: dict[str, object] = dict(pairs)
    if len(out) != len(pairs):  # a key repeated: every distinct value kept
        out = {}
        for k, v in pairs:
            _put(out, k, v)
    return out


def _parse_careful(line: str) -> tuple[dict[str, object], list[str]]:
    """parse_logfmt character by character: for any line (the fast path's answer on the lines it takes)."""
    out: dict[str, object] = {}
    problems: list[str] = []
    i, n = 0, len(line)
    while i < n:
        c = line[i]
        if c in _SPACE:
            i += 1
            continue
        # key: up to '=' or whitespace
        j = i
        while j < n and line[j] not in "= \t":
            j += 1
        key = line[i:j]
        if j >= n or line[j] != "=":
            _put(out, key, "")
            if key.startswith('"'):
                problems.append(f"unexpected quote at column {i + 1}")
            i = j
            continue
        j += 1  # past '='
        if j < n and line[j] == '"':
            end = _closing_quote(line, j + 1)
            if end < 0:
                problems.append(f"unterminated quoted value for key {key!r}")
                value = _unquote(line[j:] + '"')
                i = n
            else:
                value = _unquote(line[j : end + 1])
                i = end + 1
                if i < n and line[i] not in _SPACE:
                    problems.append(f"no space after the quoted value of key {key!r}")
        else:
            end = j
            while end < n and line[end] not in _SPACE:
                end += 1
            value = line[j:end]
            i = end
        if not key:
            problems.append(f"value without a key at column {j}")
        _put(out, key, value)
    return out, problems


def _pairs(found: list[tuple[str, str, str]]) -> dict[str, object]:
    """The pairs of a line _LINE accepted, from _PAIR.findall: (key, quoted body, bare value)."""
    out: dict[str, object] = {}
    for key, quoted, value in found:
        if quoted:  # else bare, or "" (an empty quoted value is the empty bare one)
            value = _unquote('"' + quoted + '"') if "\\" in quoted else quoted
        if key in out:
            _put(out, key, value)
        else:
            out[key] = value
    return out


def _put(out: dict, key: str, value: str) -> None:
    if key not in out:
        out[key] = value
        return
    cur = out[key]
    if isinstance(cur, list):
        if value not in cur:
            cur.append(value)
    elif cur != value:
        out[key] = [cur, value]


def _closing_quote(s: str, start: int) -> int:
    """Index of the quote closing a string opened before `start`, or -1."""
    find = s.find
    i = find('"', start)
    while i >= 0:
        k = i - 1
        while k >= start and s[k] == "\\":
            k -= 1
        if (i - 1 - k) % 2 == 0:  # an even number of backslashes: the quote is not escaped
            return i
        i = find('"', i + 1)
    return -1


def _unquote(quoted: str) -> str:
    """The text of a Go-quoted string, quotes included in `quoted`."""
    if "\\" not in quoted:
        return quoted[1:-1]
    try:
        v = orjson.loads(quoted)
        if isinstance(v, str):
            return v
    except orjson.JSONDecodeError:
        pass
    return _go_unquote(quoted[1:-1])


def _go_unquote(body: str) -> str:
    """Go strconv escapes; an invalid escape is kept as written (nothing the vendor wrote is lost)."""
    out: list[str] = []
    raw = bytearray()  # \xNN and octal escapes are bytes of UTF-8 sequences

    def flush() -> None:
        if raw:
            out.append(raw.decode("utf-8", errors="replace"))
            raw.clear()

    i, n = 0, len(body)
    while i < n:
        c = body[i]
        if c != "\\" or i + 1 >= n:
            flush()
            out.append(c)
            i += 1
            continue
        e = body[i + 1]
        if e in _SIMPLE:
            flush()
            out.append(_SIMPLE[e])
            i += 2
        elif e in _HEX_LEN:
            width = _HEX_LEN[e]
            digits = body[i + 2 : i + 2 + width]
            try:
                if len(digits) != width:
                    raise ValueError
                code = int(digits, 16)
                if 0xD800 <= code <= 0xDFFF:
                    raise ValueError  # a lone surrogate is no character (Go refuses it too)
                if e == "x":
                    raw.append(code)
                else:
                    flush()
                    out.append(chr(code))
                i += 2 + width
            except ValueError:
                flush()
                out.append(body[i : i + 2])
                i += 2
        elif e in "01234567":
            digits = body[i + 1 : i + 4]
            try:
                if len(digits) != 3:
                    raise ValueError
                code = int(digits, 8)
                if code > 255:
                    raise ValueError
                raw.append(code)
                i += 4
            except ValueError:
                flush()
                out.append(body[i : i + 2])
                i += 2
        else:
            flush()
            out.append(body[i : i + 2])
            i += 2
    flush()
    return "".join(out)
