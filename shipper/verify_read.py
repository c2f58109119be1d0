"""Reading a shipped trail for `shipper verify`: JSON lines (a stdout capture, Fluentd out_file's
`time<TAB>tag<TAB>record`, an export), split into parts at line ends and read by several processes.

Each part is parsed, checked for repeated keys, and its links proven against the predecessors in
the same part (shipper.verify.Settler); what comes back is only what judges the chain (Seen), with
the canonical form of the few links still open (the first of each chain in a part, or a moved one).
"""
from __future__ import annotations

import codecs
import gc
import json
import multiprocessing
import os
import stat
from collections import defaultdict
from typing import Iterable, Iterator

import orjson

from shipper.integrity import Key
from shipper.verify import Seen, Settler, chain_fields

PART = 8 << 20  # bytes a process reads at once: ~10,000 events
IN_PROCESS = 4 << 20  # a trail smaller than this is read without starting processes

_secrets: dict[str, bytes] = {}


class _RepeatedKey(ValueError):
    pass


def read_links(paths: Iterable[str], keys: list[Key], workers: int = 1
               ) -> tuple[dict[str, list[Seen]], list[str], int]:
    """Chains by id (links in file order), problems of the input itself, and the number of events
    without a chain."""
    secrets = {k.id: k.secret for k in keys}
    chains: dict[str, list[Seen]] = defaultdict(list)
    problems: list[str] = []
    parts = []
    for i, path in enumerate(paths):
        if _device(path):  # /dev/zero, /dev/urandom: never ends, and holds no trail
            problems.append(f"{path}: a device, not a trail: give a file, or a pipe (/dev/stdin)")
            continue
        if _utf16(path):  # named once, not as a "not a JSON event" per line
            problems.append(f"{path}: UTF-16 text (as Windows PowerShell's `>` writes it), not the UTF-8 the "
                            "trail was shipped as: convert it (iconv -f UTF-16 -t UTF-8) and verify again")
            continue
        parts += _parts(i, path)
    unchained = 0
    lines_before: dict[int, int] = defaultdict(int)  # by file (one given twice is read twice)
    enabled = gc.isenabled()
    gc.disable()  # a million kept links would make each full collection walk them all; they hold no cycles
    try:
        # A pipe or other stream (/dev/stdin) is read here: another process would open its own stdin.
        streams = [p for p in parts if p[3] is None]
        files = [p for p in parts if p[3] is not None]
        _init(secrets)
        results = list(_merged((r for part in streams for r in _read_stream(part)), chains, problems, lines_before))
        if workers > 1 and sum(end - start for _, _, start, end in files if end is not None) > IN_PROCESS:
            ctx = multiprocessing.get_context("forkserver")
            with ctx.Pool(min(workers, len(files)), initializer=_init, initargs=(secrets,)) as pool:  # (--workers 10000)
                results += _merged(pool.imap(_read_part, files), chains, problems, lines_before)
        else:
            results += _merged(map(_read_part, files), chains, problems, lines_before)
        unchained = sum(results)
    finally:
        if enabled:
            gc.enable()
    return chains, problems, unchained


def _merged(results, chains: dict[str, list[Seen]], problems: list[str], lines_before: dict[int, int]):
    """Each part's links into their chains, numbered by line in their file; yields each part's
    count of events without a chain."""
    for file, path, lines, part_problems, unchained, links in results:
        offset = lines_before[file]
        for line, what in part_problems:
            problems.append(f"{path}:{offset + line}: {what}")
        for chain, s in links:
            s.line += offset
            chains[chain].append(s)
        lines_before[file] = offset + lines
        yield unchained


def _device(path: str) -> bool:
    """A character or block device (a pipe, a FIFO or a file is read), other than a terminal on stdin
    (a trail pasted or typed into /dev/stdin). Told by its mode alone: opening a device may act (a tape
    rewinds)."""
    st = os.stat(path)
    if not (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)):
        return False
    try:
        return not (os.isatty(0) and os.path.samestat(st, os.fstat(0)))
    except OSError:
        return True


def _utf16(path: str) -> bool:
    """A regular file that begins with a UTF-16 byte order mark (a stream is not peeked at)."""
    if not stat.S_ISREG(os.stat(path).st_mode):
        return False
    with open(path, "rb") as f:
        return f.read(2) in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def _parts(file: int, path: str) -> list[tuple[int, str, int, int | None]]:
    """(file, path, start, end) byte ranges that end at a line end; a pipe or other stream is one part."""
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        return [(file, path, 0, None)]
    parts: list[tuple[int, str, int, int | None]] = []
    start = 0
    with open(path, "rb") as f:
        while start < st.st_size:
            end = st.st_size
            if start + PART < st.st_size:
                f.seek(start + PART)
                f.readline()  # on to the end of the line the cut fell in
                end = min(f.tell(), st.st_size)
            parts.append((file, path, start, end))
            start = end
    return parts or [(file, path, 0, 0)]


def _init(secrets: dict[str, bytes]) -> None:
    global _secrets
    _secrets = secrets
    gc.disable()  # in a reading process too: nothing it makes is cyclic, and it ends with the pool


