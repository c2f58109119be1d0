"""stdout's `id_field`: each line carries its event's stable id, the one Elasticsearch would store it
under, so a reader of the agent's stdout can drop a replay's repeats. The real command: the same
record gets the same id whether it was parsed in the source's thread or in parse workers, and again
when it is replayed from scratch; an id_field naming an ECS field is refused (exit 2, file, line, key)."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import orjson

from tests.outputs.test_stdout_faults import SHIPPER, line


def _config(tmp_path: Path, output: str, parse_workers: int = 0) -> Path:
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"""
state_dir: {tmp_path / 'state'}
sources:
  - {{name: dm, type: file, paths: ['{tmp_path / 'useraction.log'}'], parser: datameer, batch_size: 50,
     parse_workers: {parse_workers}}}
outputs:
  - {output}
""")
    return cfg


def _run(cfg: Path) -> list[dict]:
    r = subprocess.run(SHIPPER + ["run", "--once", "-c", str(cfg)], capture_output=True, timeout=180)
    assert r.returncode == 0, r.stderr.decode()
    return [orjson.loads(l) for l in r.stdout.splitlines()]


def test_each_line_carries_its_stable_id_the_same_at_every_replay(tmp_path: Path):
    (tmp_path / "useraction.log").write_bytes(b"".join(line(i) + b"\n" for i in range(300)))
    plain = _run(_config(tmp_path, "{type: stdout}"))
    assert len(plain) == 300 and not any("_shipper_id" in ev for ev in plain)  # off by default: lines as they were
    shutil.rmtree(tmp_path / "state")
    first = _run(_config(tmp_path, "{type: stdout, id_field: _shipper_id}"))
    ids = [ev.pop("_shipper_id") for ev in first]
    assert len(set(ids)) == 300 and all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    assert [ev["user"]["name"] for ev in first] == [f"user{i}" for i in range(300)]
    assert [{k: v for k, v in ev.items() if k != "event"} for ev in first] == \
        [{k: v for k, v in ev.items() if k != "event"} for ev in plain]  # nothing else changed
    shutil.rmtree(tmp_path / "state")  # a replay from scratch, parsed in worker processes this time
    again = _run(_config(tmp_path, "{type: stdout, id_field: _shipper_id}", parse_workers=2))
    assert [ev["_shipper_id"] for ev in again] == ids


def test_an_id_field_naming_an_ecs_field_is_refused(tmp_path: Path):
    (tmp_path / "useraction.log").write_bytes(line(0) + b"\n")
    cfg = _config(tmp_path, "{type: stdout, id_field: event.id}")
    r = subprocess.run(SHIPPER + ["check", "-c", str(cfg)], capture_output=True, timeout=120)
    err = r.stderr.decode() + r.stdout.decode()
    assert r.returncode == 2, err
    assert f"{cfg}:" in err and "id_field" in err and "ECS field" in err, err
