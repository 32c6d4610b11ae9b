"""``backup``: a manual snapshot of the primary database, then expired ones pruned.

Also the pre-apply backup :mod:`.provision` calls (``dr.backups.before_apply``):
an apply whose plan updates or replaces the primary database takes one
first.  The rules live in :mod:`vivr_provision.backup`; this module only
decides when, asks, and prints.

Creating a snapshot loses nothing, so it never needs approval beyond the
command itself.  Pruning deletes, so it follows apply's rule for
destructive changes: at a terminal ``backup`` asks, ``--yes`` approves, and
off a terminal without ``--yes`` the expired snapshots are kept and named.
"""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click

from vivr_provision import aws_errors
from vivr_provision.cli.app import cli
from vivr_provision.cli.options import command
from vivr_provision.errors import ProvisionError
from vivr_provision.settings import CommandOptions

if TYPE_CHECKING:  # imported when the command runs, so that --help stays fast
    from datetime import datetime

    from vivr_provision.backup import Snapshot
    from vivr_provision.batch_reads import BatchReads
    from vivr_provision.cli.run import Run
    from vivr_provision.plan import Plan
    from vivr_provision.state import State
    from vivr_provision.steps.base import StepContext


@dataclass
class BackupReport:
    """What one backup did: the snapshot made, those pruned, those kept for approval."""

    instance: str
    region: str
    retention_days: int
    created: Snapshot | None = None
    pruned: list[Snapshot] = field(default_factory=list)
    kept_expired: list[Snapshot] = field(default_factory=list)

    def lines(self, expires: Callable[[Snapshot], str]) -> list[str]:
        out = []
        if self.created is not None:
            out.append(f"created {self.created.identifier} of {self.instance} ({self.region}), "
                       f"kept until {expires(self.created)}")
        out += [f"pruned  {s.identifier} (expired {expires(s)})" for s in self.pruned]
        if self.kept_expired:
            names = ", ".join(s.identifier for s in self.kept_expired)
            out.append(f"kept {len(self.kept_expired)} expired backup(s) ({names}): pruning "
                       "deletes, so it needs --yes off a terminal (`vivr-provision backup --yes`)")
        return out

    def as_json(self, expires: Callable[[Snapshot], str]) -> dict[str, Any]:
        def one(s: Snapshot) -> dict[str, Any]:
            return {"snapshot": s.identifier, "arn": s.arn, "expires": expires(s)}

        return {"instance": self.instance, "region": self.region,
                "retention_days": self.retention_days,
                "created": one(self.created) if self.created else None,
                "pruned": [one(s) for s in self.pruned],
                "kept_expired": [one(s) for s in self.kept_expired]}


def _context(run: Run, state: State) -> StepContext:
    """The steps' plumbing over the recorded outputs: retries and rate limits apply."""
    from vivr_provision.steps.base import StepContext

    outputs = {name: dict(record.outputs) for name, record in state.steps.items()
               if record.status == "ready" and record.outputs}
    ctx = StepContext(run.config, run.clients, outputs.get,
                      account_id=state.account_id or "000000000000")
    ctx.catalog = run.catalog
    return ctx


def take(ctx: StepContext, now: datetime, *, prune: bool | None) -> BackupReport:
    """Create the backup, then prune: ``prune`` True deletes the expired ones, False keeps
    them (named in the report), None asks at the terminal."""
    from vivr_provision import backup
    from vivr_provision.steps.base import StepTimeout

    config = ctx.config
    report = BackupReport(config.rds.identifier, config.aws.region,
                          config.dr.snapshot_retention.manual_pre_deploy_days)
    try:
        report.created = backup.create(ctx, now)
    except (backup.BackupError, StepTimeout) as exc:
        raise ProvisionError(f"backup of {config.rds.identifier}: {exc}") from None
    except aws_errors.ClientError as exc:
        raise ProvisionError(f"backup of {config.rds.identifier}: {exc}") from None
    stale = [s for s in backup.expired(backup.find_manual(ctx), config, now)
             if s.identifier != report.created.identifier]
    if stale and prune is None:
        click.echo("\n".join(f"expired: {s.identifier}" for s in stale), err=True)
        prune = click.confirm(f"Delete {len(stale)} expired backup snapshot(s) of "
                              f"{config.rds.identifier}?", default=False, err=True)
    for snapshot in stale:
        if prune:
            backup.delete(ctx, snapshot)
            report.pruned.append(snapshot)
        else:
            report.kept_expired.append(snapshot)
    return report


def _print(report: BackupReport, ctx: StepContext, output_format: str, *,
           err: bool = False) -> None:
    from vivr_provision import backup

    def expires(snapshot: Snapshot) -> str:
        moment = backup.expires_at(snapshot, ctx.config)
        return backup.iso(moment) if moment else "unknown"

    if output_format == "json" and not err:
        click.echo(json.dumps(report.as_json(expires), indent=2))
        return
    for line in report.lines(expires):
        click.echo(("backup: " if err else "") + line, err=err)


