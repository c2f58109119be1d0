"""The `shipper` command line."""
from __future__ import annotations

import gc
import gzip
import os
import signal
import sys

# `shipper run`: a SIGHUP before the daemon listens for it (the imports, the config, the state: a second
# or more on a busy host) would end the agent, its default action. It is noted from here on (before the
# imports below), and the daemon reloads once started. Only `run` reloads; the others keep the default.
early_hups: list[int] = []
hangups = None
if sys.argv[1:2] == ["run"]:
    from shipper.hangup import Hangups, unblock_answered

    unblock_answered()
    # The terminal as it is now, and whether SIGHUP was ignored (nohup): a hang-up is not a reload.
    hangups = Hangups(ignored_at_start=signal.getsignal(signal.SIGHUP) is signal.SIG_IGN)
    signal.signal(signal.SIGHUP, lambda signum, _frame: early_hups.append(signum))

# `shipper run`: the start's imports, config and state make tens of thousands of objects that live as long as the
# agent, and next to no garbage (~500 objects, of classes built and replaced); the cyclic collector went over them
# ~80 times, ~3 % of a start's instructions (bench/README.md, session 27). It is held until the daemon runs.
collector_held = sys.argv[1:2] == ["run"]
if collector_held:
    gc.disable()

import click  # noqa: E402  (after the handler: importing takes a good part of that window)

from shipper import __version__  # noqa: E402


def _load(config_path: str, starts: bool = False):
    """The config, or exit 2 naming each problem. `starts`: for `run` and `check`, also refused when its
    state_dir moved while the agent was stopped (shipper.state_dir_moved)."""
    from shipper.config import ConfigError, load_config

    try:
        config = load_config(config_path)
        if starts:
            from shipper.state_dir_moved import moved_state_dir

            moved = moved_state_dir(config)
            if moved is not None:
                raise ConfigError([moved])
        return config
    except ConfigError as e:
        for p in e.problems:
            click.echo(f"error: {p}", err=True)
        sys.exit(2)


config_option = click.option(
    "-c", "--config", "config_path", envvar="SHIPPER_CONFIG", default="/etc/shipper/shipper.yaml",
    show_default=True, help="Config file (or the SHIPPER_CONFIG environment variable).",
)


class _Commands(click.Group):
    """The commands, with `setup` imported only when asked for (click's lazily loaded subcommands): its plugins are
    found through the installed distributions' metadata (importlib.metadata and a scan: ~130 M instructions), which
    `verify FILES`, `--version` and `--help` do without."""

    lazy = {"setup": ("shipper.setup_commands", "setup")}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.lazy])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy:
            import importlib

            module, name = self.lazy[cmd_name]
            return getattr(importlib.import_module(module), name)
        return super().get_command(ctx, cmd_name)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="shipper")
def main() -> None:
    """Ships the audit trails of data platforms, normalised to ECS, to Fluentd, Elasticsearch or stdout."""


@main.command()
@config_option
@click.option("--once", is_flag=True, help="Read what is available now, deliver it, save checkpoints, exit.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=None,
              help="With --once: give up after this many seconds (default 300), exit 1 naming what was not delivered.")
