"""Hand-written state files and an in-process run of the real CLI entry point.

``run`` goes through :func:`vivr_provision.cli.main`, so exit codes and the
one-line errors are the ones an operator sees, without a subprocess per call.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from vivr_provision.cli import main
from vivr_provision.state import LocalStateStore, State

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "config" / "production.yaml"
ALB_ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/vivr-alb/50dc6c"
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:vivr/database-AbCdEf"
LEAKED = "hunter2-Th1s-Must-Never-Print"

#: step -> (resource id, outputs) of a production-like apply, as the steps record them.
APPLIED: dict[str, tuple[str, dict[str, Any]]] = {
    "alb": (ALB_ARN, {"id": ALB_ARN, "load_balancer_arn": ALB_ARN, "name": "vivr-alb",
                      "dns_name": "vivr-alb-1234567890.us-east-1.elb.amazonaws.com",
                      "canonical_hosted_zone_id": "Z35SXDOTRQ7X7K", "vpc_id": "vpc-0a1"}),
    "cloudfront": ("E2ABC", {"id": "E2ABC", "distribution_id": "E2ABC",
                             "domain_name": "d111111abcdef8.cloudfront.net"}),
    "rds.vivr-db": ("vivr-db", {"id": "vivr-db", "port": 5432, "role": "writer",
                                "address": "vivr-db.c1.us-east-1.rds.amazonaws.com"}),
    "rds.vivr-db-replica-1": ("vivr-db-replica-1", {
        "id": "vivr-db-replica-1", "port": 5432, "role": "reader",
        "address": "vivr-db-replica-1.c1.us-east-1.rds.amazonaws.com"}),
    "dr.rds.vivr-db-dr": ("vivr-db-dr", {"id": "vivr-db-dr", "port": 5432, "role": "reader",
                                         "address": "vivr-db-dr.c2.us-west-2.rds.amazonaws.com"}),
    "cache": ("vivr-redis", {"id": "vivr-redis", "port": 6379, "transit_encryption": True,
                             "primary_endpoint": "master.vivr-redis.x.use1.cache.amazonaws.com",
                             "reader_endpoint": "replica.vivr-redis.x.use1.cache.amazonaws.com"}),
    "pgbouncer": ("i-0abc", {"id": "i-0abc", "instance_id": "i-0abc",
                             "private_ip": "10.0.10.5", "port": 6432}),
    "s3.assets": ("vivr-assets", {"id": "vivr-assets", "bucket": "vivr-assets"}),
    "route53-zone": ("Z0123", {"id": "Z0123", "zone_id": "Z0123", "name": "vivr.example.com",
                               "name_servers": ["ns-1.awsdns-01.org", "ns-2.awsdns-02.co.uk"]}),
    "sns.critical": ("arn:aws:sns:us-east-1:123456789012:vivr-critical", {
        "id": "x", "topic_arn": "arn:aws:sns:us-east-1:123456789012:vivr-critical"}),
    # A hand-edited or buggy record holding a secret next to the ARN.
    "secret.database_credentials": (SECRET_ARN, {
        "id": SECRET_ARN, "arn": SECRET_ARN, "name": "vivr/database", "has_value": True,
        "password": LEAKED, "secret_string": LEAKED, "value": LEAKED}),
}


def write_state(path: Path, records: dict[str, tuple[str, dict[str, Any]]] | None = None,
                status: str = "ready") -> State:
    """Save a production state with ``records`` (default :data:`APPLIED`); returns it."""
    store = LocalStateStore(path)
    state = store.load("vivr", "production")
    for step, (resource_id, outputs) in (APPLIED if records is None else records).items():
        record = state.record(step)
        record.status = status  # type: ignore[assignment]
        record.resource_id, record.outputs, record.origin = resource_id, dict(outputs), "created"
        record.updated_at = "2026-12-06T03:00:00Z"
    store.save(state)
    return state


def run(monkeypatch: pytest.MonkeyPatch, state: Path, *args: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``vivr-provision ARGS --config production --state STATE``."""
    monkeypatch.setattr(sys, "argv", ["vivr-provision", *args, "--config", str(CONFIG),
                                      "--state", str(state)])
    code = 0
    with CliRunner().isolation() as (out, err, _):
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        return code, out.getvalue().decode(), err.getvalue().decode()


def completions(words: str) -> list[str]:
    """What bash's completion function is offered for the last of ``words`` (click's protocol)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIVR_", "AWS_"))}
    env.update(PYTHONPATH=str(REPO), _VIVR_PROVISION_COMPLETE="bash_complete", COMP_WORDS=words,
               COMP_CWORD=str(len(words.split()) - (0 if words.endswith(" ") else 1)))
    result = subprocess.run([sys.executable, "-m", "vivr_provision"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    assert (result.returncode, result.stderr) == (0, "")
    return [line.removeprefix("plain,") for line in result.stdout.splitlines() if line]
