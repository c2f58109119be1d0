"""What `shipper check` and `shipper status` tell an operator is true, through real CLI processes on real
configs: a source that describes nothing is not said to "match nothing" (only a source reading paths
matches files); a source whose tag no output's match takes is warned (as Vector's `validate` warns of a
source without consumers), the config still valid; and a first run's status does not speak of earlier runs."""
from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.core.test_plugin_api import REPO, installed

SHIPPER = [sys.executable, "-m", "shipper.cli"]

QUIET_SOURCE = '''
from typing import Literal

from shipper.api import Source, SourceConfig


class QuietConfig(SourceConfig):
    type: Literal["acme_quiet"] = "acme_quiet"


class QuietSource(Source):
    """Describes nothing (describe() is the base's: no lines)."""
    Config = QuietConfig

    def run(self) -> None:
        self.ctx.stop.wait()
'''


def shipper(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(SHIPPER + list(args), capture_output=True, text=True, cwd=str(REPO), env=env, timeout=120)


def section(out: str, header: str) -> list[str]:
    """The lines of `shipper check`'s block that starts with `header`, up to the next block."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].startswith("  ")), len(lines))
    return lines[start + 1:end]


def test_check_says_a_source_describes_nothing_and_only_a_file_source_matches_nothing(tmp_path):
    env = installed(tmp_path, "acme_quiet_plugin", QUIET_SOURCE, "0.1",
                    "[shipper.sources]\nacme_quiet = acme_quiet_plugin:QuietSource\n")
    conf = tmp_path / "shipper.yaml"
    conf.write_text(textwrap.dedent(f"""\
        state_dir: {tmp_path / 'state'}
        sources:
          - {{name: quiet, type: acme_quiet, parser: json}}
          - {{name: files, type: file, parser: json, paths: [{tmp_path}/none/*.log]}}
        outputs:
          - {{type: stdout}}
        """))
    r = shipper("check", "-c", str(conf), env=env)
    assert r.returncode == 0, r.stderr
    assert section(r.stdout, "source quiet ") == ["  (source type acme_quiet describes nothing more)"], r.stdout
    assert section(r.stdout, "source files ") == ["  (matches nothing now)"], r.stdout
    assert "warning" not in r.stderr  # both tags go to stdout (match '*')


def test_check_warns_of_a_source_no_output_takes_and_still_exits_0(tmp_path):
    (tmp_path / "app.log").write_text('{"a": 1}\n')
    conf = tmp_path / "shipper.yaml"
    conf.write_text(textwrap.dedent(f"""\
        state_dir: {tmp_path / 'state'}
        sources:
          - {{name: kept, type: file, parser: json, paths: [{tmp_path}/app.log], tag: audit.kept}}
          - {{name: stray, type: file, parser: json, paths: [{tmp_path}/app.log], tag: debug.stray}}
        outputs:
          - {{name: out, type: stdout, match: "audit.*"}}
        """))
    r = shipper("check", "-c", str(conf))
    assert r.returncode == 0, r.stderr  # valid: the agent would run it (and count the events unrouted)
    warnings = [line for line in r.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == ["warning: source stray: no output's match takes its tag 'debug.stray': its events would "
                        "be read, counted as unrouted and shipped nowhere"], r.stderr
    assert "warning" not in r.stdout


def test_status_after_a_first_run_speaks_of_no_earlier_runs(tmp_path):
    (tmp_path / "app.log").write_text('{"a": 1}\n')
    (tmp_path / "db.log").write_text('{"b": 2}\n')
    conf = tmp_path / "shipper.yaml"
    conf.write_text(f"state_dir: {tmp_path / 'state'}\n"
                    f"sources:\n  - {{name: app, type: file, parser: json, paths: [{tmp_path}/*.log]}}\n"
                    "outputs:\n  - {type: stdout}\n")
    r = shipper("run", "--once", "-c", str(conf))
    assert r.returncode == 0, r.stderr
    r = shipper("status", "-c", str(conf))
    assert r.returncode == 0, r.stderr
    assert "earlier run" not in r.stdout, r.stdout
    # two live paths and the one glob, looked through by this first run
    assert "  2 followed paths and 1 glob already looked through (read_from applies only to what was never seen)" \
        in r.stdout.splitlines(), r.stdout
