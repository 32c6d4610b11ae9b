"""``state list|show|rm|migrate``: read and edit the state file itself, never AWS.

``rm`` forgets a step without deleting anything, the way ``terraform state
rm`` does; ``migrate`` moves the state between a local file and S3 keeping
its serial and lineage.  Only an ``s3://`` location loads boto3.
"""

from __future__ import annotations

import fnmatch
import json
import sys
from typing import TYPE_CHECKING, Any

import click

from vivr_provision import log
from vivr_provision.cli.app import cli
from vivr_provision.cli.complete import complete_recorded_steps
from vivr_provision.cli.options import command, group_options
from vivr_provision.cli.state_access import StateAccess, store_at
from vivr_provision.errors import ConfigError, VivrError
from vivr_provision.output_values import suggestions
from vivr_provision.settings import CommandOptions

if TYPE_CHECKING:  # vivr_provision.state.* loads the state models: imported when a command runs
    from vivr_provision.state import State, StepRecord

#: What ``state show`` prints of a record, in this order (the token is an internal detail).
SHOWN_FIELDS = ("status", "resource_id", "origin", "started_at", "updated_at", "error",
                "observed", "retained", "written", "outputs")


@cli.group()
@group_options
def state() -> None:
    """Read or edit the state file (no AWS call, nothing created or deleted)."""


def _emit_json(document: Any) -> None:
    click.echo(log.redact(json.dumps(document, indent=2)))


def _no_state(access: StateAccess) -> str:
    return f"no state at {access.store.path}: nothing applied yet"


def _unknown_step(name: str, state_: State) -> ConfigError:
    close = suggestions(name, state_.steps)
    hint = f"; did you mean {close[0]}?" if close else \
        "; `vivr-provision state list` lists them"
    return ConfigError(f"no step {name!r} in the state{hint}")


# --------------------------------------------------------------------------- list


@state.command("list")
@command
def list_(options: CommandOptions) -> int:
    """List the steps recorded in state: status and resource id."""
    from vivr_provision.state.migrate import lineage

    access = StateAccess(options)
    current = access.load()
    rows = [{"step": name, "status": record.status, "resource_id": record.resource_id,
             "origin": record.origin, "updated_at": record.updated_at}
            for name, record in sorted(current.steps.items())]
    if options.output_format == "json":
        _emit_json({"state_file": str(access.store.path), "serial": current.serial,
                    "lineage": lineage(current), "steps": rows})
        return 0
    if not rows:
        click.echo(_no_state(access) if not access.store.exists()
                   else f"no steps recorded in {access.store.path}", err=True)
        return 0
    width = max(len(str(row["step"])) for row in rows)
    status_width = max(len(str(row["status"])) for row in rows)
    for row in rows:
        click.echo(log.redact(f"{row['step']:<{width}}  {row['status']:<{status_width}}  "
                              f"{row['resource_id'] or '-'}"))
    return 0


# --------------------------------------------------------------------------- show


def shown(record: StepRecord) -> dict[str, Any]:
    """The fields of a record ``state show`` prints, secret-looking values masked."""
    from vivr_provision.state.redaction import redact_value

    data = record.model_dump(mode="json")
    return {name: redact_value(data[name], name) if name != "outputs"
            else redact_value(data[name]) for name in SHOWN_FIELDS}


def _text(value: Any) -> str:
    if value in (None, [], {}):
        return "-"
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


@state.command()
@click.argument("step", shell_complete=complete_recorded_steps)
@command
def show(options: CommandOptions, step: str) -> int:
    """Show one step's record: status, id, outputs, origin, timestamps (secrets masked)."""
    access = StateAccess(options)
    current = access.load()
    record = current.steps.get(step)
    if record is None:
        raise _unknown_step(step, current)
    fields = shown(record)
    if options.output_format == "json":
        _emit_json({"step": step, **fields})
        return 0
    lines = [f"{'step':<11} = {step}"]
    lines += [f"{name:<11} = {_text(value)}" for name, value in fields.items()
              if name != "outputs"]
    outputs: dict[str, Any] = fields["outputs"]
    lines.append("outputs" + ("" if outputs else "     = -"))
    width = max((len(key) for key in outputs), default=0)
    lines += [f"  {key:<{width}} = {_text(value)}" for key, value in outputs.items()]
    click.echo(log.redact("\n".join(lines)))
    return 0