def run(config_path: str, once: bool, timeout: float | None) -> None:
    """Run until SIGTERM/SIGINT (or, with --once, until everything available is delivered).

    Exits 1 when data was left undelivered (a stop that timed out, --once that gave up)."""
    from shipper import journal_syslog

    if journal_syslog.take_closed_stderr() is not None:  # stderr closed and no syslog: said where it can be
        sys.exit(2)
    from shipper import checkpoint

    checkpoint.prestart_writer()  # its start beside the imports and the config's reading (it waits for the state_dir)
    from shipper import log as shipper_log
    from shipper.runner import ONCE_TIMEOUT, Daemon

    if timeout is not None and not once:
        click.echo("error: --timeout goes with --once (a daemon's stop waits shutdown_timeout)", err=True)
        sys.exit(2)
    config = _load(config_path, starts=True)
    shipper_log.setup(config.settings.logging.level, config.settings.logging.format)
    if (elsewhere := journal_syslog.said()) is not None:
        import logging

        logging.getLogger("shipper").warning(elsewhere)
    from shipper import fdlimit

    fdlimit.raise_soft_limit()  # before any source sizes its descriptor budget from it
    too_few = fdlimit.too_few_for(config)
    if too_few is not None:
        click.echo(f"error: {too_few}", err=True)
        sys.exit(2)
    fdlimit.take(config)
    from shipper import address_space

    address_space.fit()  # before any thread starts (its C allocator's arenas)
    # A bar only on a terminal's stderr.
    from shipper.checkpoint import StateDirError
    from shipper.progress import OnceSummary

    summary = None
    try:
        daemon = Daemon(config, once=once, progress=once, timeout=timeout or ONCE_TIMEOUT)
        summary = OnceSummary(daemon.pipeline) if once else None
        _collect_again()
        code = daemon.run(early_hups, hangups)
    except StateDirError as e:  # locked by another agent, damaged, unwritable: one line, what to do
        _say_last(f"error: {e}")
        sys.exit(2)
    if summary is not None:
        _say_last(summary.line())
    sys.exit(code)


def _say_last(line: str) -> None:
    """A run's last line on stderr, through the journal's stream there: on a pipe or terminal whose reader stalls it
    is held (and counted at exit if never read), not waited for — written blocking, `run --once` on a terminal
    suspended by Ctrl-S never ended (exam29a)."""
    from shipper.journal_pipe import stalled_reader_stream

    stream = stalled_reader_stream(sys.stderr)
    stream.write(line + "\n")
    stream.flush()


def _collect_again() -> None:
    """The collector back once the agent is built: what the start made is frozen out of its reach first (as
    Daemon._start freezes what is alive when the sources start), so no collection goes over it again."""
    if collector_held:
        gc.freeze()
        gc.enable()


@main.command()
@config_option
@click.option("--outputs", "probe_outputs", is_flag=True,
              help="Also connect to each output (no event sent) and say what was found, or why it failed; exit 1 if one failed.")
def check(config_path: str, probe_outputs: bool) -> None:
    """Validate the config; show each source with the files it matches now, and each output."""
    import threading

    from shipper import registry
    from shipper.path_access import access_problems
    from shipper.plugin import OutputContext, SourceContext
    from shipper.router import Router
    from shipper.secrets import redact

    config = _load(config_path, starts=True)
    failed = False
    click.echo(f"{config.path}: valid")
    click.echo(f"state_dir: {config.state_dir}")
    router = Router([(o.match, o.name) for o in config.outputs])
    for s in config.sources:
        click.echo(f"source {s.name} (type {s.type}, parser {s.parser}, tag {s.effective_tag})")
        ctx = SourceContext(name=s.name, emit=lambda b: None, stop=threading.Event(), once=True, state={},
                            state_dir=config.state_dir, base_dir=config.base_dir)
        source = registry.load("source", s.type)(s, ctx)
        lines = source.describe()
        # Folders it may not list and files it may not read: glob() alone says nothing of them.
        reads_paths = isinstance(getattr(s, "paths", None), list)
        denied = access_problems(s.paths, config.base_dir) if reads_paths else []
        if not lines and not denied:
            # Only a source reading paths matches files; another says nothing when its describe() is empty.
            click.echo("  (matches nothing now)" if reads_paths else f"  (source type {s.type} describes nothing more)")
        for line in lines + denied:
            click.echo(redact(f"  {line}"))
        if not router.route(s.effective_tag):
            # As Vector's `validate` warns of a source without consumers: valid, but likely a mistake (the
            # agent runs it, counts its events in shipper_unrouted_events and ships none).
            click.echo(f"warning: source {s.name}: no output's match takes its tag {s.effective_tag!r}: its events "
                       "would be read, counted as unrouted and shipped nowhere", err=True)
    for o in config.outputs:
        octx = OutputContext(name=o.name, stop=threading.Event(), state_dir=config.state_dir)
        output = registry.load("output", o.type)(o, octx)
        click.echo(redact(f"output {o.name} (match {o.match!r}): {output.describe()}"))  # no user:password@
        if probe_outputs and not _probe(output):
            failed = True
    if failed:
        sys.exit(1)


