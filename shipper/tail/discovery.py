"""Which files to look at: the configured globs, and every rotated name of each matched file
(beside it, or beside its target when the configured path is a symlink to the log).

Rotated names are recognised by shape, so no config key says which scheme rotates a file:
  Log4j 1.2 / logrotate:  app.log.1 … app.log.N, app.log.2.gz
  logrotate dateext:      app.log-20240102, app.log-20240102.gz
  Log4j 2 patterns:       app.log.3, app-1.log, app-2024-01-02-1.log(.gz), app.log.2024-01-02-1
A name is a rotated sibling of `<stem><ext>` when it starts with the stem and what follows is made
of the extension, an optional `.gz`, and digits with separators.
"""
from __future__ import annotations

import bisect
import errno
import fnmatch
import glob
import logging
import os
import re
import stat
from collections import Counter
from typing import Iterable

from shipper.tail.not_regular import kernel_file, kind_of

log = logging.getLogger("shipper.tail")
_NUMERIC_REST = re.compile(r"[-._]\d[-._\d]*")


def expand(patterns: list[str], exclude: list[str], base_dir: str, others: list[str] | None = None) -> list[str]:
    """Absolute paths of regular files the globs match now, in a stable order. `others`, when given, gets the paths
    matched that are neither regular files nor folders (FIFOs, sockets, devices: not_regular names them)."""
    found: dict[str, None] = {}
    for pattern in patterns:
        full = os.path.join(base_dir, os.path.expanduser(pattern))
        for p in sorted(_recursive_glob(full) if "**" in full else glob.glob(full)):
            p = os.path.abspath(p)
            if p in found or is_excluded(p, exclude):
                continue
            try:
                st = os.stat(p)
            except OSError:
                continue  # (a dangling symlink, gone since the glob)
            if stat.S_ISREG(st.st_mode) and not kernel_file(st):
                if not _utf8_name(p):
                    continue
                found[p] = None
            elif others is not None and not stat.S_ISDIR(st.st_mode):
                others.append(p)
    return list(found)


_named: set[str] = set()


def not_regular(patterns: list[str], exclude: list[str], base_dir: str) -> list[tuple[str, str]]:
    """The matches that are neither regular files nor folders (a FIFO, a socket, a device), each with what it is:
    for `shipper check`, which names them as the running agent does (shipper.tail.not_regular)."""
    others: list[str] = []
    expand(patterns, exclude, base_dir, others)
    found = []
    for path in others:
        try:
            found.append((path, kind_of(os.stat(path))))
        except OSError:
            continue  # (gone since the glob)
    return found


def _recursive_glob(pattern: str) -> list[str]:
    """glob(pattern, recursive=True), but a folder is never entered again below itself. glob
    follows symlinked folders and knows no loops: `ln -s .. sub/up` under a `**` made it walk
    for ever (paths grow until the kernel refuses them, and each loop doubles the walk). As
    `find -L` does, a folder whose (device, inode) is already on the walk's path is a loop:
    named once, and not entered. (A symlink to a folder elsewhere is walked, as glob does.)"""
    full = os.path.abspath(pattern)
    parts = full.split(os.sep)[1:]
    fixed = 0
    while fixed < len(parts) - 1 and not glob.has_magic(parts[fixed]):
        fixed += 1
    root = os.sep + os.sep.join(parts[:fixed])
    key = _folder_key(root)
    if key is None:
        return []
    out: dict[str, None] = {}
    # A stack, not recursion: a tree deeper than Python's recursion limit is no error.
    todo: list[tuple[str, list[str], list[tuple[tuple[int, int], str]]]] = [(root, parts[fixed:], [(key, root)])]
    while todo:
        todo.extend(_match(*todo.pop(), out))
    return list(out)


