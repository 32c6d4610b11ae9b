"""``vivr-provision check``: prove the platform's flows and permissions from the config alone.

No AWS call: flows come from the network and security-group config
(:mod:`.flows`), permissions from the documents the steps would send
(:mod:`.documents`, :mod:`.access`), lint from parliament (:mod:`.lint`).
``plan`` and ``apply`` run it first and refuse a config that fails it
(:func:`preflight`), as a config error: nothing was touched.
"""

from __future__ import annotations

from vivr_provision.check.access import check_access
from vivr_provision.check.documents import build_documents
from vivr_provision.check.flows import check_flows
from vivr_provision.check.lint import lint
from vivr_provision.check.report import CheckReport, print_check
from vivr_provision.config import PlatformConfig
from vivr_provision.errors import ConfigError
from vivr_provision.steps.base import DependencyMissing


def run_check(config: PlatformConfig) -> CheckReport:
    report = CheckReport(config.project, config.environment, flows=check_flows(config))
    try:
        documents = build_documents(config)
    except (DependencyMissing, KeyError) as exc:
        report.errors.append(f"cannot build the policy documents: {exc}")
        return report
    report.errors += [f"managed policy {m} is not in the vetted table (check/managed.py)"
                      for m in documents.unknown_managed]
    report.access = check_access(config, documents)
    report.lint = lint(documents.generated)
    return report


class CheckFailed(ConfigError):
    """The config describes a platform whose flows or permissions do not hold."""


def preflight(config: PlatformConfig) -> CheckReport:
    """Run before plan/apply: raise CheckFailed (exit 2) with every failure, one line each."""
    report = run_check(config)
    if not report.ok:
        lines = report.failures
        raise CheckFailed(f"check failed ({len(lines)}), nothing was touched: "
                          + "; ".join(lines) + "; run `vivr-provision check` for the tables")
    return report


__all__ = ["CheckFailed", "CheckReport", "preflight", "print_check", "run_check"]