def _probe(output) -> bool:
    """An output's `probe()` connects (TLS, auth), sends no event, and returns what it found (text
    lines, or a mapping shown as `key: value` lines), or raises with why it failed. False if it failed."""
    from shipper.secrets import redact

    try:
        found, ok = output.probe(), True
        if found is None:
            click.echo("  probe: not available for this output type")
            return True
    except Exception as e:  # the reason is the message, for every kind of failure
        msg = str(e) or type(e).__name__
        found, ok = (msg if "FAILED" in msg else f"FAILED: {msg}"), False
    finally:
        try:
            output.close()
        except Exception:
            pass
    if isinstance(found, dict):
        found = "\n".join(f"{k}: {v}" for k, v in found.items())
    for line in redact(str(found)).splitlines():  # whole first: a password may hold a newline
        click.echo(f"  {line}")
    return ok


def _open_input(path: str):
    if path == "-":
        return sys.stdin.buffer
    with open(path, "rb") as probe:
        magic = probe.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


@main.command()
@click.option("-p", "--parser", "parser_name", required=True, help="Parser to use (see `shipper plugins`).")
@click.option("--timezone", default="UTC", show_default=True, help="Zone of timestamps written without one.")
@click.option("--max-line-bytes", default=1024 * 1024, show_default=True, type=click.IntRange(min=64),
              help="Longer lines are cut into pieces tagged _line_truncated (like the file source).")
@click.argument("files", nargs=-1, type=click.Path(allow_dash=True))
def cat(parser_name: str, timezone: str, max_line_bytes: int, files: tuple[str, ...]) -> None:
    """Parse FILES (or stdin) once, without state; print ECS JSON lines. Reads .gz files too."""
    import orjson

    from shipper import registry
    from shipper.cat import flag_events, read_batches
    from shipper.ecs import failure_event

    try:
        parser = registry.load("parser", parser_name)({"timezone": timezone})
    except registry.PluginError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    from shipper.progress import cat_progress

    out = sys.stdout.buffer
    paths = list(files or ("-",))
    try:
        with cat_progress(paths) as bar:  # a bar on stderr only when it is a terminal
            for path in paths:
                try:
                    f = _open_input(path)
                except OSError as e:
                    click.echo(f"error: {path}: {e.strerror}", err=True)
                    sys.exit(1)
                raw = getattr(f, "fileobj", None) or f  # a .gz counts its compressed bytes, like its size
                pos = raw.tell() if raw.seekable() else 0
                with f:
                    batches = read_batches(f, max_line_bytes)
                    while True:
                        try:
                            got = next(batches, None)
                        except (OSError, EOFError) as e:  # a truncated .gz, an I/O error
                            click.echo(f"error: reading {path}: {getattr(e, 'strerror', None) or e}", err=True)
                            sys.exit(1)
                        if got is None:
                            break
                        batch, flags, nbytes = got
                        n = _emit(parser, batch, flags, out, orjson, failure_event, flag_events)
                        pos = _advance(bar, raw, pos, nbytes, n)
        out.flush()
    except BrokenPipeError:
        # The reader went away (`shipper cat … | head`): stop quietly, like cat(1).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(141)
    except OSError as e:
        click.echo(f"error: writing the output: {e.strerror or e}", err=True)
        sys.exit(1)


def _advance(bar, raw, pos: int, nbytes: int, events: int) -> int:
    try:
        now = raw.tell()
    except (OSError, ValueError):  # stdin: count the bytes read
        bar.advance(nbytes, events)
        return pos
    bar.advance(now - pos, events)
    return now


def _emit(parser, batch, flags, out, orjson, failure_event, flag_events) -> int:
    try:
        parsed = parser.parse_batch(batch)
    except Exception as e:
        parsed = [[failure_event(raw, f"parser {type(e).__name__}: {e}", parser.module, parser.dataset)] for raw in batch]
    flag_events(parsed, flags)
    out.write(b"".join(orjson.dumps(ev) + b"\n" for evs in parsed for ev in evs))
    return sum(len(evs) for evs in parsed)


