"""Config loading is bounded and reports every problem of a file at once, in file order, in our words."""
from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest

from shipper import registry
from shipper.config import ConfigError, parse_config

REPO = Path(__file__).resolve().parents[2]

BOMB = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"{c}: &{c} [" + ",".join([f"*{p}"] * 9) + "]" for p, c in zip("abcdefgh", "bcdefghi")]
    + ["state_dir: x", "sources: *i", "outputs: [{type: stdout}]"]) + "\n"


def _cli(*args: str, input: str | None = None, limit_mb: int = 1024):
    def cap():  # the 12-line bomb drove check past 9 GB: this one must fail within 1 GB
        resource.setrlimit(resource.RLIMIT_AS, (limit_mb << 20, limit_mb << 20))

    return subprocess.run([sys.executable, "-m", "shipper.cli", *args], capture_output=True, text=True,
                          input=input, cwd=str(REPO), timeout=120, preexec_fn=cap)


def test_alias_bomb_refused_with_file_and_line(tmp_path):
    cfg = tmp_path / "bomb.yaml"
    cfg.write_text(BOMB)
    r = _cli("check", "-c", str(cfg))
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith(f"error: {cfg}:11: refused: aliases expand to more than"), r.stderr
    assert "Traceback" not in r.stderr


def test_many_aliases_refused():
    text = "x: &x 1\ny: [" + ", ".join(["*x"] * 500) + "]\n"
    with pytest.raises(ConfigError) as e:
        parse_config(text, "f.yaml")
    assert str(e.value) == "f.yaml:2: refused: more than 200 aliases (*name) in one config"


@pytest.mark.parametrize("text,line", [
    ("state_dir: x\nsources: &s\n  - name: a\n    more: *s\noutputs: [{type: stdout}]\n", 4),
    ("state_dir: x\nsources: &s [*s]\n", 2),
    ("state_dir: x\noutputs: &o {type: stdout, nested: {deeper: *o}}\n", 2),
])
def test_self_referencing_alias_exit_2(tmp_path, text, line):
    cfg = tmp_path / "self.yaml"
    cfg.write_text(text)
    r = _cli("check", "-c", str(cfg))
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith(f"error: {cfg}:{line}: refused: alias *"), r.stderr
    assert "RecursionError" not in r.stderr and "Traceback" not in r.stderr


def test_deep_nesting_refused(tmp_path):
    cfg = tmp_path / "deep.yaml"
    cfg.write_text("a: " + "[" * 20000 + "]" * 20000 + "\n")
    r = _cli("check", "-c", str(cfg))
    assert r.returncode == 2 and "refused: nested too deeply" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_normal_aliases_still_work():
    text = ("state_dir: s\nsources:\n  - &a {name: a, type: file, parser: json, paths: [/x]}\n"
            "  - {<<: *a, name: b}\noutputs: [{type: stdout}]\n")
    cfg = parse_config(text, "f.yaml")
    assert [s.name for s in cfg.sources] == ["a", "b"] and cfg.sources[1].paths == ["/x"]


MANY = """\
state_dir: /tmp/x
logging: {level: loud}
sources:
  - name: Bad-Name
    type: file
    parser: datamer
    paths: [/x.log]
    batch_size: lots
  - name: b
    type: fiel
    parser: json
  - name: b
    type: file
    parser: json
    paths: /x.log
    batch_size: 0
outputs:
  - type: stdot
  - type: stdout
    healh_threshold: 3
"""


def test_every_error_in_one_round_sorted_in_our_words():
    with pytest.raises(ConfigError) as e:
        parse_config(MANY, "m.yaml")
    got = [str(p) for p in e.value.problems]
    assert got == [
        "m.yaml:2: logging.level: expected 'debug', 'info', 'warning' or 'error' (got 'loud')",
        "m.yaml:4: sources[0].name: must match [a-z0-9_]+ (lower case letters, digits, underscore) (got 'Bad-Name')",
        "m.yaml:6: sources[0].parser: unknown parser 'datamer' (did you mean 'datameer'?); installed: "
        + ", ".join(registry.names("parser")),
        "m.yaml:8: sources[0].batch_size: expected a whole number (got 'lots')",
        "m.yaml:10: sources[1].type: unknown source 'fiel' (did you mean 'file'?); installed: "
        + ", ".join(registry.names("source")),
        "m.yaml:12: sources[2].name: duplicate source name 'b': names key the checkpoints and must be unique",
        "m.yaml:15: sources[2].paths: expected a list (got '/x.log')",
        "m.yaml:16: sources[2].batch_size: must be at least 1 (got 0)",
        "m.yaml:18: outputs[0].type: unknown output 'stdot' (did you mean 'stdout'?); installed: "
        + ", ".join(registry.names("output")),
        "m.yaml:20: outputs[1].healh_threshold: unknown key 'healh_threshold' (did you mean 'health_threshold'?); "
        "expected one of: fsync, health_threshold, id_field, match, max_in_flight_batches, max_in_flight_bytes, name, type",
    ]
    assert not any("Input should" in g or "Value error" in g for g in got)


