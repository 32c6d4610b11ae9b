"""``cost`` and ``check``: answers from the config alone, no AWS call."""

from __future__ import annotations

from vivr_provision.check import print_check, run_check
from vivr_provision.cli.app import cli
from vivr_provision.cli.options import command
from vivr_provision.cost import cost_lines, cost_report
from vivr_provision.render import console, emit_json, rows_table
from vivr_provision.settings import CommandOptions, load_effective_config


@cli.command()
@command
def cost(options: CommandOptions) -> int:
    """Print the monthly cost estimate of the environment (no AWS call)."""
    config = load_effective_config(options)
    report = cost_report(config)
    if options.output_format == "json":
        emit_json(report)
        return 0
    currency = report["currency"]
    rows = []
    for line in cost_lines(config):
        note = ""
        if line.recomputed is not None and abs(line.recomputed - line.monthly) >= 0.01:
            note = f"{line.recomputed:.2f} at {report['hours_per_month']} h"
        rows.append([line.category, line.service, line.size, f"{line.quantity:g}",
                     f"{line.unit_cost:g}/{line.unit}", f"{line.monthly:.2f}", note])
    out = console()
    out.print(rows_table(
        f"monthly cost estimate, {config.project} {config.environment} ({currency})",
        ["category", "service", "size", "qty", "unit cost", "monthly", "note"], rows))
    for category, total in report["by_category"].items():
        out.print(f"  {category:<18} {total:>9.2f}", highlight=False)
    out.print(f"total per month: {report['total_monthly']:.2f} {currency}", highlight=False)
    return 0


@cli.command()
@command
def check(options: CommandOptions) -> int:
    """Prove the traffic flows and permissions from the config alone (no AWS call).

    Exit 0 when every flow, permission and lint finding holds, 1 naming each
    that does not.  plan and apply run the same check first.
    """
    report = run_check(load_effective_config(options))
    print_check(report, options.output_format)
    return 0 if report.ok else 1
