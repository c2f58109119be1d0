"""The journal on a regular file (shipper/journal_file.py) at the exit: the agent waits until its writer process says
every line is written, within the backlog's exit wait, so systemd's KillMode=mixed — a SIGKILL to what is left of the
unit once the agent has ended — loses none of the stop's last lines; a writer that does not write in that time has its
lines counted in the kernel's log. A real writer process on a real file, held by SIGSTOP (as a frozen filesystem
would, but a SIGSTOP can be undone at a chosen moment)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = r"""
import os, signal, sys, threading, time
from shipper import journal_backlog, journal_file, journal_stderr
kmsg = []
journal_stderr.to_kernel_log = kmsg.append  # (the host's kernel log is never written)
stream = journal_file.file_journal(sys.stderr)
assert isinstance(stream, journal_file.FileJournal), stream
stream.write("level=info msg=first\n")
journal_backlog.EXIT_WAIT = 60.0
stream._drain_at_exit()  # (the writer started and said it wrote the first line)
assert not stream._given, "the writer did not say it wrote the first line in 60 s"
journal_backlog.EXIT_WAIT = float(sys.argv[2])
writer = stream._proc.pid
os.kill(writer, signal.SIGSTOP)
for i in range(50):
    stream.write(f"level=warning msg=line{i}\n")
resume = threading.Timer(float(sys.argv[1]), os.kill, (writer, signal.SIGCONT))
resume.daemon = True
resume.start()
stream._drain_at_exit()
os.kill(writer, signal.SIGKILL)  # what KillMode=mixed does once the agent has ended
print(writer, "|".join(kmsg))
"""


def _run(tmp_path: Path, resume_after: float, exit_wait: float) -> tuple[str, str]:
    journal = tmp_path / "shipper.err"
    with open(journal, "ab") as err:
        done = subprocess.run([sys.executable, "-c", SCRIPT, str(resume_after), str(exit_wait)], stderr=err,
                              capture_output=False, stdout=subprocess.PIPE, text=True, timeout=120, check=True)
    return journal.read_text(), done.stdout


def test_the_exit_waits_until_the_writer_wrote_every_line(tmp_path: Path) -> None:
    text, said = _run(tmp_path, resume_after=0.5, exit_wait=30.0)
    written = [i for i in range(50) if f"msg=line{i}\n" in text]
    assert len(written) == 50, f"{50 - len(written)} of 50 lines lost to the writer's kill; the file: {text!r}"
    assert said.split(" ", 1)[1].strip() == "", said  # nothing said lost


def test_what_the_writer_did_not_write_in_the_exit_wait_is_counted_in_the_kernel_log(tmp_path: Path) -> None:
    _, said = _run(tmp_path, resume_after=60.0, exit_wait=0.5)
    pid, kmsg = said.split(" ", 1)
    assert "standard error's file did not take the journal: 50 lines of it were left unwritten at the exit" in kmsg, kmsg
    assert f"the first 50 of them are with its writer process (pid {pid})" in kmsg, kmsg
    assert "msg=line49" in kmsg, kmsg  # the last warnings among them
