"""SIGHUP: read the config again, work out what changed, apply it to the running pipeline.

A source is kept (same thread, tracker and position) when its own block is unchanged and it is
routed to the same outputs, none of them changed. Anything else about it means a restart: it is
stopped, its in-flight batches delivered (or, past shutdown_timeout, those no output was handed
taken back, and those being sent waited for), and it starts again from its checkpoint — nothing
lost, nothing repeated (shipper.reload_apply: apply, finish_restarts). An invalid config is refused whole; the running one carries on.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from shipper import fdlimit
from shipper.config import Config, ConfigError, load_config
from shipper.config_base import OutputConfig

log = logging.getLogger("shipper.reload")


class ReloadRefused(Exception):
    """The new config cannot be applied as a reload (told before anything changes)."""


class ReloadError(Exception):
    """Pipeline.apply could not apply the plan (an output could not be made): nothing was changed."""


@dataclass
class ReloadPlan:
    sources_added: list[str] = field(default_factory=list)
    sources_removed: list[str] = field(default_factory=list)
    sources_restarted: list[str] = field(default_factory=list)
    sources_kept: list[str] = field(default_factory=list)
    outputs_added: list[str] = field(default_factory=list)
    outputs_removed: list[str] = field(default_factory=list)
    outputs_replaced: list[str] = field(default_factory=list)
    outputs_kept: list[str] = field(default_factory=list)
    # Sources that will send to an output this reload adds (a renamed output's new name, say): that output
    # lacks what a removed output held, so those batches are read again for it (shipper.reload_apply).
    sources_gaining: list[str] = field(default_factory=list)
    # Old name -> new name of each removed output an added one continues: the same block under another name
    # (same type, same server and settings). The events the old name stored are noted for the new name, so a
    # re-read does not send them to that server again (shipper.reload_apply). A replaced output whose name now
    # names another server counts as removed and added here: names swapped make a permutation (a -> b, b -> a).
    outputs_renamed: dict[str, str] = field(default_factory=dict)
    # Per restarted source: the outputs it will send to that store where none of its outputs did (added, or a name
    # now given to another server; not a renamed output's new name). Handed none of its batches in flight, they are
    # owed every one not completed at the reload: read again for them only (shipper.reload_apply).
    owed_outputs: dict[str, list[str]] = field(default_factory=dict)
    # The agent's own settings the new config changes (logging, http, shutdown_timeout, host_name, integrity): a
    # reload that changed only these was said to have changed nothing ("reloaded: nothing changed"), the new log
    # format already in force.
    settings_changed: list[str] = field(default_factory=list)

    def changes(self) -> dict[str, str]:
        """Log fields: only what changed, names joined by commas (a rename as old->new)."""
        out = {}
        for k, v in self.__dict__.items():
            if k == "outputs_renamed":
                if v:
                    out[k] = ",".join(f"{old}->{new}" for old, new in v.items())
            elif v and not k.endswith("_kept") and k not in ("sources_gaining", "owed_outputs"):
                out[k] = ",".join(v)
        return out


def _renamed(removed: list[OutputConfig], added: list[OutputConfig]) -> dict[str, str]:
    """Old name -> new name of each removed output whose block, but for its name (and the other keys of
    NOT_WHERE), is that of exactly one added output, and that one's of it alone (two outputs to one
    server renamed at once are not told apart: each is a new output)."""
    gone = {o.name: o.where() for o in removed}  # (each block dumped and hashed once)
    came = {o.name: o.where() for o in added}
    out = {}
    for old, where in gone.items():
        same = [new for new, w in came.items() if where and w == where]
        if len(same) == 1 and list(gone.values()).count(where) == 1:
            out[old] = same[0]
    return out


def routed_to(tag: str, config: Config) -> set[str]:
    """The names of the outputs `config` sends events tagged `tag` to."""
    return {o.name for o in config.outputs if fnmatchcase(tag, o.match)}


def _owed(old_t: set[str], new_t: set[str], old_out: dict[str, OutputConfig], new_out: dict[str, OutputConfig]
          ) -> list[str]:
    """Of a source's outputs in the new config (`new_t`), those that store where none of its old ones (`old_t`)
    stored: an output kept, or renamed or changed only in how it delivers, stores where it did. One whose block
    cannot be told (where() is "") is owed unless kept."""
    stored_at = {old_out[o].where() for o in old_t} - {""}
    return sorted(o for o in new_t if not (o in old_t and old_out[o] == new_out[o])
                  and new_out[o].where() not in stored_at)


def plan_reload(old: Config, new: Config) -> ReloadPlan:
    if new.state_dir != old.state_dir:
        raise ReloadRefused(f"state_dir changed ({old.state_dir} -> {new.state_dir}): that needs a restart")
    plan = ReloadPlan()
    old_out = {o.name: o for o in old.outputs}
    new_out = {o.name: o for o in new.outputs}
    for name, cfg in new_out.items():
        if name not in old_out:
            plan.outputs_added.append(name)
        elif cfg != old_out[name]:
            plan.outputs_replaced.append(name)
        else:
            plan.outputs_kept.append(name)
    plan.outputs_removed = [n for n in old_out if n not in new_out]
    # A name kept for another server (two names swapped, an old name given to a new server) is, for the notes of
    # what was stored, an output gone (where it stored) and one come (where it stores now): the notes follow
    # where, not the name (as at a start: SourceRunner._carry_renamed_notes).
    moved = [n for n in plan.outputs_replaced if old_out[n].where() != new_out[n].where()]
    plan.outputs_renamed = _renamed([old_out[n] for n in plan.outputs_removed + moved],
                                    [new_out[n] for n in plan.outputs_added + moved])
    touched = set(plan.outputs_replaced) | set(plan.outputs_removed)
    host_changed = new.settings.host_name != old.settings.host_name
    plan.settings_changed = [k for k in type(new.settings).model_fields if k not in ("state_dir", "sources", "outputs")
                             and getattr(new.settings, k) != getattr(old.settings, k)]

    old_src = {s.name: s for s in old.sources}
    for src in new.sources:
        prev = old_src.get(src.name)
        if prev is None:
            plan.sources_added.append(src.name)
            continue
        old_t, new_t = routed_to(prev.effective_tag, old), routed_to(src.effective_tag, new)
        if src != prev or host_changed or old_t != new_t or (old_t & touched):
            plan.sources_restarted.append(src.name)
            if owed := _owed(old_t, new_t, old_out, new_out):
                plan.owed_outputs[src.name] = owed
        else:
            plan.sources_kept.append(src.name)
    new_names = {s.name for s in new.sources}
    plan.sources_removed = [n for n in old_src if n not in new_names]
    plan.sources_gaining = [s.name for s in new.sources if routed_to(s.effective_tag, new) & set(plan.outputs_added)]
    return plan


# Values after these keys are masked before a config error is logged or put in STATUS=.
_SECRET_KEY = re.compile(r"(password|passwd|secret|token|api_key|apikey|credential|auth)", re.I)
_GOT = re.compile(r"\(got .*\)$")


def redact_problem(text: str) -> str:
    """A config problem names file, line and key; if the key looks secret, drop the value shown."""
    head, _, _ = text.partition(": ")
    if _SECRET_KEY.search(text.split(": ")[1] if text.count(": ") >= 2 else head):
        return _GOT.sub("(value hidden)", text)
    return text


@dataclass
class ReloadResult:
    ok: bool
    message: str
    config: Config | None = None
    plan: ReloadPlan | None = None
    problems: list[str] = field(default_factory=list)


def reload(pipeline, path: str, wait_slice=None) -> ReloadResult:
    """Load `path`, and if valid apply it to `pipeline`. Never raises: the old config keeps running."""
    try:
        new = load_config(path)
    except ConfigError as e:
        problems = [redact_problem(str(p)) for p in e.problems]
        for p in problems:
            log.error("reload refused: invalid config; the running config is kept", extra={"problem": p})
        return ReloadResult(False, f"reload refused: {problems[0]}" + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""))
    except Exception as e:  # an unreadable file, a plugin that fails to import: same answer
        log.error("reload refused; the running config is kept", extra={"error": f"{type(e).__name__}: {e}"})
        return ReloadResult(False, f"reload refused: {type(e).__name__}: {e}")
    too_few = fdlimit.too_few_for(new)
    if too_few is not None:  # (its sources would die making their watchers)
        log.error("reload refused; the running config is kept", extra={"error": too_few})
        return ReloadResult(False, f"reload refused: {too_few}")
    try:
        plan = plan_reload(pipeline.config, new)
    except ReloadRefused as e:
        log.error("reload refused; the running config is kept", extra={"error": str(e)})
        return ReloadResult(False, f"reload refused: {e}")
    old = pipeline.config
    fdlimit.take(new)  # (before its sources start: their tailers' budgets of files are shares of what it leaves)
    try:
        problems = pipeline.apply(new, plan, wait_slice)
    except ReloadError as e:
        fdlimit.take(old)
        log.error("reload refused; the running config is kept", extra={"error": str(e)})
        return ReloadResult(False, f"reload refused: {e}")
    # The sources it started say `reloaded` only once they have looked (a path new to them: its backups are history).
    pipeline.await_first_looks("reloaded", (lambda: wait_slice(0.0)) if wait_slice is not None else (lambda: False))
    changes = plan.changes()
    if problems:
        log.warning("reloaded with problems", extra={**changes, "problems": "; ".join(problems)})
        return ReloadResult(True, f"reloaded with problems: {problems[0]}", new, plan, problems)
    log.info("reloaded" if changes else "reloaded: nothing changed", extra=changes)
    return ReloadResult(True, "reloaded", new, plan)