def _at_terminal(options: CommandOptions) -> bool:
    return options.output_format == "text" and sys.stdin.isatty() and sys.stdout.isatty()


@cli.command()
@click.option("--yes", "--auto-approve", "yes", is_flag=True,
              help="Do not ask before deleting expired backups.")
@command
def backup(options: CommandOptions, *, yes: bool) -> int:
    """Snapshot the primary database now, then prune expired backups of ours.

    The snapshot is tagged as a backup with its expiry
    (dr.snapshot_retention.manual_pre_deploy_days).  Pruning deletes only
    manual snapshots this tool took as backups and whose expiry has passed;
    it asks at a terminal and needs --yes elsewhere.
    """
    from datetime import UTC, datetime

    from vivr_provision.cli.run import Run

    run = Run(options)
    state = run.load_state()
    run.bind_account(state)
    ctx = _context(run, state)
    prune = True if yes else (None if _at_terminal(options) else False)
    report = take(ctx, datetime.now(UTC), prune=prune)
    _print(report, ctx, options.output_format)
    return 0


# -- the pre-apply backup ---------------------------------------------------------


def wanted_before_apply(run: Run, state: State, plan: Plan | None,
                        targets: Iterable[str], reads: BatchReads | None = None) -> bool:
    """Whether this apply changes the primary database, so a backup goes first.

    With a reviewed plan, its action for ``rds.<identifier>``.  Under
    ``--yes`` no plan is made; instead of a whole read walk, the primary's
    own step is found and diffed against the recorded outputs (one
    describe call): a database that does not exist yet has nothing to back
    up, and one whose diff cannot be computed (a dependency not recorded)
    is backed up to be safe.

    With ``reads``, the batches the apply's walk then uses: the primary is
    read through them (as the check's own reader, :meth:`BatchReads.scoped`),
    so the one ``DescribeDBInstances`` of its site answers the check and
    then its step.
    """
    from vivr_provision.backup import changes_database
    from vivr_provision.steps.base import DependencyMissing

    config = run.config
    if not _in_scope(run, targets):
        return False
    if plan is not None:
        return changes_database({s.step: s.action for s in plan.steps}, config)
    name = f"rds.{config.rds.identifier}"
    step = run.graph.steps[name]
    ctx = _context(run, state)
    if reads is not None:
        ctx.reads = reads.scoped("pre-apply-backup")
    record = state.steps.get(name)
    resource = step.find(ctx, record.resource_id if record else None)
    if resource is None:
        return False
    try:
        return bool(step.diff(ctx, resource))
    except DependencyMissing:
        return True


def _in_scope(run: Run, targets: Iterable[str]) -> bool:
    """Pre-apply backups are on, and this apply's targets include the primary database."""
    name = f"rds.{run.config.rds.identifier}"
    return run.config.dr.backups.before_apply and name in run.graph.select(targets, upward=True)


def backup_notice(run: Run, plan: Plan, targets: Iterable[str]) -> str:
    """What the person approving an apply is told about its pre-apply backup (no AWS call)."""
    from vivr_provision.backup import changes_database

    config = run.config
    if not _in_scope(run, targets) or not changes_database(
            {s.step: s.action for s in plan.steps}, config):
        return ""
    return textwrap.fill(  # the plan above fits 80 columns; so does this
        f"Before the change, a backup snapshot of {config.rds.identifier} is taken "
        "(dr.backups.before_apply); expired backups are pruned only with --yes.", width=79)


def backup_before_apply(run: Run, state: State, plan: Plan | None, targets: Iterable[str],
                        *, prune: bool, reads: BatchReads | None = None) -> None:
    """Take the pre-apply backup when this apply changes the database; print what it did
    on stderr (stdout holds the apply's report).  A failed backup stops the apply."""
    from datetime import UTC, datetime

    from vivr_provision import log

    try:
        wanted = wanted_before_apply(run, state, plan, targets, reads)
    except aws_errors.ClientError as exc:
        raise ProvisionError(f"cannot tell whether this apply changes "
                             f"{run.config.rds.identifier} (for its pre-apply backup): {exc}; "
                             "nothing was applied") from None
    if not wanted:
        return
    ctx = _context(run, state)
    try:
        report = take(ctx, datetime.now(UTC), prune=prune)
    except ProvisionError as exc:
        raise ProvisionError(f"{exc}; nothing was applied (set dr.backups.before_apply: false "
                             "to apply without a backup)") from None
    assert report.created is not None
    log.get_logger("vivr.backup").info(
        "backup.before_apply", snapshot=report.created.identifier,
        pruned=[s.identifier for s in report.pruned],
        kept_expired=[s.identifier for s in report.kept_expired])
    if run.options.output_format == "text":  # JSON output: the event above (-v)
        _print(report, ctx, "text", err=True)