@main.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print the status as one JSON document.")
def status(config_path: str, as_json: bool) -> None:
    """Per source: what it follows, position, size, lag, last ack; per output: last success and errors."""
    import sqlite3

    from shipper.status import collect, render

    config = _load(config_path)
    try:
        doc = collect(config)
    except sqlite3.DatabaseError as e:  # damaged or unreadable: one line, what to do (as `run` says it)
        path = os.path.join(config.state_dir, "checkpoints.sqlite")
        click.echo(f"error: {path}: cannot read the checkpoint database ({e}); see 'Checkpoint database' in "
                   "docs/operations.md", err=True)
        sys.exit(2)
    if as_json:
        import orjson

        click.echo(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode())
    else:
        for line in render(doc):
            click.echo(line)


@main.command()
@config_option
@click.option("--source", "source_name", required=True, help="The source to start over, by its name.")
def reset(config_path: str, source_name: str) -> None:
    """Start one source over: remove its saved state (file positions, cursors) from the checkpoint
    database, so that it reads as on its first start (its read_from or start_position). The other
    sources keep theirs. Refused while an agent runs on the state_dir; prints what it removed."""
    import sqlite3

    from shipper.checkpoint import RECOVERY, StateDirError, StateDirLocked
    from shipper.checkpoint_db import DB_FILE, StateDirInUse, remove_source

    config = _load(config_path)
    db = os.path.join(config.state_dir, DB_FILE)
    try:
        rows = remove_source(config.state_dir, source_name)
    except StateDirInUse as e:  # (named as `run` names it)
        click.echo(f"error: {config.state_dir}: in use by {e.who}: stop it first; nothing was removed", err=True)
        sys.exit(2)
    except StateDirLocked as e:  # (another pid namespace's, a backup's, an ended agent's writer: each says what)
        click.echo(f"error: {e}; nothing was removed", err=True)
        sys.exit(2)
    except (StateDirError, sqlite3.Error) as e:
        click.echo(f"error: {db}: {e}; nothing was removed; {RECOVERY}", err=True)
        sys.exit(2)
    if not rows:
        names = [s.name for s in config.sources]
        if source_name in names:
            click.echo(f"{db}: source {source_name} has no saved state: it already starts as on its first start")
            return
        click.echo(f"error: {db}: no saved state for source {source_name!r}, and {config.path} names no such source "
                   f"(its sources: {', '.join(names) or 'none'}); nothing was removed", err=True)
        sys.exit(1)
    click.echo(f"{db}: removed the saved state of source {source_name} ({len(rows)} checkpoint(s)):")
    for key, value in rows:
        click.echo(f"  {_saved(key, value)}")
    click.echo(f"source {source_name} reads as on its first start at the next `shipper run`; the other sources "
               "keep their positions")


def _saved(key: str, value: bytes) -> str:
    """One saved checkpoint, as `reset` names what it removed: a file's position by its path."""
    import orjson

    try:
        v = orjson.loads(value)
    except orjson.JSONDecodeError:
        v = None
    if isinstance(v, dict) and isinstance(v.get("path"), str) and isinstance(v.get("offset"), int):
        gone = " (read to its end and gone)" if v.get("gone") else ""
        return f"{key}: file {v['path']}, read to byte {v['offset']}{gone}"
    shown = value[:80].decode("utf-8", "replace")
    return f"{key}: {shown}{'…' if len(value) > 80 else ''}"


@main.command()
def plugins() -> None:
    """List installed parsers, sources, outputs and setup commands, with the distribution each comes
    from; a plugin that fails to load or is refused says why (exit 1)."""
    from shipper import registry

    refused = False
    for kind, title in (("parser", "parsers"), ("source", "sources"), ("output", "outputs"), ("setup", "setup commands")):
        click.echo(f"{title}:")
        for p in registry.info(kind):
            try:
                registry.load(kind, p.name)
                why = ""
            except registry.PluginError as e:
                why, refused = f"\n    REFUSED: {e}", True
            click.echo(f"  {p.name:<20} {p.distribution} {p.version}  ({p.target}){why}")
    if refused:
        sys.exit(1)


