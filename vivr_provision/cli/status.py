"""``status`` and ``graph``: what the state records and how the steps depend."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from vivr_provision.cli.app import cli
from vivr_provision.cli.options import command
from vivr_provision.log import redact
from vivr_provision.settings import CommandOptions

if TYPE_CHECKING:  # steps, state and rich load when a command runs: --help stays fast
    from vivr_provision.state import StepRecord


@cli.command()
@click.option("--refresh", is_flag=True,
              help="Read AWS, report drift (missing resources, changed settings) and "
                   "record it in state.")
@click.option("--detailed-exitcode", is_flag=True,
              help="With --refresh: exit 0 in sync, 2 drift found, 1 on any error.")
@click.option("--all", "show_all", is_flag=True,
              help="With --refresh: list steps in sync too.")
@command
def status(options: CommandOptions, *, refresh: bool, detailed_exitcode: bool,
           show_all: bool) -> int:
    """Show recorded state (no AWS call unless --refresh)."""
    from vivr_provision.cli.run import Run, title
    from vivr_provision.render import console, emit_json, layout_width, print_report

    run = Run(options)
    if refresh:
        with run.store.lock("status --refresh"):  # it records what it found
            state = run.load_state()
            account = run.bind_account(state)
            report = run.engine(state).refresh()
        print_report(report, title(run, "status --refresh", account), options.output_format,
                     show_all=show_all)
        if report.failed or report.interrupted:
            return 1
        drifted = any(r.action in ("drifted", "missing") for r in report.results)
        return 2 if detailed_exitcode and drifted else 0
    state = run.load_state()
    rows = [_row(name, state.steps.get(name)) for name in run.graph.order]
    if options.output_format == "json":
        emit_json({"environment": state.environment, "account_id": state.account_id,
                   "region": state.region, "state_file": str(run.store.path),
                   "exists": run.store.exists(), "serial": state.serial,
                   "lineage": state.lineage, "steps": rows})
        return 0
    out = console()
    if not run.store.exists():
        out.print(f"no state at {run.store.path}: nothing applied yet")
    out.print(f"status {state.project} {state.environment} ({run.store.path}, "
              f"serial {state.serial})", soft_wrap=True)
    for line in status_lines(rows, layout_width(out)):
        out.print(line, soft_wrap=True)
    return 0


def _row(name: str, record: StepRecord | None) -> dict[str, Any]:
    """One step's status; a refresh that found it missing or drifted since its
    last transition is what ``status`` shows."""
    if record is None:
        return {"step": name, "status": "pending", "resource_id": None, "updated_at": None,
                "error": None, "retained": [], "observed": None}
    observed = record.observed
    shown: str = record.status
    if observed is not None and observed.result != "ok":
        shown = observed.result
    return {"step": name, "status": shown, "resource_id": record.resource_id,
            "updated_at": record.updated_at, "error": record.error,
            "retained": list(record.retained),
            "observed": observed.model_dump() if observed else None}


def status_lines(rows: list[dict[str, Any]], width: int) -> list[str]:
    """One line per step (name, status, id, time), details wrapped beneath.

    Names are never cut (they are what ``--target`` takes); the id gets the
    room that is left, shortened in the middle, and the time drops its year
    below 100 columns.
    """
    from rich.markup import escape

    from vivr_provision.render import STYLES, short_id

    name_width = min(max((len(r["step"]) for r in rows), default=10), max(width // 2 - 6, 16))
    lines = []
    for row in rows:
        stamp = (row["updated_at"] or "")[:16].replace("T", " ")
        if width < 100:
            stamp = stamp[5:]
        name = f"{row['step']:<{name_width}}"
        room = width - len(name) - 2 - 10 - len(stamp) - 2
        rid = short_id(row["resource_id"], room) if row["resource_id"] and room >= 6 else "-"
        style = STYLES.get(row["status"], "")
        status = f"[{style}]{row['status']:<9}[/]" if style else f"{row['status']:<9}"
        pad = max(width - len(name) - 2 - 10 - len(rid) - len(stamp), 1)
        lines.append(f"{escape(name)}  {status} {escape(rid)}{' ' * pad}{stamp}")
        details = ([row["error"]] if row["error"] else []) + \
            [f"kept: {k}" for k in row["retained"]]
        if row["observed"] and row["observed"]["result"] != "ok":
            details.append(f"refresh at {row['observed']['at']} found it {row['status']}")
            details += row["observed"]["changes"]
        for detail in details:
            lines.append("      " + escape(redact(detail)))
    return lines


@cli.command()
@click.option("--format", "fmt", type=click.Choice(["text", "dot", "json"]), default="text",
              show_default=True)
@command
def graph(options: CommandOptions, fmt: str) -> int:
    """Print the step graph (steps in apply order with their dependencies)."""
    from vivr_provision.cli.run import Run

    run = Run(options)
    order = run.graph.order
    if fmt == "json" or options.output_format == "json":
        from vivr_provision.render import emit_json  # rich: only for JSON here

        emit_json({"steps": [{"step": n, "depends_on": sorted(run.graph.deps[n]),
                              "service": run.graph.steps[n].service} for n in order]})
    elif fmt == "dot":
        lines = ["digraph vivr {", "  rankdir=LR;"]
        lines += [f'  "{d}" -> "{n}";' for n in order for d in sorted(run.graph.deps[n])]
        lines += [f'  "{n}";' for n in order if not run.graph.deps[n]]
        click.echo("\n".join([*lines, "}"]))
    else:
        for name in order:
            deps = sorted(run.graph.deps[name])
            click.echo(f"{name}" + (f"  <- {', '.join(deps)}" if deps else ""))
    return 0
