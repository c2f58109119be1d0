"""What an agent imports before it reads a line, and what a parse worker imports: each start pays for it
(bench/README.md, session 15: prometheus-client, the HTTP client and watchdog were ~10 % of a start's
instructions; the follower and its pydantic schema were imported by every parser through shipper.api)."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from shipper import metrics

# What the process imports, as `python -c` in a fresh interpreter (this one imported everything already).
SCRIPT = textwrap.dedent("""
    import json, sys
    {body}
    print(json.dumps(sorted(sys.modules)))
""")


def _modules_after(body: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", SCRIPT.format(body=textwrap.indent(body, "").strip())],
                         capture_output=True, text=True, timeout=120, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def _config(tmp_path: Path) -> Path:
    (tmp_path / "a.log").write_bytes(b"")
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"state_dir: {tmp_path / 'state'}\nsources:\n  - name: a\n    type: file\n"
                   f"    paths: [{tmp_path / 'a.log'}]\n    parser: datameer\noutputs:\n  - type: stdout\n")
    return cfg


def test_an_agent_without_http_imports_no_exposition_no_http_client_no_watchdog(tmp_path):
    """`run` with a file source (plain folders) and stdout: up to its Daemon, no prometheus-client (only for
    /metrics), no HTTP client (only `shipper status` asks a running agent), no watchdog (only for a recursive
    root)."""
    cfg = _config(tmp_path)
    loaded = _modules_after(f"import shipper.cli\nfrom shipper.config import load_config\n"
                            f"c = load_config({str(cfg)!r})\nimport shipper.runner, shipper.state_dir_moved")
    assert "shipper.runner" in loaded and "shipper_plugins.sources.file" in loaded  # (it did import the agent)
    unwanted = {"prometheus_client", "watchdog", "http.client", "urllib.request", "http.server"}
    assert sorted(unwanted & loaded) == []


def test_a_parser_imports_no_follower():
    """A parser imports shipper.api, and a parse worker (and its forkserver) the parser: not the file follower
    (nor the pydantic schema of its states), which only the file source uses."""
    loaded = _modules_after("import shipper.parse_workers, shipper.events, shipper_plugins.parsers.datameer")
    assert "shipper.api" in loaded
    assert sorted(m for m in loaded if m.startswith("shipper.tail.") and m not in ("shipper.tail.keys",
                                                                                   "shipper.tail.lines")) == []
    assert "prometheus_client" not in loaded


def test_the_registry_is_made_once_whoever_asks_first():
    """REGISTRY comes on first use; every later use is that registry, and it exports the families."""
    import threading

    seen = []
    threads = [threading.Thread(target=lambda: seen.append(metrics.REGISTRY)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(r) for r in seen}) == 1 and seen[0] is metrics.REGISTRY
    metrics.events_read.labels("startup-imports").inc(2)
    assert metrics.REGISTRY.get_sample_value("shipper_events_read_total", {"source": "startup-imports"}) == 2
