"""The file source makes every loss visible in its metrics, even one whose size is unknown."""
from __future__ import annotations

import os
import threading

from shipper import metrics
from shipper.plugin import SourceContext
from shipper_plugins.sources.file import FileSource, FileSourceConfig


def run_once(log, state: dict, tmp_path, **options) -> list[bytes]:
    got: list[bytes] = []

    def emit(batch):
        got.extend(batch.records)
        for k, v in batch.checkpoint.items():  # acknowledged at once
            if v is None:
                state.pop(k, None)
            else:
                state[k] = v

    cfg = FileSourceConfig(name="m", type="file", paths=[str(log)], parser="json", **options)
    ctx = SourceContext(name="m", emit=emit, stop=threading.Event(), once=True, state=dict(state),
                        state_dir=str(tmp_path), base_dir=str(tmp_path))
    src = FileSource(cfg, ctx)
    src.run()
    src.close()
    return got


def sample(name: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, {"source": "m"}) or 0.0


def test_truncation_before_a_read_is_counted(tmp_path):
    log = tmp_path / "a.log"
    log.write_bytes(b"one\ntwo\nunfin")
    state: dict = {}
    before_losses, before_bytes = sample("shipper_losses_total"), sample("shipper_bytes_lost_total")
    assert run_once(log, state, tmp_path) == [b"one", b"two"]
    os.truncate(log, 0)  # truncated in place with no copy: the partial line was never readable
    with open(log, "ab") as f:
        f.write(b"three\n")
    assert run_once(log, state, tmp_path) == [b"three"]
    assert sample("shipper_losses_total") == before_losses + 1
    assert sample("shipper_bytes_lost_total") == before_bytes + len(b"unfin")


def test_holes_are_counted_in_a_metric_and_in_status(tmp_path):
    log = tmp_path / "a.log"
    log.write_bytes(b"\0" * 4096 + b'{"a": 1}\n' + b"\0" * 10 + b'{"a": 2}\n')
    before = sample("shipper_hole_bytes_skipped_total")
    got = run_once(log, {}, tmp_path)
    assert got == [b'{"a": 1}', b'{"a": 2}']
    assert sample("shipper_hole_bytes_skipped_total") == before + 4106


def test_cut_lines_are_counted(tmp_path):
    log = tmp_path / "a.log"
    log.write_bytes(b'{"a": "' + b"x" * 200 + b'"}\n{"a": 1}\n')
    before = sample("shipper_lines_truncated_total")
    got = run_once(log, {}, tmp_path, max_line_bytes=64)
    assert got[-1] == b'{"a": 1}' and len(got) == 5  # the 209-byte line shipped in 4 pieces
    assert sample("shipper_lines_truncated_total") == before + 3  # 3 pieces cut at the limit


def test_a_file_read_though_it_could_not_be_told_from_a_copy_is_counted(tmp_path, monkeypatch):
    """A rotated file holding only the first line of the live one (a shared header) cannot be told
    from a copy of it; once the wait is over it is read as new, warned, and counted in
    shipper_files_undecided_read (through the tailer's events, as it happens)."""
    from shipper.tail import scan_rules

    monkeypatch.setattr(scan_rules, "UNDECIDED_SECONDS", 0.0)  # (no wait: read at the first look)
    log = tmp_path / "app.log"
    log.write_bytes(b'{"header": 1}\n{"a": 1}\n')
    state: dict = {}
    assert run_once(log, state, tmp_path) == [b'{"header": 1}', b'{"a": 1}']
    before = sample("shipper_files_undecided_read_total")
    (tmp_path / "app.log.1").write_bytes(b'{"header": 1}\n')
    assert run_once(log, state, tmp_path) == [b'{"header": 1}']  # read: maybe a copy, maybe not
    assert sample("shipper_files_undecided_read_total") == before + 1
