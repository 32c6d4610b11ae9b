"""``status`` and ``graph``: what the state records and how the steps depend."""

from __future__ import annotations

from typing import Any

import click

from vivr_provision.cli.app import cli
from vivr_provision.cli.options import command
from vivr_provision.cli.run import Run, title
from vivr_provision.render import console, emit_json, print_report, rows_table
from vivr_provision.settings import CommandOptions


@cli.command()
@click.option("--refresh", is_flag=True,
              help="Read AWS and report drift (missing resources, changed settings).")
@command
def status(options: CommandOptions, refresh: bool) -> int:
    """Show recorded state (no AWS call unless --refresh)."""
    run = Run(options)
    state = run.load_state()
    if refresh:
        account = run.bind_account(state)
        report = run.engine(state).refresh()
        print_report(report, title(run, "status --refresh", account), options.output_format)
        return 1 if report.failed or report.interrupted else 0
    rows: list[dict[str, Any]] = []
    for name in run.graph.order:
        record = state.steps.get(name)
        rows.append({
            "step": name,
            "status": record.status if record else "pending",
            "resource_id": record.resource_id if record else None,
            "updated_at": record.updated_at if record else None,
            "error": record.error if record else None,
            "retained": list(record.retained) if record else [],
        })
    if options.output_format == "json":
        emit_json({"environment": state.environment, "account_id": state.account_id,
                   "region": state.region, "state_file": str(run.store.path),
                   "exists": run.store.exists(), "serial": state.serial, "steps": rows})
        return 0
    out = console()
    if not run.store.exists():
        out.print(f"no state at {run.store.path}: nothing applied yet", highlight=False)
    out.print(rows_table(
        f"status {state.project} {state.environment} ({run.store.path}, serial {state.serial})",
        ["step", "status", "resource", "updated", "error"],
        [[str(r["step"]), str(r["status"]), r["resource_id"] or "-", r["updated_at"] or "-",
          r["error"] or "; ".join(f"kept: {k}" for k in r["retained"])] for r in rows]))
    return 0


@cli.command()
@click.option("--format", "fmt", type=click.Choice(["text", "dot", "json"]), default="text",
              show_default=True)
@command
def graph(options: CommandOptions, fmt: str) -> int:
    """Print the step graph (steps in apply order with their dependencies)."""
    run = Run(options)
    order = run.graph.order
    if fmt == "json" or options.output_format == "json":
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
