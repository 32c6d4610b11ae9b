"""Human and machine rendering of run reports and state.

Text goes through rich (tables that degrade to plain text when stdout is
not a terminal); ``--output json`` prints exactly one JSON document.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.table import Table

from vivr_provision.engine import RunReport, StepResult
from vivr_provision.log import redact

STYLES = {
    "created": "green", "updated": "yellow", "adopted": "cyan", "deleted": "red",
    "failed": "bold red", "blocked": "red", "interrupted": "magenta", "create": "green",
    "update": "yellow", "replace": "bold yellow", "delete": "red", "missing": "bold red",
    "drifted": "yellow", "ok": "green", "recovered": "green",
}


def console() -> Console:
    """stdout console; wide when not a terminal so tables do not wrap in logs."""
    if sys.stdout.isatty():
        return Console(emoji=False)
    return Console(width=200, no_color=True, emoji=False)


def emit_json(document: Any) -> None:
    sys.stdout.write(redact(json.dumps(document, indent=2, sort_keys=False, default=str)) + "\n")
    sys.stdout.flush()


def _detail(result: StepResult) -> str:
    parts = []
    if result.error:
        parts.append(result.error)
    parts.extend(result.changes)
    if result.retained:
        parts.append(f"kept {len(result.retained)} (see below)")
    return redact("; ".join(parts))


def report_table(report: RunReport, title: str) -> Table:
    table = Table(title=title, title_justify="left", show_edge=False)
    table.add_column("step", no_wrap=True)
    table.add_column("action", no_wrap=True)
    table.add_column("resource", no_wrap=True)
    table.add_column("time", justify="right", no_wrap=True)
    table.add_column("detail", overflow="fold")
    for result in report.results:
        style = STYLES.get(result.action, "")
        table.add_row(
            result.step,
            f"[{style}]{result.action}[/]" if style else result.action,
            result.resource_id or "-",
            f"{result.duration_s:.1f}s" if result.duration_s else "",
            _detail(result),
        )
    return table


def summary_line(report: RunReport) -> str:
    counts = ", ".join(f"{n} {a}" for a, n in sorted(report.counts().items()))
    state = "interrupted" if report.interrupted else ("ok" if report.ok else "FAILED")
    line = f"{report.command}: {state} in {report.duration_s:.1f}s ({counts or 'nothing to do'})"
    if report.retries:
        line += "; AWS calls retried: " + ", ".join(f"{n} {service}"
                                                    for service, n in report.retries.items())
    return line


def print_report(report: RunReport, title: str, output: str) -> None:
    if output == "json":
        emit_json(report.as_dict())
        return
    out = console()
    out.print(report_table(report, title))
    kept = [(r.step, line) for r in report.results for line in r.retained]
    if kept:
        out.print("Kept on purpose (recoverable, not deleted):", highlight=False)
        for step, line in kept:
            out.print(f"  {step}: {redact(line)}", highlight=False, soft_wrap=True)
    notes = [(r.step, line) for r in report.results for line in r.notes]
    if notes:
        out.print("Notes:", highlight=False)
        for step, line in notes:
            out.print(f"  {step}: {redact(line)}", highlight=False, soft_wrap=True)
    out.print(summary_line(report), highlight=False)


def rows_table(title: str, columns: Iterable[str], rows: Iterable[Iterable[str]]) -> Table:
    table = Table(title=title, title_justify="left", show_edge=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(redact(str(cell)) for cell in row))
    return table
