"""The public plugin API (shipper.api): what it exports, how plugins are checked when loaded, the
rule that dicts shared between events are never mutated, and that the built-in plugins use it alone."""
from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Literal

import pytest

import shipper.api as api
from shipper import registry
from shipper.config_base import SourceConfig
from shipper.events import EventBuilder
from tests.plugin_install import installed

REPO = next(p for p in Path(__file__).resolve().parents if (p / "setup.cfg").exists())
SHIPPER = [sys.executable, "-m", "shipper.cli"]


def test_every_name_in_all_is_there_and_the_package_says_it_is_typed():
    missing = [n for n in api.__all__ if not hasattr(api, n)]
    assert not missing
    assert len(set(api.__all__)) == len(api.__all__)
    assert (REPO / "shipper" / "py.typed").exists()
    assert "py.typed" in (REPO / "setup.cfg").read_text()


def test_the_guide_names_every_public_name_and_every_hook_of_the_plugin_classes():
    """docs/writing-plugins.md is all a third party reads: a name added to shipper.api, or a method or
    class attribute added to Parser, Source or Output (a hook the core calls), is named there in code."""
    guide = (REPO / "docs" / "writing-plugins.md").read_text()
    fenced = re.findall(r"```.*?```", guide, re.S)
    code = " ".join(fenced + re.findall(r"`[^`]+`", re.sub(r"```.*?```", "", guide, flags=re.S)))
    names = set(api.__all__)
    for cls in (api.Parser, api.Source, api.Output):
        names |= {n for n in vars(cls) if not n.startswith("_")}
    for cls in (api.SourceContext, api.OutputContext, api.RawBatch, api.Batch):
        names |= set(cls.__dataclass_fields__) - {"pending"}  # (Batch.pending: the core's bookkeeping)
    missing = sorted(n for n in names if not re.search(rf"\b{re.escape(n)}\b", code))
    assert not missing, f"not in docs/writing-plugins.md: {missing}"


def test_built_in_plugins_import_the_core_through_shipper_api_only():
    # The file source is the front of the tailer (shipper.tail): its engine, not a plugin API.
    allowed = {"shipper.api"}
    engine = {"plugins/sources/file.py": {"shipper.tail", "shipper.tail.events", "shipper.tail.harvester",
                                        "shipper.tail.holder", "shipper.tail.scan_rules", "shipper.tail.state",
                                        "shipper.tail.tailer", "shipper.tail.watcher"}}
    wrong = []
    for path in sorted((REPO / "plugins").rglob("*.py")):
        rel = str(path.relative_to(REPO))
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                mods = [node.module]
            elif isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            else:
                continue
            for mod in mods:
                if (mod == "shipper" or mod.startswith("shipper.")) and mod not in allowed | engine.get(rel, set()):
                    wrong.append(f"{rel}:{node.lineno} imports {mod} (import it from shipper.api; a helper "
                                 f"plugins need is added to shipper.api's __all__)")
    assert not wrong, "\n".join(wrong)


# --- registry.check: what an entry point may give -------------------------------------------------

class GoodParser(api.Parser):
    module, dataset = "acme", "acme.audit"

    def parse(self, raw: bytes) -> list[dict]:
        return [api.base_event(self.module, self.dataset)]


class NoParse(api.Parser):
    module, dataset = "acme", "acme.audit"


class NoModule(GoodParser):
    module = ""


class LooseConfig(api.OutputConfig):
    model_config = {"extra": "ignore"}


class LooseOutput(api.Output):
    Config = LooseConfig

    def send(self, batch: api.Batch) -> None:
        pass


class DictConfigSource(api.Source):
    Config = dict  # type: ignore[assignment]

    def run(self) -> None:
        pass


@pytest.mark.parametrize("kind, obj, says", [
    ("parser", GoodParser, None),
    ("parser", NoParse, "does not define parse"),
    ("parser", NoModule, "module must be a non-empty string"),
    ("parser", lambda raw: [], "must be a subclass of shipper.api.Parser"),
    ("parser", GoodParser(), "must be a subclass of shipper.api.Parser"),
    ("source", GoodParser, "must be a subclass of shipper.api.Source"),
    ("source", DictConfigSource, "Config must be a subclass of shipper.api.SourceConfig"),
    ("output", LooseOutput, "must refuse unknown keys"),
    ("setup", GoodParser, "must be a click command"),
])
def test_check_names_what_is_wrong(kind, obj, says):
    problems = registry.check(kind, obj)
    if says is None:
        assert problems == []
    else:
        assert any(says in p for p in problems), problems


class MisnamedConfig(api.OutputConfig):
    type: Literal["acme_one"] = "acme_one"


class MisnamedOutput(LooseOutput):
    Config = MisnamedConfig


