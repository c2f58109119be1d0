"""Every `shipper run` starts a checkpoint writer (`python -I -S`, shipper.checkpoint_db). Run by its file's path, its
~800 lines were compiled from source at every start (~47 M instructions of its ~210 M: bench/README.md, session 27);
imported as a module, they are read from their bytecode."""
from __future__ import annotations

import compileall
import os
import shutil
import subprocess
from multiprocessing import Pipe
from pathlib import Path

from shipper import checkpoint, checkpoint_db

MARK = "open('m', 'w')\n"  # (what the altered source does when it is run: a file `m` in the writer's cwd)


def _copy_with_altered_source(tmp_path: Path) -> Path:
    """A copy of the package with its bytecode, whose checkpoint_db.py was then altered to make a file when its
    source is run, keeping its size and mtime: bytecode checked by mtime and size still takes it for its source."""
    package = tmp_path / "pkg" / "shipper"
    shutil.copytree(Path(checkpoint_db.__file__).parent, package, ignore=shutil.ignore_patterns("__pycache__"))
    assert compileall.compile_dir(str(package), quiet=1)
    source = package / "checkpoint_db.py"
    text, st = source.read_text(), source.stat()
    future = "from __future__ import annotations\n"
    assert text.startswith('"""The checkpoint database') and text.index("\n") > len(MARK) + 3 and future in text
    text = '"""' + text[3 + len(MARK):]  # the mark's length taken from the docstring's first line
    source.write_text(text.replace(future, future + MARK, 1))
    os.utime(source, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert source.stat().st_size == st.st_size
    return source


def _start_writer_of(source: Path, cwd: Path, monkeypatch) -> int:
    """The writer as the agent starts it (prestarted: it ends when our end of its socket closes), of this copy."""
    monkeypatch.setattr(checkpoint_db, "__file__", str(source))
    ours, theirs = Pipe()
    proc = subprocess.Popen(checkpoint._writer_command(theirs.fileno(), checkpoint_db.PRESTARTED, str(os.getpid())),
                            pass_fds=[theirs.fileno()], cwd=cwd, stderr=subprocess.PIPE)
    theirs.close()
    ours.close()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    return proc.returncode


def test_the_checkpoint_writer_runs_from_bytecode_not_its_source(tmp_path, monkeypatch):
    source = _copy_with_altered_source(tmp_path)
    _start_writer_of(source, tmp_path, monkeypatch)
    assert not (tmp_path / "m").exists(), "the writer compiled and ran checkpoint_db.py's source"
    # (what is looked for is what the copy's altered source does when run: its bytecode made stale, it runs)
    os.utime(source, ns=(source.stat().st_atime_ns, source.stat().st_mtime_ns + 2_000_000_000))
    _start_writer_of(source, tmp_path, monkeypatch)
    assert (tmp_path / "m").exists()