_Result = tuple[int, str, int, list[tuple[int, str]], int, list[tuple[str, Seen]]]
MAX_LINE = 256 << 20  # bytes of a line read from a stream before it is named and skipped (no event is that long)


def _read_part(part: tuple[int, str, int, int | None]) -> _Result:
    file, path, start, end = part
    with open(path, "rb") as f:
        f.seek(start)
        data = f.read(end - start) if end is not None else f.read()
    return _read_lines(file, path, data, start == 0)


def _read_stream(part: tuple[int, str, int, int | None]) -> Iterator[_Result]:
    """A pipe (zcat trail.gz | shipper verify … /dev/stdin) read a PART at a time, cut at line ends, so
    a day's trail never sits whole in memory; a line longer than MAX_LINE (a stream of zeros) is named
    and skipped to its end."""
    file, path, _, _ = part
    first, carry, skipping = True, b"", 0
    with open(path, "rb") as f:
        while True:
            chunk = f.read(PART)
            if skipping:  # the rest of a line too long: up to its end, as one line
                cut = chunk.find(b"\n")
                if cut < 0 and chunk:
                    continue
                skipping = 0
                chunk = chunk[cut + 1:] if cut >= 0 else b""
            data = carry + chunk
            cut = data.rfind(b"\n") + 1 if chunk else len(data)
            if cut == 0 and len(data) > MAX_LINE:
                yield file, path, 1, [(1, f"a line longer than {MAX_LINE} bytes: not a JSON event")], 0, []
                carry, skipping = b"", 1
                continue
            carry = data[cut:]
            if cut:
                yield _read_lines(file, path, data[:cut], first)
                first = False
            if not chunk:
                return


def _read_lines(file: int, path: str, data: bytes, at_start: bool) -> _Result:
    if at_start and data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]  # an export saved with a byte order mark (RFC 8259 8.1)
    lines = data.split(b"\n")
    del data
    if lines and not lines[-1]:
        lines.pop()
    problems: list[tuple[int, str]] = []
    links: list[tuple[str, Seen]] = []
    settler = Settler(_secrets)
    names: dict[str, str] = {}
    unchained = 0
    for n, line in enumerate(lines, 1):
        try:
            doc = _document(line)
        except _RepeatedKey as e:
            problems.append((n, f"{e}: not the event as sealed"))
            continue
        if doc is None:
            if line.strip():
                problems.append((n, "not a JSON event"))
            continue
        fields = chain_fields(doc)
        if fields is None:
            unchained += 1
            continue
        chain = names.setdefault(fields[0], fields[0])  # one string per chain name, sent once
        links.append((chain, settler.add(doc, (chain, *fields[1:]), path, n)))
    settler.settle_rest()
    return file, path, len(lines), problems, unchained, links


def _document(line: bytes) -> dict | None:
    line = line.strip()
    if not line:
        return None
    for text in (line, line.rsplit(b"\t", 1)[-1]):  # a bare event, or out_file's time, tag, record
        try:
            doc = orjson.loads(text)
        except orjson.JSONDecodeError:
            continue
        if isinstance(doc, dict):
            _no_repeated_keys(text, doc)
            return doc
    return None


def _no_repeated_keys(text: bytes, doc: dict) -> None:
    """Raise _RepeatedKey if an object in `text` names a key twice. Parsers disagree on which copy
    counts (orjson keeps the last, others the first), and RFC 8785 (I-JSON) forbids it, so such a
    line is not the event the agent sealed.

    Cheap proof of none: every key and every string value is one pair of unescaped quotes, in the
    line as in orjson's output of what was parsed from it; a repeated key is parsed into one entry,
    so its line holds more quotes than that output. Equal counts prove no key repeated, whoever
    wrote the line (Fluentd, a store's export); otherwise the exact check with Python's parser."""
    try:
        if _strings(orjson.dumps(doc)) == _strings(text):
            return
    except TypeError:  # nested deeper than orjson writes: the exact check
        pass
    try:
        json.loads(text, object_pairs_hook=_unique_pairs)
    except RecursionError:
        # too deep for Python's parser, so no proof of no repeats: a copy orjson dropped may hide
        # behind the depth. The agent writes at most 255 levels, so such a line is not its own.
        raise _RepeatedKey("nested too deep to prove no key repeated") from None
    except ValueError as e:
        if isinstance(e, _RepeatedKey):
            raise
        return


def _strings(text: bytes) -> int:
    """Unescaped quotes in valid JSON text: a backslash occurs only in a string's escapes, read left
    to right, so after dropping each escaped backslash (`\\\\`) every `\\"` left is an escaped quote."""
    if b"\\" in text:
        text = text.replace(b"\\\\", b"")
        return text.count(b'"') - text.count(b'\\"')
    return text.count(b'"')


def _unique_pairs(pairs: list[tuple[str, object]]) -> dict:
    d = dict(pairs)
    if len(d) != len(pairs):
        raise _RepeatedKey("a key repeated in one object")
    return d