def test_a_config_model_whose_type_leaves_out_the_entry_point_name_is_refused():
    assert registry.check("output", MisnamedOutput, "acme_one") == []
    [problem] = registry.check("output", MisnamedOutput, "acme_two")
    assert problem == "MisnamedConfig.type allows 'acme_one' but the plugin is registered as 'acme_two'"


def test_every_built_in_plugin_passes_the_checks():
    for kind in registry.GROUPS:
        for name in registry.names(kind):
            registry.load(kind, name)  # raises PluginError naming it otherwise


BAD_PLUGINS = '''
from shipper.api import Output, OutputConfig, Parser, Source, SourceConfig


def not_a_parser(raw):
    return []


class HalfOutput(Output):  # no send()
    pass


class SourceWithoutModel(Source):
    Config = dict

    def run(self):
        pass


def not_a_command():
    pass
'''

ENTRY_POINTS = """
[shipper.parsers]
acme_bad = acme_bad_plugins:not_a_parser

[shipper.outputs]
acme_half = acme_bad_plugins:HalfOutput

[shipper.sources]
acme_raw = acme_bad_plugins:SourceWithoutModel
acme_gone = acme_missing_module:Whatever

[shipper.setup]
acme = acme_bad_plugins:not_a_command
"""


@pytest.fixture
def bad_plugins(tmp_path):
    """A distribution `acme-bad-plugins` installed, seen by the shipper processes the test starts."""
    return installed(tmp_path, "acme_bad_plugins", BAD_PLUGINS, "0.3", ENTRY_POINTS)


def test_bad_plugins_are_refused_naming_entry_point_and_distribution(tmp_path, bad_plugins):
    (tmp_path / "in.log").write_text("")
    conf = tmp_path / "shipper.yaml"
    conf.write_text(textwrap.dedent(f"""\
        state_dir: {tmp_path / 'state'}
        sources:
          - {{name: a, type: file, parser: acme_bad, paths: ["{tmp_path / 'in.log'}"]}}
          - {{name: b, type: acme_raw, parser: json}}
          - {{name: c, type: acme_gone, parser: json}}
        outputs:
          - {{type: acme_half}}
        """))
    r = subprocess.run(SHIPPER + ["check", "-c", str(conf)], capture_output=True, text=True, env=bad_plugins,
                       timeout=120)
    assert r.returncode == 2, r
    err = r.stderr
    # each refusal with the config line, the entry point, its target and the distribution with its version
    assert "shipper.yaml:3: sources[0].parser: parser 'acme_bad' refused (entry point 'acme_bad' = " \
           "acme_bad_plugins:not_a_parser in group shipper.parsers, from acme-bad-plugins 0.3): must be a " \
           "subclass of shipper.api.Parser, not function" in err, err
    assert "sources[1].type: source 'acme_raw' refused (entry point 'acme_raw'" in err
    assert "SourceWithoutModel.Config must be a subclass of shipper.api.SourceConfig" in err
    assert ("sources[2].type: source 'acme_gone' failed to load (entry point 'acme_gone' = acme_missing_module:"
            "Whatever in group shipper.sources, from acme-bad-plugins 0.3): ModuleNotFoundError") in err
    assert "outputs[0].type: output 'acme_half' refused" in err and "HalfOutput does not define send" in err
    # `shipper plugins` shows the same, beside the good ones, and fails
    r = subprocess.run(SHIPPER + ["plugins"], capture_output=True, text=True, env=bad_plugins, timeout=120)
    assert r.returncode == 1
    assert "acme_half            acme-bad-plugins 0.3" in r.stdout and "REFUSED" in r.stdout
    assert "datameer             shipper" in r.stdout
    # a setup command that is no click command
    r = subprocess.run(SHIPPER + ["setup", "acme"], capture_output=True, text=True, env=bad_plugins, timeout=120)
    assert r.returncode == 2
    assert ("setup 'acme' refused (entry point 'acme' = acme_bad_plugins:not_a_command in group shipper.setup, "
            "from acme-bad-plugins 0.3): a setup command must be a click command, not function") in r.stderr


# --- events: dicts shared between events are never mutated ----------------------------------------

class SharingParser(api.Parser):
    """Hands out the same sub-dicts in every event, as a memoising parser does."""

    module, dataset = "acme", "acme.audit"
    HOST = {"ip": ["10.0.0.1"]}  # no name: the agent adds its own
    USER = {"name": "eve"}

    def parse(self, raw: bytes) -> list[dict]:
        ev = api.base_event(self.module, self.dataset)
        ev["host"] = self.HOST
        ev["user"] = self.USER
        return [ev, {**ev}]  # two events of one record sharing every sub-dict, `event` included


