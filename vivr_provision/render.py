"""Human and machine rendering of plans, run reports and state.

Text is a list of steps, one line each with an action marker
(``+`` create, ``~`` update, ``-/+`` replace, ``-`` delete), the changed
settings beneath (``field: old → new``) and one summary line, the way
``terraform plan`` reads.  Only steps that change are listed unless
``--all``: a no-change run of 107 steps is one line.  Lines are fitted to
the terminal: ids are shortened in the middle, settings wrap under their
step.  ``--output json`` prints exactly one JSON document.
"""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vivr_provision.log import redact

if TYPE_CHECKING:
    from vivr_provision.engine import RunReport, StepResult
    from vivr_provision.plan import Plan, PlannedStep

STYLES = {
    "created": "green", "recovered": "green", "updated": "yellow", "adopted": "cyan",
    "replaced": "bold yellow", "deleted": "red", "failed": "bold red", "refused": "bold red",
    "blocked": "red", "interrupted": "magenta", "skipped": "magenta", "create": "green",
    "update": "yellow", "replace": "bold yellow", "delete": "red", "missing": "bold red",
    "drifted": "yellow", "ok": "green",
}
#: The marker of each run result (a plan's markers are ``plan.MARKERS``).
RESULT_MARKERS = {
    "created": "+", "recovered": "+", "adopted": "=", "updated": "~", "replaced": "-/+",
    "deleted": "-", "failed": "!", "refused": "!", "blocked": "!", "interrupted": "!",
    "skipped": "!", "drifted": "~", "missing": "-", "unchanged": " ", "absent": " ",
    "ok": " ",
}
#: Results a report lists without ``--all`` (the rest did nothing).
NOTEWORTHY = frozenset({"created", "recovered", "adopted", "updated", "replaced", "deleted",
                        "failed", "refused", "blocked", "interrupted", "skipped", "drifted",
                        "missing"})


def console() -> Console:
    """stdout console; wide when not a terminal so lines do not wrap in logs."""
    if sys.stdout.isatty():
        return Console(emoji=False, highlight=False)
    return Console(width=200, no_color=True, emoji=False, highlight=False)


def layout_width(out: Console) -> int:
    """The width lines are fitted to: the terminal's, or 120 in a log file."""
    return out.width if out.is_terminal else 120


def emit_json(document: Any) -> None:
    sys.stdout.write(redact(json.dumps(document, indent=2, sort_keys=False, default=str)) + "\n")
    sys.stdout.flush()


# -- fitting lines -----------------------------------------------------------
def short_id(resource_id: str, width: int) -> str:
    """An id that fits ``width``: an ARN loses its ``arn:aws:svc:region:account:``
    prefix, then the middle goes (the start and the end tell ids apart)."""
    text = resource_id
    if text.startswith("arn:") and len(text) > width:
        parts = text.split(":", 5)
        text = parts[5] if len(parts) == 6 else text
    if len(text) <= width:
        return text
    if width <= 3:
        return text[:max(width, 0)]
    head = (width - 1) // 2
    return text[:head] + "…" + text[len(text) - (width - 1 - head):]


def _step_line(marker: str, style: str, step: str, resource_id: str | None, tail: str, *,
               name_width: int, width: int) -> str:
    # A name longer than the column is never cut (it is what --target takes): the id
    # gets what is left after the name as printed.
    room = width - 4 - max(name_width, len(step)) - 2 - (len(tail) + 2 if tail else 0)
    rid = short_id(resource_id, room) if resource_id and room >= 8 else ""
    body = f"{step:<{name_width}}  {rid}".rstrip()
    pad = max(width - 4 - len(body) - len(tail), 2) if tail else 0
    marked = f"[{style}]{marker:>3}[/]" if style else f"{marker:>3}"
    return f"{marked} {escape(body)}{' ' * pad}{escape(tail)}"


def _detail_lines(lines: Iterable[str], width: int, prefix: str = "") -> list[str]:
    out = []
    for line in lines:
        wrapped = textwrap.wrap(prefix + redact(line), width=max(width - 6, 20),
                                subsequent_indent="    ", break_long_words=True,
                                break_on_hyphens=False) or [""]
        out += ["      " + escape(part) for part in wrapped]
    return out