# --------------------------------------------------------------------------- rm

#: What the next apply does with a forgotten resource (``Step.find`` with no recorded id).
AFTER_RM = ("nothing was deleted in AWS: the next apply looks each resource up by its "
            "ownership tags (or its name) and adopts it, reported as `adopted`; if its vivr "
            "tags were removed, one found by tags is created again as a twin and one found "
            "by name makes the step fail until it is tagged again")


def _selected(patterns: tuple[str, ...], current: State) -> list[str]:
    """Recorded step names matching each pattern (exact or glob); an unmatched one is an error."""
    names: list[str] = []
    for pattern in patterns:
        matched = sorted(fnmatch.filter(current.steps, pattern)) if pattern not in current.steps \
            else [pattern]
        if not matched:
            raise _unknown_step(pattern, current)
        names += [name for name in matched if name not in names]
    return names


def _describe(name: str, record: StepRecord) -> str:
    if record.status in ("pending", "deleted"):
        return f"{name} ({record.status}: nothing in AWS)"
    return f"{name} ({record.status}, {record.resource_id or 'no id yet'})"


def _confirmed(names: list[str], current: State, yes: bool) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        raise ConfigError("state rm edits the state: confirm on a terminal or pass --yes")
    for name in names:
        click.echo(f"  - {_describe(name, current.steps[name])}", err=True)
    return click.confirm(f"Forget {len(names)} step(s) (resources stay in AWS)?", default=False,
                         err=True)


@state.command()
@click.argument("steps", nargs=-1, required=True, metavar="STEP...",
                shell_complete=complete_recorded_steps)
@click.option("--yes", "-y", "--auto-approve", "yes", is_flag=True,
              help="Do not ask for confirmation.")
@command
def rm(options: CommandOptions, steps: tuple[str, ...], yes: bool) -> int:
    """Forget STEP (glob patterns too) without deleting its resource in AWS."""
    access = StateAccess(options)
    if not access.store.exists():
        raise ConfigError(f"{_no_state(access)}; nothing to remove")
    with access.store.lock("state rm"):
        current = access.load()
        names = _selected(steps, current)
        if not _confirmed(names, current, yes):
            raise VivrError("state rm cancelled; nothing changed")
        written = sorted({entry.get("container", "?") for name in names
                          for entry in current.steps[name].written})
        described = [_describe(name, current.steps.pop(name)) for name in names]
        access.store.save(current)
    if options.output_format == "json":
        _emit_json({"removed": names, "serial": current.serial,
                    "state_file": str(access.store.path)})
        return 0
    click.echo(f"removed from {access.store.path} (serial {current.serial}):")
    for line in described:
        click.echo(f"  - {line}")
    click.echo(AFTER_RM)
    if written:
        click.echo(f"what they wrote into {', '.join(written)} is no longer journalled: "
                   "destroy will not recognise it as this tool's")
    return 0


# --------------------------------------------------------------------------- migrate


@state.command("migrate")
@click.option("--to", "destination", required=True, metavar="PATH|s3://BUCKET/KEY",
              help="Where to copy the state (the source is --state).")
@click.option("--force", is_flag=True, help="Replace a state already at the destination.")
@command
def migrate_(options: CommandOptions, destination: str, force: bool) -> int:
    """Copy the state to another file or S3 object, keeping its serial and lineage."""
    from vivr_provision.state.migrate import lineage, migrate

    access = StateAccess(options)
    target = store_at(destination, options, access.config)
    copied = migrate(access.store, target, access.config.project, access.config.environment,
                     force=force, reread=lambda: store_at(destination, options, access.config))
    if options.output_format == "json":
        _emit_json({"from": str(access.store.path), "to": destination,
                    "serial": copied.serial, "lineage": lineage(copied),
                    "steps": len(copied.steps)})
        return 0
    click.echo(f"copied {len(copied.steps)} step(s), serial {copied.serial}, lineage "
               f"{lineage(copied)}, from {access.store.path} to {destination}")
    click.echo(f"{access.store.path} is left as it was: use --state {destination} from now on")
    return 0


__all__ = ["state"]
