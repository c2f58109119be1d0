"""The journal once stderr broke and no syslog socket takes it (journal_syslog.KernelLogOnly): its warnings and errors
go to the kernel's log, at most KMSG_LINES every KMSG_WINDOW seconds, those beyond counted and the count said before
the next line said; a line naming a loss is always said; other lines go nowhere."""
from __future__ import annotations

from shipper import journal_syslog
from shipper.journal_syslog import KMSG_LINES, KernelLogOnly


def test_warnings_go_to_the_kernels_log_a_few_at_a_time_and_every_loss(tmp_path, monkeypatch):
    kmsg = tmp_path / "kmsg"
    kmsg.touch()
    monkeypatch.setattr(journal_syslog, "KMSG", str(kmsg))  # a file standing in for /dev/kmsg (as own_kmsg's mount)
    journal = KernelLogOnly()
    journal.write("<6>level=info msg=started\n")
    journal.write("".join(f"<4>level=warning msg=\"warning {i}\"\n" for i in range(30)))
    journal.write("<4>level=warning msg=\"data lost: 12 bytes of a.log\"\n<3>level=error msg=partial")
    journal.write(" line\n")
    said = kmsg.read_text().splitlines()
    assert [line.split("msg=", 1)[1] for line in said[:KMSG_LINES]] == [f'"warning {i}"' for i in range(KMSG_LINES)]
    assert "22 warnings or errors of its journal were not said here" in said[KMSG_LINES]
    assert said[KMSG_LINES + 1].endswith('msg="data lost: 12 bytes of a.log"')
    assert len(said) == KMSG_LINES + 2, said[KMSG_LINES:]  # the error after the loss: beyond the window, counted
    assert not any("started" in line for line in said)