def _name_width(steps: Iterable[str], width: int) -> int:
    return min(max((len(s) for s in steps), default=10), max(width // 2 - 4, 16))


# -- plans -------------------------------------------------------------------
def plan_lines(plan: Plan, *, show_all: bool = False, width: int = 80) -> list[str]:
    """The plan as text lines (rich markup), header to summary."""
    from vivr_provision.plan import MARKERS

    shown = plan.steps if show_all else plan.changed
    lines = [escape(part) for part in textwrap.wrap(
        f"{plan.kind} plan: {plan.project} {plan.environment}, {plan.region}, "
        f"account {plan.account_id}, state serial {plan.state_serial}", width=width)]
    if plan.targets:
        lines.append(f"targets: {', '.join(plan.targets)}")
    lines.append("")
    name_width = _name_width((s.step for s in shown), width)
    for step in shown:
        # A create "after its dependencies" says nothing a "+" does not: JSON keeps it.
        lines.append(_step_line(MARKERS[step.action], STYLES.get(step.action, ""), step.step,
                                step.resource_id, "", name_width=name_width, width=width))
        lines += _detail_lines((c.line() for c in step.settings), width)
        lines += _detail_lines(step.notes, width, prefix="note: ")
        lines += [f"[bold red]{line}[/]"
                  for line in _detail_lines(step.blockers, width, prefix="! ")]
    if shown:
        lines.append("")
    unapplied = [(s.step, line) for s in plan.steps for line in s.unapplied]
    if unapplied:
        lines.append("Config values apply leaves alone:")
        lines += _detail_lines((f"{step}: {line}" for step, line in unapplied), width)
        lines.append("")
    if not show_all:
        quiet = sum(len(s.notes) for s in plan.steps if s.action == "no-op")
        if quiet:
            lines += [f"{quiet} note(s) on unchanged steps: --all lists them.", ""]
    lines.append(f"[bold]{plan.summary()}[/]")
    return lines


def print_plan(plan: Plan, output: str, *, show_all: bool = False) -> None:
    if output == "json":
        emit_json(plan.as_dict())
        return
    out = console()
    for line in plan_lines(plan, show_all=show_all, width=layout_width(out)):
        out.print(line, soft_wrap=True)


def plan_prompt_counts(plan: Plan) -> str:
    """"2 to add, 1 to replace" for prompts: the non-zero counts only."""
    from vivr_provision.plan import SUMMARY

    counts = plan.counts()
    return ", ".join(f"{counts[a]} {w}" for a, w in SUMMARY if counts[a]) or "no changes"


def blocked_lines(steps: Iterable[PlannedStep]) -> list[str]:
    return [f"{s.step}: {line}" for s in steps for line in s.blockers]


# -- run reports -------------------------------------------------------------
def _result_tail(result: StepResult) -> str:
    """``created   2.1s``: fixed widths, so results and times line up in a column."""
    took = f"{result.duration_s:.1f}s" if result.duration_s else ""
    return f"{result.action:<9}{took:>7}"


def report_lines(report: RunReport, title: str, *, show_all: bool = False,
                 width: int = 80) -> list[str]:
    """A run's results as text lines (rich markup): what changed, what failed, the summary."""
    shown = [r for r in report.results if show_all or r.action in NOTEWORTHY]
    lines = [title, ""]
    name_width = _name_width((r.step for r in shown), width)
    for result in shown:
        lines.append(_step_line(RESULT_MARKERS.get(result.action, "?"),
                                STYLES.get(result.action, ""), result.step,
                                result.resource_id, _result_tail(result),
                                name_width=name_width, width=width))
        details = ([_setting_line(c) for c in result.settings] if result.settings
                   else list(result.changes))
        if result.error:
            details.insert(0, result.error)
        lines += _detail_lines(details, width)
        lines += _detail_lines(result.retained, width, prefix="kept: ")
        lines += _detail_lines(result.notes, width, prefix="note: ")
    if shown:
        lines.append("")
    if not show_all:
        quiet = sum(len(r.notes) for r in report.results if r.action not in NOTEWORTHY)
        if quiet:
            lines += [f"{quiet} note(s) on unchanged steps: --all lists them.", ""]
    lines.append(f"[bold]{escape(summary_line(report))}[/]")
    return lines


def _setting_line(change: dict[str, Any]) -> str:
    from vivr_provision.plan import PlannedChange

    return PlannedChange(**change).line()


#: How each command's summary names its results.
_SUMMARY_WORDS = {
    "apply": (("created", "added"), ("recovered", "recovered"), ("adopted", "adopted"),
              ("updated", "changed"), ("replaced", "replaced"), ("unchanged", "unchanged")),
    "destroy": (("deleted", "destroyed"), ("absent", "already gone")),
    "status": (("drifted", "drifted"), ("missing", "missing"), ("ok", "in sync")),
    "plan": (("create", "to add"), ("update", "to change"), ("replace", "to replace"),
             ("delete", "to destroy"), ("no-op", "unchanged")),
}
_PROBLEMS = ("failed", "refused", "blocked", "interrupted", "skipped")


def summary_line(report: RunReport) -> str:
    counts = report.counts()
    words = _SUMMARY_WORDS.get(report.command, ())
    parts = [f"{counts.get(action, 0)} {word}" for action, word in words
             if counts.get(action) or action in ("created", "updated", "deleted", "drifted",
                                                 "missing")]
    parts += [f"{counts[p]} {p}" for p in _PROBLEMS if counts.get(p)]
    if report.interrupted:
        state = "interrupted"
    elif not report.ok:
        state = "FAILED"
    elif report.command == "status":
        state = "drift found" if counts.get("drifted") or counts.get("missing") else "in sync"
    else:
        state = "complete"
    line = f"{report.command.capitalize()} {state}: {', '.join(parts) or 'nothing to do'} " \
           f"in {report.duration_s:.1f}s."
    if report.retries:
        line += " AWS calls retried: " + ", ".join(f"{n} {service}"
                                                   for service, n in report.retries.items())
    return line


def print_report(report: RunReport, title: str, output: str, *, show_all: bool = False) -> None:
    if output == "json":
        emit_json(report.as_dict())
        return
    out = console()
    for line in report_lines(report, title, show_all=show_all, width=layout_width(out)):
        out.print(line, soft_wrap=True)


def rows_table(title: str, columns: Iterable[str], rows: Iterable[Iterable[str]]) -> Table:
    table = Table(title=title, title_justify="left", show_edge=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(redact(str(cell)) for cell in row))
    return table
