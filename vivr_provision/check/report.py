"""The outcome of ``check``: flows, access matrix, lint findings; text tables or one JSON document.

Every failure is one line that names the flow, the permission or the
policy, so the same lines serve ``check``'s own output and the pre-flight
refusal of ``plan``/``apply``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.markup import escape
from rich.table import Table

from vivr_provision.check.access import AccessResult
from vivr_provision.check.flows import FlowResult
from vivr_provision.check.lint import LintResult
from vivr_provision.log import redact
from vivr_provision.render import console, emit_json


@dataclass
class CheckReport:
    project: str
    environment: str
    flows: list[FlowResult] = field(default_factory=list)
    access: list[AccessResult] = field(default_factory=list)
    lint: list[LintResult] = field(default_factory=list)
    #: Problems with the check itself (a document that cannot be built, an unknown
    #: managed policy): they fail it too, since nothing was proven.
    errors: list[str] = field(default_factory=list)

    @property
    def failures(self) -> list[str]:
        lines = [f"flow {f.name}: {p}" for f in self.flows for p in f.problems]
        lines += [f"permission {a.name}: {a.reason}" for a in self.access if not a.ok]
        lines += [f"lint {r.policy}: {r.issue} {r.detail}" for r in self.lint if not r.ok]
        lines += [f"check: {e}" for e in self.errors]
        return lines

    @property
    def ok(self) -> bool:
        return not self.failures

    def as_dict(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "environment": self.environment,
            "ok": self.ok,
            "flows": [{"flow": f.name, "ok": f.ok, "evidence": list(f.evidence),
                       "problems": list(f.problems), "notes": list(f.notes)}
                      for f in self.flows],
            "access": [{"principal": a.principal, "actions": list(a.actions),
                        "resource": a.resource, "why": a.why, "ok": a.ok, "reason": a.reason}
                       for a in self.access],
            "lint": [{"policy": r.policy, "kind": r.kind, "issue": r.issue, "detail": r.detail,
                      "ok": r.ok, "accepted_because": r.accepted} for r in self.lint],
            "errors": list(self.errors),
            "failures": self.failures,
        }


def _table(title: str, columns: list[str], rows: list[list[str]]) -> Table:
    table = Table(title=escape(title), title_justify="left", show_edge=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(escape(redact(cell)) for cell in row))
    return table


def _lint_rows(results: list[LintResult]) -> list[list[str]]:
    """One row per finding, verdict and reason, naming every policy it applies to.

    Nine trust policies share one accepted finding with one reason; at 80
    columns nine copies of that reason were three screens of the same words.
    """
    grouped: dict[tuple[str, bool, str], list[str]] = {}
    for r in results:
        grouped.setdefault((r.issue, r.ok, r.accepted or r.detail), []).append(r.policy)
    return [["\n".join(dict.fromkeys(policies)), issue, "accepted" if ok else "FAIL", why]
            for (issue, ok, why), policies in grouped.items()]


def _mark(ok: bool) -> str:
    return "ok" if ok else "FAIL"


def print_check(report: CheckReport, output: str) -> None:
    if output == "json":
        emit_json(report.as_dict())
        return
    out = console()
    where = f"{report.project} {report.environment}"
    out.print(_table(f"check {where}: traffic flows", ["flow", "result", "evidence / problem"],
                     [[f.name, _mark(f.ok), "; ".join(f.problems or f.evidence)]
                      for f in report.flows]))
    out.print(_table(f"check {where}: access matrix",
                     ["principal", "actions", "resource", "why", "result", "decided by"],
                     [[a.principal, ", ".join(a.actions), a.resource, a.why, _mark(a.ok),
                       a.reason] for a in report.access]))
    out.print(_table(f"check {where}: policy lint (parliament)",
                     ["policies", "finding", "result", "detail / accepted because"],
                     _lint_rows(report.lint)))
    notes = [f"{f.name}: {n}" for f in report.flows for n in f.notes]
    if notes:
        out.print("Notes:", highlight=False)
        for line in notes:
            out.print(f"  {escape(line)}", highlight=False, soft_wrap=True)
    if report.ok:
        out.print(f"check: ok ({len(report.flows)} flows, {len(report.access)} permissions, "
                  f"{len(report.lint)} lint findings accepted)", highlight=False)
        return
    out.print(f"check: FAILED ({len(report.failures)})", highlight=False)
    for line in report.failures:
        out.print(f"  {escape(redact(line))}", highlight=False, soft_wrap=True)
