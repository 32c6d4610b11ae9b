"""``cost`` for people: the spec's table, the computed one, what the spec leaves out, why.

Tables are sized for an 80-column terminal: long cells fold inside their
column instead of squeezing a neighbour to nothing, and the money column
never folds.  Only rich is imported here (no engine, no boto3).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

from vivr_provision.cost.compare import Comparison

#: Marks a computed line the spec's table has no line for.
ADDED = "+"
#: Marks a price not confirmed against a stored copy of its source (prices.yaml verified: false).
UNVERIFIED = "*"


def cost_console() -> Console:
    """stdout: the terminal's width, else $COLUMNS, else wide (logs, pipes)."""
    if sys.stdout.isatty():
        return Console(emoji=False, highlight=False)
    width = int(os.environ.get("COLUMNS", "0") or 0) or 200
    return Console(width=width, no_color=True, emoji=False, highlight=False)


def print_json(document: dict[str, Any]) -> None:
    """One JSON document on stdout (the report holds no secret: names and prices only)."""
    sys.stdout.write(json.dumps(document, indent=2) + "\n")
    sys.stdout.flush()


def _table(title: str) -> Table:
    return Table(title=title, title_justify="left", show_edge=False, pad_edge=False,
                 title_style="bold", header_style="bold")


def _money(value: float) -> str:
    return f"{value:,.2f}"


def _signed(value: float) -> str:
    return f"{value:+,.2f}"


def spec_table(result: Comparison, hours: int) -> Table:
    table = _table("The spec's table (config cost.line_items)")
    table.add_column("service", overflow="fold", max_width=16)
    table.add_column("size", overflow="fold", max_width=15)
    table.add_column("qty", justify="right", no_wrap=True)
    table.add_column("unit cost", overflow="fold", max_width=12)
    table.add_column("monthly", justify="right", no_wrap=True)
    table.add_column(f"at {hours} h", justify="right", no_wrap=True)
    for line in result.spec:
        recomputed = ""
        if line.recomputed is not None and abs(line.recomputed - line.monthly) >= 0.01:
            recomputed = _money(line.recomputed)
        table.add_row(line.service, line.size, f"{line.quantity:g}",
                      f"{line.unit_cost:g}/{line.unit}", _money(line.monthly), recomputed)
    return table


def computed_table(result: Comparison, source: str) -> Table:
    table = _table(f"Computed from {source} (AWS on-demand, USD, {result.table.checked})")
    table.add_column("", no_wrap=True, width=1)
    table.add_column("line", overflow="fold", ratio=2)
    table.add_column("quantity x unit price", overflow="fold", ratio=3)
    table.add_column("monthly", justify="right", no_wrap=True)
    for line in result.computed:
        mark = "" if result.reprices(line) else ADDED
        star = "" if line.verified else UNVERIFIED
        table.add_row(mark, f"{line.service}\n[dim]{line.detail}[/dim]",
                      f"{line.derivation} x {line.unit_price:g}{star}/{line.unit}",
                      _money(line.monthly))
    return table


def left_out_table(result: Comparison) -> Table:
    table = _table(f"{ADDED} What the tool builds that the spec's table leaves out")
    table.add_column("line", overflow="fold", ratio=2)
    table.add_column("what", overflow="fold", ratio=3)
    table.add_column("monthly", justify="right", no_wrap=True)
    for line in result.left_out:
        table.add_row(line.service, line.detail, _money(line.monthly))
    table.add_section()
    table.add_row("total", "", _money(result.left_out_total))
    return table


def difference_table(result: Comparison) -> Table:
    table = _table("Where the difference comes from")
    table.add_column("spec line repriced (why)", overflow="fold", ratio=1)
    table.add_column("spec", justify="right", no_wrap=True)
    table.add_column("computed", justify="right", no_wrap=True)
    table.add_column("difference", justify="right", no_wrap=True)
    for row in result.repriced:
        if row.difference:
            reason = f"\n[dim]{row.reason}[/dim]" if row.reason else ""
            table.add_row(f"{row.spec_line}{reason}", _money(row.spec_monthly),
                          _money(row.computed_monthly), _signed(row.difference))
    table.add_row(f"{ADDED} lines the spec leaves out (listed above)", "",
                  _money(result.left_out_total), _signed(result.left_out_total))
    table.add_section()
    table.add_row("total", _money(result.spec_total), _money(result.computed_total),
                  _signed(result.difference))
    return table


def print_cost(result: Comparison, *, project: str, environment: str, source: str,
               hours: int, currency: str, out: Console | None = None) -> None:
    """Both tables, the lines the spec leaves out, the difference, and what is assumed."""
    console = out or cost_console()
    console.print(f"Monthly cost of {project} {environment}, {currency} (no AWS call)\n")
    console.print(spec_table(result, hours))
    console.print(f"total per month: {_money(result.spec_total)} {currency} "
                  "(the spec's estimate)\n")
    console.print(computed_table(result, source))
    console.print(f"computed total per month: {_money(result.computed_total)} {currency}\n")
    console.print(left_out_table(result))
    console.print()
    console.print(difference_table(result))
    console.print()
    console.print(f"{ADDED} the spec's table has no line for it.  {UNVERIFIED} AWS's published "
                  "price, not confirmed against a stored copy of its source "
                  "(vivr_provision/cost/prices.yaml names each source).")
    console.print("Volumes the config cannot give:")
    for name, usage in result.table.usage.items():
        console.print(f"  {name} = {usage.value:g}: {usage.origin}")
    console.print("Not estimated (per use, no volume anywhere):")
    for item in result.table.not_estimated:
        console.print(f"  {item}")