def test_cat_parser_did_you_mean():
    r = _cli("cat", "-p", "datamer", input="x\n")
    assert r.returncode == 2
    assert "no parser named 'datamer' (did you mean 'datameer'?)" in r.stderr


def test_endless_config_file_refused():
    r = _cli("check", "-c", "/dev/zero", limit_mb=512)
    assert r.returncode == 2 and r.stderr.startswith("error: /dev/zero: refused: the config is over"), r.stderr


def test_block_checks_come_in_the_same_round(tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("x\n")
    text = ("state_dir: s\nsources:\n  - name: pg\n    type: postgres\n    parser: json\n"
            "    dsn: \"host=db password=x\"\n    password_file: " + str(pw) + "\n    poll_interval: soon\n"
            "outputs:\n  - {type: stdout}\n")
    with pytest.raises(ConfigError) as e:
        parse_config(text, "p.yaml")
    assert [str(p) for p in e.value.problems] == [
        "p.yaml:3: sources[0]: dsn holds a password and password_file is set: keep only password_file",
        "p.yaml:8: sources[0].poll_interval: expected a number (got 'soon')",
    ]


from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10, 10**6), st.floats(allow_nan=True),
                     st.text(max_size=20), st.sampled_from(["file", "json", "stdout", "postgres", "auto", "*"]))
_keys = st.sampled_from(["state_dir", "sources", "outputs", "name", "type", "parser", "paths", "http", "listen",
                         "logging", "level", "batch_size", "match", "dsn", "hosts", "port", "x", "<<"])
_values = st.recursive(_scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                         st.dictionaries(_keys, inner, max_size=5)), max_leaves=25)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_keys, _values, max_size=6))
def test_any_structure_is_a_config_or_a_config_error(doc):
    import yaml

    text = yaml.safe_dump(doc, default_flow_style=False, allow_unicode=True)
    try:
        parse_config(text, "h.yaml")
    except ConfigError as e:
        assert e.problems and all(str(p).startswith("h.yaml") for p in e.problems)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab:-[]{}&*!|>'\"#\n ,?%@`\t1")), max_size=120))
def test_any_text_is_a_config_or_a_config_error(text):
    try:
        parse_config(text, "t.yaml")
    except ConfigError as e:
        assert e.problems and all(str(p).startswith("t.yaml") for p in e.problems)


def test_reload_with_an_alias_bomb_is_refused_and_the_daemon_lives(tmp_path):
    import signal

    from tests.e2e.test_daemon import NotifySocket, config_text, free_port, shipped, start, write_lines
    from tests.support import wait_until

    notify = NotifySocket(tmp_path / "notify.sock")
    cfg = tmp_path / "shipper.yaml"
    good = config_text(tmp_path, free_port(), ["a"])
    cfg.write_text(good)
    write_lines(tmp_path / "a.log", "a", 0, 10)
    out = tmp_path / "out.jsonl"
    with open(out, "wb") as so, open(tmp_path / "err.log", "wb") as se:
        proc = start(cfg, notify.path, so, se, watchdog_usec=0)
    try:
        notify.wait_for(lambda m: m.get("READY") == "1")
        wait_until(lambda: len(shipped(out)) == 10, what="the first events")
        cfg.write_text(BOMB.replace("sources: *i", "sources: *i\nhttp: {listen: x}"))
        mark = notify.count()
        proc.send_signal(signal.SIGHUP)
        refused = notify.wait_for(lambda m: "reload refused" in m.get("STATUS", ""), since=mark)
        assert "refused: aliases expand to more than" in refused["STATUS"] and ":11:" in refused["STATUS"]
        rss_kib = int(next(l for l in Path(f"/proc/{proc.pid}/status").read_text().splitlines()
                           if l.startswith("VmHWM:")).split()[1])
        assert rss_kib < 500 * 1024, f"peak RSS {rss_kib} KiB"
        write_lines(tmp_path / "a.log", "a", 10, 5)
        wait_until(lambda: len(shipped(out)) == 15, what="shipping on with the old config")
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
            notify.close()
    assert proc.returncode == 0