def test_event_builder_never_mutates_dicts_shared_between_events():
    cfg = SourceConfig(name="s", type="file", parser="acme", preserve_original_event=True, tags=["t"])
    builder = EventBuilder(cfg, SharingParser(), "agent-host")
    raws = [b"one", b"two"]
    parsed = builder.parser.parse_batch(raws)
    shared_events = [evs[0]["event"] for evs in parsed]  # each shared by the two events of its record
    builder.parser.parse_batch = lambda r: parsed  # the very dicts held above
    events, _, _, _ = builder.enrich(api.RawBatch(records=raws, keys=["k1", "k2"], checkpoint={}))
    assert SharingParser.HOST == {"ip": ["10.0.0.1"]} and SharingParser.USER == {"name": "eve"}
    assert all("original" not in e for e in shared_events)
    assert [e["event"]["original"] for e in events] == ["one", "one", "two", "two"]
    assert all(e["host"] == {"ip": ["10.0.0.1"], "name": "agent-host"} for e in events)
    assert all(e["tags"] == ["t"] for e in events)


def test_parser_options_are_typed_and_refuse_unknown_keys():
    p = GoodParser({"timezone": "Europe/Berlin", "source": "s"})
    assert p.options == api.ParserOptions(timezone="Europe/Berlin", source="s")
    assert str(p.zone) == "Europe/Berlin"
    assert GoodParser().options.timezone == "UTC"
    with pytest.raises(TypeError, match="colour"):
        GoodParser({"colour": "red"})


def test_path_options_in_nested_blocks_are_taken_from_the_config_folder(tmp_path):
    """ConfigPath options inside a block's nested blocks (a Fluentd output's servers) are resolved too."""
    conf = tmp_path / "conf" / "shipper.yaml"
    conf.parent.mkdir()
    conf.write_text(textwrap.dedent("""\
        state_dir: state
        sources:
          - {name: a, type: file, parser: json, paths: [in.log]}
        outputs:
          - type: fluentd
            servers:
              - {socket: run/one.sock}
              - {socket: /run/two.sock, standby: true}
        """))
    [out] = api.load_config(conf).outputs
    assert [s.socket for s in out.servers] == [str(tmp_path / "conf" / "run" / "one.sock"), "/run/two.sock"]


# --- an output whose start() raises ---------------------------------------------------------------

FOLDER_OUTPUT = '''
import os
from typing import Literal

from shipper.api import Batch, ConfigPath, Output, OutputConfig, serialize_event


class FolderConfig(OutputConfig):
    type: Literal["acme_folder"] = "acme_folder"
    path: ConfigPath


class FolderOutput(Output):  # opens its file in start(): a missing folder raises there
    Config = FolderConfig

    def start(self):
        self.fd = os.open(self.config.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)

    def send(self, batch: Batch) -> None:
        os.write(self.fd, b"".join(serialize_event(e) for e in batch.events))

    def close(self):
        if hasattr(self, "fd"):
            os.close(self.fd)
'''


def test_an_output_whose_start_raises_ends_a_run_once_named_and_nothing_is_acknowledged(tmp_path):
    """`run --once` with a third-party output whose start() raises (its folder is missing): exit 1 with
    one line naming the output and why, no crash; the lines wait unacknowledged, and once the folder is
    there the next run ships every one of them."""
    env = installed(tmp_path, "acme_folder_output", FOLDER_OUTPUT, "0.1",
                    "[shipper.outputs]\nacme_folder = acme_folder_output:FolderOutput\n")
    (tmp_path / "in.log").write_text("".join(f'{{"n": {i}}}\n' for i in range(5)))
    conf = tmp_path / "shipper.yaml"
    conf.write_text(textwrap.dedent(f"""\
        state_dir: {tmp_path / 'state'}
        sources:
          - {{name: a, type: file, parser: json, paths: ["{tmp_path / 'in.log'}"]}}
        outputs:
          - {{type: acme_folder, path: out/events.jsonl}}
        """))
    run = SHIPPER + ["run", "--once", "-c", str(conf)]
    r = subprocess.run(run, capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 1, r.stderr
    assert (f"stopping: output acme_folder failed to start: FileNotFoundError: [Errno 2] No such file or "
            f"directory: '{tmp_path / 'out' / 'events.jsonl'}'") in r.stderr, r.stderr
    assert "Exception in thread" not in r.stderr and not r.stderr.startswith("Traceback"), r.stderr
    (tmp_path / "out").mkdir()
    r = subprocess.run(run, capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    shipped = [json.loads(line) for line in (tmp_path / "out" / "events.jsonl").read_bytes().splitlines()]
    assert sorted(e["generic"]["n"] for e in shipped) == list(range(5))
