"""Why a file pattern may match less than it should: folders this process may not enter or list, and
matched files it may not read. glob() says nothing about them (an unreadable folder just matches
nothing), so `shipper check` asks here and names each one."""
from __future__ import annotations

import glob
import grp
import os
import pwd
import stat

MAX_FOLDERS = 200  # folders looked at per pattern (a wide ** must not make check crawl the disk)


def _who(path: str) -> str:
    try:
        st = os.stat(path)
    except OSError:
        return ""
    try:
        owner = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        owner = str(st.st_uid)
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    return f" (owner {owner}:{group}, mode {stat.S_IMODE(st.st_mode):04o})"


def _me() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return f"uid {os.geteuid()}"


def access_problems(patterns: list[str], base_dir: str) -> list[str]:
    """One line per folder or file in the way of the patterns, in the order met."""
    out: dict[str, None] = {}
    me = _me()
    for pattern in patterns:
        full = os.path.abspath(os.path.join(base_dir, os.path.expanduser(pattern)))
        parts = full.strip("/").split("/")
        current = ["/"]
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            nxt: list[str] = []
            for d in current[:MAX_FOLDERS]:
                if glob.has_magic(part):
                    if not os.access(d, os.R_OK | os.X_OK):
                        out[f"permission denied: {me} may not list the folder {d}{_who(d)}"] = None
                        continue
                    if part == "**":
                        nxt += _walk_dirs(d, out, me) if not last else []
                        continue
                    for p in glob.glob(os.path.join(glob.escape(d), part)):
                        if (os.path.isfile(p) if last else os.path.isdir(p)):
                            nxt.append(p)
                else:
                    p = os.path.join(d, part)
                    if not os.access(d, os.X_OK):
                        out[f"permission denied: {me} may not enter the folder {d}{_who(d)}"] = None
                        continue
                    if os.path.isfile(p) if last else os.path.isdir(p):
                        nxt.append(p)
            if last:
                for f in nxt:
                    if not os.access(f, os.R_OK):
                        out[f"permission denied: {me} may not read {f}{_who(f)}"] = None
            current = nxt
            if not current:
                break
    return list(out)


def _walk_dirs(top: str, out: dict[str, None], me: str) -> list[str]:
    """top and the folders under it (for `**`), naming those that may not be listed."""
    found = []
    for d, _subdirs, _files in os.walk(top, onerror=lambda e: out.__setitem__(
            f"permission denied: {me} may not list the folder {e.filename}{_who(e.filename)}", None)):
        found.append(d)
        if len(found) >= MAX_FOLDERS:
            break
    return found
