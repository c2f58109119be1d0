"""Reading a followed file by position: plain files with pread (no shared seek pointer), compressed
backups through gzip (offsets are positions in the decompressed data)."""
from __future__ import annotations

import errno
import gzip
import os
import stat
import struct
import zlib

from shipper.tail.identity import HEAD_MAX

COMPLETE_CHECK_MAX = 64 * 1024  # compressed bytes decompressed whole to see a gzip stream end


def is_gzip_path(path: str) -> bool:
    return path.endswith(".gz")


def gzip_length(fd: int) -> int | None:
    """What the gzip file open as `fd` holds, by its trailer (ISIZE: the length of its last member, modulo 4 GiB, so
    at least that much of it where it is complete); None when it is no gzip file."""
    try:
        size = os.fstat(fd).st_size
        if size < 18 or os.pread(fd, 2, 0) != b"\x1f\x8b":
            return None
        return int(struct.unpack("<I", os.pread(fd, 4, size - 4))[0])
    except OSError:
        return None


class OpenFile:
    """One open descriptor. Holding it keeps a renamed or deleted file readable to its end."""

    def __init__(self, path: str, gz: bool = False, held_fd: int | None = None):
        # A held descriptor (tail.holder) is reopened through /proc: the file may have no name any
        # more, and a new open file description shares no seek position with the holder's.
        # O_NONBLOCK: a FIFO (or device) put where a log was must not block the source in open();
        # it is no log file, and is answered like a file that is not there.
        try:
            self.fd = os.open(path if held_fd is None else f"/proc/self/fd/{held_fd}",
                              os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        except PermissionError:
            # Made unreadable since the holder opened it (a chmod, a writer tightening the mode): an open through
            # /proc checks the mode again, the held descriptor does not. A plain file is read with pread, so
            # sharing the holder's position does no harm (a .gz seeks: not so).
            if held_fd is None or gz:
                raise
            self.fd = os.dup(held_fd)
        st = os.fstat(self.fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(self.fd)
            raise FileNotFoundError(errno.ENOENT, "not a regular file", path)
        self.gz = gz
        self.cut = False  # the last read met the end of a gzip stream cut before its end marker
        self._gz: gzip.GzipFile | None = None
        if gz:
            self._gz = gzip.GzipFile(fileobj=os.fdopen(os.dup(self.fd), "rb"), mode="rb")
        self.dev, self.ino = st.st_dev, st.st_ino

    def read(self, offset: int, n: int) -> bytes:
        """Up to n bytes at offset; b"" at the end. A gzip file still being written (or cut)
        reads as ending where its complete data ends."""
        if self._gz is None:
            return os.pread(self.fd, n, offset)
        self.cut = False
        got: list[bytes] = []
        want = n
        try:
            if self._gz.tell() != offset:
                self._gz.seek(offset)
            # read1 decompresses what one read of the file gives: the bytes before a cut are
            # returned, where read(n) would lose them all to the EOFError at the cut.
            while want > 0:
                chunk = self._gz.read1(want)
                if not chunk:
                    break
                got.append(chunk)
                want -= len(chunk)
        except (EOFError, OSError, zlib.error):
            self.cut = True  # its stream ends early (still being written, or cut short)
            self._reopen_gz()
        return b"".join(got)

    def _reopen_gz(self) -> None:
        if self._gz is not None:
            self._gz.close()
        os.lseek(self.fd, 0, os.SEEK_SET)
        self._gz = gzip.GzipFile(fileobj=os.fdopen(os.dup(self.fd), "rb"), mode="rb")

    def data_after(self, offset: int) -> int | None:
        """Where the file's data starts again at or after `offset` (a plain file's end when only a
        hole follows), as the kernel knows it (lseek SEEK_DATA): a hole of any length is passed
        over without reading its zeros. None: not known (a gzip file, a filesystem without it)."""
        if self._gz is not None:
            return None
        try:
            return os.lseek(self.fd, offset, os.SEEK_DATA)
        except OSError as e:
            if e.errno == errno.ENXIO:  # no data after offset: a hole to the end
                return max(offset, os.fstat(self.fd).st_size)
            return None

    def head(self) -> bytes:
        return self.read(0, HEAD_MAX)

    def stat(self) -> os.stat_result:
        return os.fstat(self.fd)

    def size(self) -> int:
        """Readable size: the file's size, or a gzip file's decompressed size (its ISIZE trailer)."""
        st = os.fstat(self.fd)
        if self._gz is None:
            return st.st_size
        if st.st_size < 18:
            return 0
        return struct.unpack("<I", os.pread(self.fd, 4, st.st_size - 4))[0]

    def complete(self) -> bool:
        """Is the file whole: a plain file always; a gzip file once its stream ends (gzip or
        logrotate has finished writing it). Decompresses up to COMPLETE_CHECK_MAX bytes of it; a
        larger one is whole when its last decompressed byte can be read."""
        if self._gz is None:
            return True
        st = os.fstat(self.fd)
        if st.st_size > COMPLETE_CHECK_MAX:
            n = self.size()
            return bool(n) and len(self.read(n - 1, 2)) == 1
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            d.decompress(os.pread(self.fd, st.st_size, 0))
        except zlib.error:
            return False
        return d.eof

    def close(self) -> None:
        if self._gz is not None:
            try:
                self._gz.close()
            except Exception:
                pass
            self._gz = None
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