@main.command()
@click.option("--key-file", "key_files", multiple=True, required=True,
              help="The integrity key (repeat for the keys of earlier periods after a rotation).")
@click.option("-c", "--config", "config_path", default=None, help="With --output: the config naming the output.")
@click.option("--output", "output_name", default=None,
              help="The output the trail is from: with FILES, what it stored; without, read back from its store.")
@click.option("--since", default=None, help="Reading back (-c CONFIG --output NAME): events from this ISO time on.")
@click.option("--workers", type=int, default=None, help="Processes reading FILES (default: the CPUs).")
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False))
def verify(key_files: tuple[str, ...], config_path: str | None, output_name: str | None, since: str | None,
           workers: int | None, files: tuple[str, ...]) -> None:
    """Check that every chain in FILES (JSON lines as shipped), or in what an output stored
    (-c CONFIG --output NAME), is intact from its first to its last attestation; exit 0 only then.
    Names each missing range, altered event, reordering, unknown key and loss the agent declared
    (docs/evidence.md)."""
    from shipper.integrity import load_verifying_keys
    from shipper.secrets import SecretError
    from shipper.verify import absent_chains, report_lines, verify_chain
    from shipper.verify_read import read_links

    if not files and not output_name:
        raise click.UsageError("give FILES, or -c CONFIG --output NAME")
    if files and (config_path or since):
        raise click.UsageError("-c and --since read a trail back from a store: give FILES or -c CONFIG --output NAME")
    try:
        keys = [key for k in key_files for key in load_verifying_keys(k)]
    except SecretError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    if not files:
        assert output_name is not None  # (checked above)
        chains, problems, unchained = _read_back(config_path, output_name, since, keys)
    else:
        chains, problems, unchained = read_links(files, keys, workers or os.cpu_count() or 1)
    intact = bool(chains) and not problems
    for p in problems:
        click.echo(p)
    if not chains:
        click.echo("no chained events in the input (was integrity on?)")
    reports = {}
    for name in sorted(chains):
        rep = reports[name] = verify_chain(name, chains[name], keys, ordered=bool(files), output=output_name)
        intact = intact and rep.intact
        for line in report_lines(rep):
            click.echo(line)
    for absent in absent_chains(reports, output_name):  # a chain none of whose links is in the input
        click.echo(absent)
        intact = False
    if unchained:  # nobody sealed them: an insertion, or another agent's events (NOT VERIFIED)
        click.echo(f"{unchained} events carry no chain (labels.shipper_chain, event.sequence, event.hash): "
                   "not sealed by the agent, so not proven")
        intact = False
    click.echo("verified: every chain intact" if intact else "NOT VERIFIED")
    sys.exit(0 if intact else 1)


def _read_back(config_path: str | None, output_name: str, since: str | None, keys: list):
    import threading

    from shipper import registry
    from shipper.config import default_config_path
    from shipper.plugin import OutputContext
    from shipper.verify import links_of

    config = _load(config_path or default_config_path())
    ocfg = next((o for o in config.outputs if o.name == output_name), None)
    if ocfg is None:
        click.echo(f"error: no output named {output_name!r} in {config.path}; outputs: "
                   f"{', '.join(o.name for o in config.outputs)}", err=True)
        sys.exit(2)
    output = registry.load("output", ocfg.type)(ocfg, OutputContext(output_name, threading.Event(), config.state_dir))
    try:
        chains, unchained = links_of(output.read_back(since), keys)
    except NotImplementedError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    except Exception as e:
        click.echo(f"error: reading back from output {output_name}: {type(e).__name__}: {e}", err=True)
        sys.exit(1)
    finally:
        output.close()
    return chains, [], unchained


if __name__ == "__main__":
    main()
