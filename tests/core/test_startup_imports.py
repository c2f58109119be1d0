"""What an agent imports before it reads a line, and what a parse worker imports: each start pays for it
(bench/README.md, session 15: prometheus-client, the HTTP client and watchdog were ~10 % of a start's
instructions; the follower and its pydantic schema were imported by every parser through shipper.api)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from shipper import metrics, registry
from tests.core.test_integrity import KEY
from tests.support import wait_until

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


@pytest.mark.parametrize("parser", registry.names("parser"))
def test_a_parse_worker_imports_no_config_model(parser):
    """What the forkserver preloads for a pool (shipper.parse_workers and the parser's module): not pydantic, the
    config models or the config loader. They were ~60 % of the workers' start (bench/README.md, session 18): a
    worker rebuilt its source's SourceConfig, and every parser imported them through shipper.api."""
    module = registry._entry_points("parser")[parser].module
    loaded = _modules_after(f"import shipper.parse_workers, {module}")
    assert module in loaded
    assert sorted(m for m in loaded if m.split(".")[0] in ("pydantic", "pydantic_core") or m in (
        "shipper.config_base", "shipper.config", "shipper.plugin", "shipper.registry")) == []



@pytest.mark.parametrize("parser", registry.names("parser"))
def test_a_parse_worker_imports_no_yaml(parser):
    """Nor yaml: a parser checks its catalogue against ECS's categories at its import, and reading them from a
    YAML file imported yaml into the forkserver, which reads no config: 77 M instructions of its 340 M
    (bench/README.md, session 27). They are a module now (shipper.ecs_categories)."""
    module = registry._entry_points("parser")[parser].module
    loaded = _modules_after(f"import shipper.parse_workers, {module}")
    assert module in loaded
    assert sorted(m for m in loaded if m.split(".")[0] in ("yaml", "_yaml")) == []

def _maps(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/maps") as f:
            return f.read()
    except OSError:
        return ""


def _workers(agent: int) -> list[int]:
    """The agent's parse workers (they name themselves shipper-parse), children of its forkserver."""
    found = []
    for d in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{d}/comm") as f:
                named = f.read().strip() == "shipper-parse"
            with open(f"/proc/{d}/stat") as f:
                forkserver = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{forkserver}/stat") as f:
                agent_is_its_parent = int(f.read().rsplit(")", 1)[1].split()[1]) == agent
        except (OSError, ValueError, IndexError):
            continue
        if named and agent_is_its_parent:
            found.append(int(d))
    return found


def _parsing_with_two_workers(tmp_path: Path) -> tuple[Path, str]:
    """500 Datameer lines and a config parsing them with two parse workers (batches of 100) to stdout: (the config,
    the `shipper` console script)."""
    log = tmp_path / "a.log"
    log.write_bytes(b'{"timestamp": "2026-01-01 00:00:00", "actionType": "AUTHENTICATION", "action": "LOGIN"}\n' * 500)
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"state_dir: {tmp_path / 'state'}\nsources:\n  - name: a\n    type: file\n    paths: [{log}]\n"
                   f"    parser: datameer\n    batch_size: 100\n    parse_workers: 2\noutputs:\n  - type: stdout\n")
    return cfg, os.path.join(os.path.dirname(sys.executable), "shipper")


def test_the_running_parse_workers_hold_no_pydantic(tmp_path):
    """The real agent's workers, parsing: pydantic's compiled core is not mapped in them (nor in their
    forkserver), while the agent itself has it (its config)."""
    cfg, shipper = _parsing_with_two_workers(tmp_path)
    with open(tmp_path / "out", "wb") as out, open(tmp_path / "err", "wb") as err:
        agent = subprocess.Popen([shipper, "run", "-c", str(cfg)], stdout=out, stderr=err)
    try:
        wait_until(lambda: len(_workers(agent.pid)) == 2, 120, "two parse workers")
        wait_until(lambda: (tmp_path / "out").read_bytes().count(b"\n") == 500, 120, "the 500 events")
        workers = _workers(agent.pid)
        with open(f"/proc/{workers[0]}/stat") as f:
            forkserver = int(f.read().rsplit(")", 1)[1].split()[1])
        assert "_pydantic_core" in _maps(agent.pid)  # (what is looked for is what the agent loads)
        assert [pid for pid in (forkserver, *workers) if "_pydantic_core" in _maps(pid)] == []
    finally:
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(60) == 0, (tmp_path / "err").read_text()


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


def test_a_start_scans_the_installed_distributions_for_plugins_once(tmp_path):
    """`run` asks for sources, parsers, outputs and setup commands: one read of each distribution's entry points
    for all of them (each importlib.metadata.entry_points(group=...) read every distribution's metadata again:
    ~2 ms a scan here)."""
    cfg = _config(tmp_path)
    script = textwrap.dedent(f"""
        import collections, json, sys
        reads = collections.Counter()
        def heard(event, args):
            if event == "open" and str(args[0]).endswith("entry_points.txt"):
                reads[str(args[0])] += 1
        sys.addaudithook(heard)
        import shipper.cli
        from shipper import registry
        from shipper.config import load_config
        load_config({str(cfg)!r})
        registry.names("setup")
        print(json.dumps(reads))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    reads = json.loads(out.stdout.strip().splitlines()[-1])
    # (what is counted is where the plugins are found: shipper's dist-info, or its egg-info in a checkout)
    assert any(os.path.basename(os.path.dirname(path)).startswith(("shipper-", "shipper.")) for path in reads)
    assert {path: n for path, n in reads.items() if n > 1} == {}


def test_a_config_read_runs_no_pydantic_plugin(tmp_path):
    """A pydantic plugin installed on the host (entry point group `pydantic`) would see every config validated,
    its secrets included, and finding one costs a scan of every distribution at the first model built: the
    agent's config models run none (PYDANTIC_DISABLE_PLUGINS, unless the operator set it)."""
    site = tmp_path / "site"
    (site / "spy_plugin-1.0.dist-info").mkdir(parents=True)
    (site / "spy_plugin-1.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: spy-plugin\nVersion: 1.0\n")
    (site / "spy_plugin-1.0.dist-info" / "entry_points.txt").write_text("[pydantic]\nspy = spy_plugin:plugin\n")
    (site / "spy_plugin.py").write_text(f"open({str(tmp_path / 'seen')!r}, 'a').write('loaded\\n')\n"
                                        "class _Spy:\n    def new_schema_validator(self, *a, **k):\n"
                                        "        return None, None, None\nplugin = _Spy()\n")
    cfg = _config(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    env["PYTHONPATH"] = f"{site}:{Path(__file__).resolve().parents[2]}"
    subprocess.run([sys.executable, "-c", f"from shipper.config import load_config; load_config({str(cfg)!r})"],
                   env=env, timeout=120, check=True)
    assert not (tmp_path / "seen").exists()
    # (what is looked for is what pydantic loads without the setting)
    subprocess.run([sys.executable, "-c", "import pydantic\nclass M(pydantic.BaseModel):\n    a: int = 0\n"],
                   env=env, timeout=120, check=True)
    assert (tmp_path / "seen").read_text() == "loaded\n"


def test_commands_without_plugins_import_no_distribution_metadata(tmp_path):
    """`shipper setup` (plugins' commands, found in the installed distributions' metadata) is imported only when asked
    for: `--version` and `verify FILES` import neither importlib.metadata nor the registry (~130 M instructions of
    their start: bench/README.md, session 27). Nor, reading no config, the config's parsers: pydantic (~180 M
    instructions with its models' modules) and yaml (~90 M), of a start's ~1,000 M (session 30, cachegrind)."""
    trail = Path(__file__).resolve().parents[1] / "data" / "trails" / "agent-2026-12-04.jsonl"
    key = tmp_path / "k.key"
    key.write_text(KEY)
    key.chmod(0o600)
    for args in (["--version"], ["verify", "--workers", "1", "--key-file", str(key), str(trail)]):
        loaded = _modules_after(f"sys.argv = ['shipper', *{args!r}]\nimport shipper.cli\ntry:\n    shipper.cli.main()\n"
                                "except SystemExit as e:\n    assert e.code == 0, e.code")
        assert "shipper.cli" in loaded
        assert sorted({"importlib.metadata", "shipper.registry", "shipper.setup_commands"} & loaded) == [], args
        assert sorted(m for m in loaded if m.split(".")[0] in ("pydantic", "yaml", "_yaml") or m == "shipper.config") == [], args
    # (what is looked for is what `setup` imports)
    assert "importlib.metadata" in _modules_after("sys.argv = ['shipper', 'setup', '--help']\nimport shipper.cli\n"
                                                  "try:\n    shipper.cli.main()\nexcept SystemExit:\n    pass")


def test_status_and_reset_of_an_elasticsearch_config_import_no_transport(tmp_path):
    """`status` and `reset` read the config, validating its outputs' options: not elastic_transport, whose package
    imports urllib3, requests and asyncio (~325 M instructions, a third of the start: bench/README.md, session 28);
    the Elasticsearch output's own config model checked its hosts with the client's URL parser."""
    (tmp_path / "a.log").write_bytes(b"")
    cfg = tmp_path / "shipper.yaml"
    cfg.write_text(f"state_dir: {tmp_path / 'state'}\nsources:\n  - name: a\n    type: file\n"
                   f"    paths: [{tmp_path / 'a.log'}]\n    parser: datameer\noutputs:\n"
                   "  - {type: elasticsearch, hosts: ['http://127.0.0.1:9200', 'https://es-2.example:9243/prefix']}\n"
                   "  - {type: opensearch, name: os, hosts: ['http://127.0.0.1:9201']}\n")
    transport = {"elastic_transport", "urllib3", "requests", "asyncio"}
    for args in (["status", "-c", str(cfg)], ["reset", "-c", str(cfg), "--source", "a"]):
        loaded = _modules_after(f"sys.argv = ['shipper', *{args!r}]\nimport shipper.cli\ntry:\n    shipper.cli.main()\n"
                                "except SystemExit:\n    pass")
        assert "shipper_plugins.outputs.opensearch" in loaded  # (it did read the outputs' configs)
        assert sorted(transport & loaded) == [], args
    # (what is looked for is what the output loads to send)
    assert transport <= _modules_after(f"from shipper.config import load_config\nfrom shipper import registry\n"
                                       f"from shipper.plugin import OutputContext\nimport threading\n"
                                       f"o = load_config({str(cfg)!r}).outputs[0]\n"
                                       f"registry.load('output', o.type)(o, OutputContext(name='es', "
                                       f"stop=threading.Event(), state_dir={str(tmp_path)!r}))")


def test_the_checkpoint_writer_imports_no_typing():
    """The writer every `run` starts (`python -I -S`, shipper.checkpoint_db, standard library only): not typing, whose
    names it uses in annotations alone (~13 M instructions of its start's ~165 M: bench/README.md, session 28)."""
    from shipper import checkpoint_db

    root = os.path.dirname(os.path.dirname(checkpoint_db.__file__))
    out = subprocess.run([sys.executable, "-I", "-S", "-c", f"import json, sys; sys.path.insert(0, {root!r}); "
                          "import shipper.checkpoint_db; print(json.dumps(sorted(sys.modules)))"],
                         capture_output=True, text=True, timeout=120, check=True)
    loaded = set(json.loads(out.stdout))
    assert "shipper.checkpoint_db" in loaded and "sqlite3" in loaded  # (it did import the writer's module)
    assert "typing" not in loaded


def test_an_agent_imports_the_reload_plan_only_for_a_reload(tmp_path):
    """shipper.reload (what a reload changes, and its dataclasses) is imported by a reload (shipper.runner's SIGHUP),
    not by every start through the pipeline's reload_apply (~10 M instructions: bench/README.md, session 28)."""
    cfg = _config(tmp_path)
    loaded = _modules_after(f"import shipper.cli\nfrom shipper.config import load_config\n"
                            f"c = load_config({str(cfg)!r})\nimport shipper.runner, shipper.state_dir_moved")
    assert "shipper.reload_apply" in loaded  # (it did import the pipeline's reload side)
    assert "shipper.reload" not in loaded


def test_parse_workers_find_the_cli_imported_in_their_forkserver(tmp_path):
    """multiprocessing runs the agent's main module again in each process it starts (as __mp_main__): a worker of an
    agent started as the `shipper` console script imported the CLI and click again (~37 M instructions a worker:
    bench/README.md, session 28). The forkserver imports them once; the workers it forks find them there."""
    cfg, shipper = _parsing_with_two_workers(tmp_path)
    with open(tmp_path / "out", "wb") as out, open(tmp_path / "err", "wb") as err:
        # (-X importtime, handed on to the forkserver: each process says what it imports on stderr)
        agent = subprocess.Popen([sys.executable, "-X", "importtime", shipper, "run", "-c", str(cfg)], stdout=out,
                                 stderr=err)
    try:
        wait_until(lambda: len(_workers(agent.pid)) == 2, 120, "two parse workers")
        wait_until(lambda: (tmp_path / "out").read_bytes().count(b"\n") == 500, 120, "the 500 events")
    finally:
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(60) == 0, (tmp_path / "err").read_text()
    imports = [line.rsplit("|", 1)[1].strip() for line in (tmp_path / "err").read_text().splitlines()
               if line.startswith("import time:") and "|" in line]
    assert imports.count("multiprocessing.forkserver") >= 1  # (the forkserver did start, and said its imports)
    assert imports.count("click") == 2  # the agent's and the forkserver's; not one more for each worker