def _folder_key(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError as e:
        if e.errno == errno.ENAMETOOLONG:
            _name_too_long(path)
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISDIR(st.st_mode) else None


def _match(folder: str, parts: list[str], walk: list[tuple[tuple[int, int], str]],
           out: dict[str, None]) -> list[tuple[str, list[str], list[tuple[tuple[int, int], str]]]]:
    """Adds to `out` the paths in `folder` that the pattern components `parts` match, as glob
    matches them (`*` stays in a folder, no wildcard matches a leading dot, `**` is zero or more
    folders); returns the (folder, parts, walk) still to look at. `walk`: the folders from the
    root to `folder`, with their (device, inode)."""
    more: list[tuple[str, list[str], list[tuple[tuple[int, int], str]]]] = []
    part, rest = parts[0], parts[1:]
    if part == "**":
        if not rest:
            rest = ["*"]  # a trailing `**`: everything below (expand keeps the files)
        more.append((folder, rest, walk))  # zero folders
    if not glob.has_magic(part):
        names = [part] if os.path.lexists(os.path.join(folder, part)) else []
    else:
        try:
            names = sorted(n for n in os.listdir(folder)
                           if (part == "**" or fnmatch.fnmatchcase(n, part))
                           and (not n.startswith(".") or part.startswith(".")))
        except OSError as e:
            if e.errno == errno.ENAMETOOLONG:
                _name_too_long(folder)
            return more
    for n in names:
        path = os.path.join(folder, n)
        if not rest:
            out[path] = None
            continue
        key = _folder_key(path)
        if key is None:
            continue
        again = next((p for k, p in walk if k == key), None)
        if again is not None:
            _name_loop(path, again)
            continue
        more.append((path, [part, *rest] if part == "**" else rest, walk + [(key, path)]))
    return more


def _name_too_long(path: str) -> None:
    """A path the kernel refuses whole (ENAMETOOLONG: longer than PATH_MAX, made by a program that
    works with relative paths): what is below it cannot be opened by its path. Named once."""
    if path not in _named:
        _named.add(path)
        log.warning(f"not followed: the path {path[:60]}…{path[-60:]} ({len(path.encode())} bytes) is too long for "
                    "the kernel (ENAMETOOLONG, PATH_MAX): nothing below it is read; shorten the folder names or point "
                    "`paths` below them")


def _name_loop(path: str, again: str) -> None:
    if path not in _named:
        _named.add(path)
        log.warning(f"not walked: the folder {path} is {again} again (a symlink loop); each folder is read once")


def _utf8_name(path: str) -> bool:
    """A name that is not UTF-8 (anyone who may write in a followed folder can make one) cannot be
    kept in checkpoints or events: it is named once and left alone, and the other files go on."""
    try:
        path.encode("utf-8")
        return True
    except UnicodeEncodeError:
        if path not in _named:
            _named.add(path)
            log.warning(f"not followed: the file name {path.encode('utf-8', 'surrogateescape')!r} is not UTF-8; "
                        "rename it to ship it")
        return False


def could_match(path: str, patterns: list[str], base_dir: str) -> bool:
    """Could a glob match this absolute path? (fnmatch lets `*` cross folders: a wider net than
    glob, which is right for deciding whether a scan is worth it.)"""
    return any(fnmatch.fnmatch(path, os.path.abspath(os.path.join(base_dir, os.path.expanduser(p))))
               for p in patterns)


def glob_matches(path: str, patterns: list[str], exclude: list[str], base_dir: str) -> bool:
    """Would expand() list this absolute path (were it a regular file)? Component by component as
    glob matches (a `*` stays in its folder, a leading dot is matched only by a leading dot); a
    pattern with `**` as fnmatch (wider: a scan decides)."""
    if is_excluded(path, exclude) or not _utf8_name(path):
        return False
    parts = path.split(os.sep)
    for p in patterns:
        full = os.path.abspath(os.path.join(base_dir, os.path.expanduser(p)))
        if "**" in full:
            if fnmatch.fnmatch(path, full):
                return True
            continue
        pparts = full.split(os.sep)
        if len(pparts) == len(parts) and all(
                fnmatch.fnmatchcase(n, q) and (not n.startswith(".") or q.startswith("."))
                for n, q in zip(parts, pparts)):
            return True
    return False


def is_excluded(path: str, exclude: list[str]) -> bool:
    name = os.path.basename(path)
    return any(fnmatch.fnmatch(path, x) or fnmatch.fnmatch(name, x) for x in exclude)


def split_name(name: str) -> tuple[str, str]:
    """('app', '.log') for app.log; ('PT1H', '.json'); ('messages', '') for messages."""
    stem, ext = os.path.splitext(name)
    return (stem, ext) if stem else (name, "")


def is_rotated_name(live_name: str, name: str) -> bool:
    if name == live_name:
        return False
    stem, ext = split_name(live_name)
    if not name.startswith(stem):
        return False
    rest = name[len(stem):]
    if rest.endswith(".gz"):
        rest = rest[:-3]
    if ext:
        # The extension may stay in place (app.log.1) or move behind the counter (app-1.log).
        if rest.startswith(ext):
            rest = rest[len(ext):]
        elif rest.endswith(ext):
            rest = rest[: -len(ext)]
    return bool(_NUMERIC_REST.fullmatch(rest))


def live_names_of(names: dict[str, str]) -> dict[str, str]:
    """Of one folder's families (`names`: file name -> family path), each that is a rotated name of another's
    (is_rotated_name) -> that other family; the shortest live name wins. A rotated name starts with its live
    name's stem, so each live name looks only at the names that do (found by bisection in the sorted names):
    comparing every pair took 10^8 calls for a folder of 10,000 quiet files, minutes of CPU at each change of
    the families, and the agent read none of them in 10 minutes (bench/idle.py, issue 23)."""
    ordered = sorted(names)
    out: dict[str, str] = {}
    for live_name, live in sorted(names.items(), key=lambda x: -len(x[0])):  # (the shortest wins: assigned last)
        stem = split_name(live_name)[0]
        for i in range(bisect.bisect_left(ordered, stem), len(ordered)):
            name = ordered[i]
            if not name.startswith(stem):
                break
            if is_rotated_name(live_name, name):
                out[names[name]] = live
    return out


_SEPARATOR = re.compile(r"(?<=.)[-._]")


def is_rotated_path(live: str, path: str) -> bool:
    """Is `path` a rotated name of the live path `live`, in its folder?"""
    folder, live_name = os.path.split(live)
    return os.path.dirname(path) == folder and is_rotated_name(live_name, os.path.basename(path))


def _uncount(index: dict, key: object, live: str) -> None:
    names = index.get(key)
    if names is None:
        return
    names[live] -= 1
    if names[live] <= 0:
        del names[live]
        if not names:
            del index[key]


class FamilyIndex:
    """The followed families (live names), counted by folder and stem, to tell whether a path is a
    rotated name of one of them. A rotated name is a live name's stem and then a separator, so the
    few stems of the path are looked up instead of testing every family: testing each made the
    first scan of N new files N² tests (10,000 files took minutes before a line was read)."""

    def __init__(self) -> None:
        self._index: dict[tuple[str, str], Counter[str]] = {}
        # The same live names by stem alone, whatever their folder: logrotate `olddir` keeps the
        # live file's name for backups made in another folder.
        self._by_stem: dict[str, Counter[str]] = {}
        # A live path that is a symlink to the log (`current.log -> /srv/app/logs/app.log`): the
        # rotated names are made beside the target, under the target's name (family -> target).
        self._aliases: dict[str, str] = {}

    def add(self, family: str) -> None:
        self._index.setdefault(self._key(family), Counter())[os.path.basename(family)] += 1
        self._by_stem.setdefault(self._key(family)[1], Counter())[os.path.basename(family)] += 1

    def remove(self, family: str) -> None:
        key = self._key(family)
        live = os.path.basename(family)
        _uncount(self._index, key, live)
        _uncount(self._by_stem, key[1], live)

    def __contains__(self, family: object) -> bool:
        """Is this live name a followed family?"""
        return isinstance(family, str) and os.path.basename(family) in self._index.get(self._key(family), ())

    def set_alias(self, family: str, target: str | None) -> None:
        """The live path `family` is a symlink to `target` (None: it is no symlink now)."""
        if target is None:
            self._aliases.pop(family, None)
        else:
            self._aliases[family] = target

    def alias(self, family: str) -> str | None:
        """The file the live path `family` was a symlink to at the last scan (rotation_base), if it is one."""
        return self._aliases.get(family)

    def rotation_base(self, family: str) -> str:
        """Where the family's rotated names are: beside the live path, or beside the file it is a
        symlink to now (logrotate rotates the target where it is, under the target's name). The
        family keeps the configured path (checkpoints, events); only backups are looked for there."""
        target = symlink_target(family)
        self.set_alias(family, target)
        return target or family

    def has_rotated_name(self, path: str) -> bool:
        return bool(self.families_of(path))

    def families_of(self, path: str) -> list[str]:
        """The followed families (live paths) of which `path` is a rotated name, in its folder (or in
        their symlink target's folder). A glob that lists the backups (`paths: [app.log*]`) makes each
        backup a family of its own: this is the live family its content came from."""
        folder, name = os.path.split(path)
        found = [os.path.join(folder, live) for m in _SEPARATOR.finditer(name)
                 for live in self._index.get((folder, name[: m.start()]), ()) if is_rotated_name(live, name)]
        return found + [fam for fam, t in self._aliases.items()
                        if os.path.dirname(t) == folder and is_rotated_name(os.path.basename(t), name) and fam in self]

    def has_rotated_name_anywhere(self, path: str) -> bool:
        """Is the name of `path` a rotated name of a followed live name, in whatever folder (a
        backup kept in a logrotate `olddir`)?"""
        name = os.path.basename(path)
        return self.has_rotated_name(path) or any(
            is_rotated_name(live, name)
            for m in _SEPARATOR.finditer(name) for live in self._by_stem.get(name[: m.start()], ()))

    @staticmethod
    def _key(family: str) -> tuple[str, str]:
        folder, live = os.path.split(family)
        return folder, split_name(live)[0]


def candidates(patterns: list[str], exclude: list[str], base_dir: str, families: FamilyIndex,
               followed: Iterable[str] = (), awaited: Iterable[str] = (),
               others: list[str] | None = None) -> dict[str, tuple[bool, str]]:
    """Every name to look at now: path -> (matched by a glob itself, its family's live path). The
    files the globs match and their rotated names; the rotated names of `followed` families no glob
    matches any more (the live path is gone); and those of `awaited` families (checkpointed
    contents not found yet) whose live file is missing — a restart after the log rotated and
    before the writer made a new live file: their content may be under a rotated name, which must
    be looked at before the content is called gone."""
    live = expand(patterns, exclude, base_dir, others)
    cands: dict[str, tuple[bool, str]] = {p: (True, p) for p in live}
    indexes: dict[str, dict[str, list[str]]] = {}
    for p in live:
        base = families.rotation_base(p)
        folder = os.path.dirname(base)
        if folder not in indexes:
            try:
                indexes[folder] = stem_index(os.listdir(folder))
            except OSError:
                indexes[folder] = {}
        for s in rotated_siblings(base, index=indexes[folder]):
            if not is_excluded(s, exclude):
                cands.setdefault(s, (False, p))
    for fam in followed:
        if fam not in cands:
            for s in rotated_siblings(families.rotation_base(fam)):
                cands.setdefault(s, (False, fam))
    for fam in awaited:
        if fam not in cands and not os.path.exists(fam) and could_match(fam, patterns, base_dir):
            for s in rotated_siblings(families.rotation_base(fam)):
                if not is_excluded(s, exclude):
                    cands.setdefault(s, (False, fam))
    return cands


def symlink_target(path: str) -> str | None:
    """The file a live path that is itself a symlink points at (its real path), else None. A
    symlinked folder above it is no alias: its backups are listed through the link's folder."""
    if not os.path.islink(path):
        return None
    target = os.path.realpath(path)
    return target if os.path.basename(target) != os.path.basename(path) or \
        os.path.realpath(os.path.dirname(path)) != os.path.dirname(target) else None


def stem_index(listing: list[str]) -> dict[str, list[str]]:
    """A folder's names by every prefix that ends before a separator. What follows the stem of a
    rotated name always starts with one (`.ext`, `.1`, `-1`, `_1`), so a live file's rotated
    names are among index[stem]: one lookup per live file, not a test of every name in the folder
    (which made a scan of 200 files in one folder 40,000 tests, see bench/README.md)."""
    index: dict[str, list[str]] = {}
    for n in listing:
        for m in _SEPARATOR.finditer(n):
            index.setdefault(n[: m.start()], []).append(n)
    return index


def rotated_siblings(live: str, listing: list[str] | None = None,
                     index: dict[str, list[str]] | None = None) -> list[str]:
    """Absolute paths of the rotated names of `live` present in its folder (`index`: the folder's
    stem_index, when several live files share it)."""
    folder, name = os.path.split(live)
    if index is None:
        if listing is None:
            try:
                listing = os.listdir(folder)
            except OSError:
                return []
        index = stem_index(listing)
    return [os.path.join(folder, n) for n in index.get(split_name(name)[0], ()) if is_rotated_name(name, n)]


def watch_roots(patterns: list[str], base_dir: str) -> list[tuple[str, bool]]:
    """Folders to watch for changes: the fixed prefix of each glob, recursive when it has `**`
    or a wildcard in a folder part."""
    roots: dict[str, bool] = {}
    for pattern in patterns:
        full = os.path.abspath(os.path.join(base_dir, os.path.expanduser(pattern)))
        parts = full.split(os.sep)
        fixed = []
        for part in parts[:-1]:
            if glob.has_magic(part):
                break
            fixed.append(part)
        root = os.sep.join(fixed) or os.sep
        recursive = len(fixed) < len(parts) - 1
        # Watch the nearest folder that exists: a path missing at start is seen when it appears.
        while not os.path.isdir(root) and root != os.sep:
            root, recursive = os.path.dirname(root), True
        roots[root] = roots.get(root, False) or recursive
        # A watch follows a symlinked folder to its target once: the folder holding the link is
        # watched too, so that swapping the link (a deployment's `current`) is seen at once.
        for link in symlinks_on(root):
            roots.setdefault(os.path.dirname(link), False)
    return sorted(roots.items())


def symlinks_on(path: str) -> list[str]:
    """The symlinks among `path` and its ancestors."""
    out = []
    while path and path != os.sep:
        if os.path.islink(path):
            out.append(path)
        path = os.path.dirname(path)
    return out


def folder_identity(folder: str) -> tuple[int, int] | None:
    """What a folder name points at now (a watch on it stays on the folder it was added to)."""
    try:
        st = os.stat(folder)
    except OSError:
        return None
    return st.st_dev, st.st_ino


class FolderGlobs:
    """The folder parts of a source's globs: where a file they match may appear, and where a folder
    leading there may appear (the holder watches those: a log folder made, replaced or reached through
    a swapped symlink while the reader is held back is watched the moment it appears)."""

    def __init__(self, patterns: list[str], base_dir: str):
        self._parts = [os.path.abspath(os.path.join(base_dir, os.path.expanduser(p))).split(os.sep)[1:-1]
                       for p in patterns]

    def leads(self, folder: str) -> tuple[bool, bool]:
        """(files the globs match may be right in `folder`, a folder below it may lead to such files)."""
        here = deeper = False
        names = [n for n in folder.split(os.sep)[1:] if n]
        for parts in self._parts:
            states = _closure({0}, parts)
            for n in names:
                states = _closure({j for i in states for j in _step(parts, i, n)}, parts)
                if not states:
                    break
            here = here or len(parts) in states
            deeper = deeper or any(i < len(parts) for i in states)
        return here, deeper

    def appear_folders(self, family_folders: Iterable[str]) -> set[str]:
        """The existing folders where a folder the globs reach can appear: the parent of each glob's
        fixed folder (a log folder renamed and made again) and the folders its wildcard folders are
        in, down to a `**` (below it only those on the way to `family_folders`: a `**` over a large
        tree is not watched folder by folder); and the folder of each symlink on the way (swapped)."""
        out: set[str] = set()
        for parts in self._parts:
            magic = next((i for i, p in enumerate(parts) if glob.has_magic(p)), len(parts))
            stars = next((i for i, p in enumerate(parts) if p == "**"), len(parts))
            for j in range(max(0, min(magic, len(parts)) - 1), min(stars + 1, len(parts))):
                prefix = os.sep + os.sep.join(parts[:j])
                out.update(p for p in (glob.glob(prefix) if glob.has_magic(prefix) else [prefix]) if os.path.isdir(p))
            if stars < len(parts):
                top = os.sep + os.sep.join(parts[:stars])
                for f in family_folders:
                    up = os.path.dirname(f)
                    while _at_or_below(up, top) and up not in out:
                        out.add(up)
                        up = os.path.dirname(up)
        for f in list(out):  # (a link below these is in one of them)
            out.update(os.path.dirname(link) for link in symlinks_on(f))
        return out


def _closure(states: set[int], parts: list[str]) -> set[int]:
    """With `**` matching zero folders too."""
    todo, out = list(states), set(states)
    while todo:
        i = todo.pop()
        if i < len(parts) and parts[i] == "**" and i + 1 not in out:
            out.add(i + 1)
            todo.append(i + 1)
    return out


def _step(parts: list[str], i: int, name: str) -> list[int]:
    """The pattern positions after matching the folder `name` at position i (as glob: no wildcard
    matches a leading dot)."""
    if i >= len(parts):
        return []
    p = parts[i]
    if p == "**":
        return [] if name.startswith(".") else [i]
    if fnmatch.fnmatchcase(name, p) and (not name.startswith(".") or p.startswith(".")):
        return [i + 1]
    return []


def _at_or_below(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip(os.sep) + os.sep)
