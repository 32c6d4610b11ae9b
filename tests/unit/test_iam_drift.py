"""IAM role drift: what plan shows for each hand-changed setting, and the requests apply sends.

Each case is what AWS answers (``GetRole`` edits, the attached policies,
the inline policy, the instance profile), a config override of the role,
the plan lines, and for converging cases the exact update requests.  The
role is PgBouncer's: managed policies, grants and an instance profile, so
every row of :attr:`IamRoleStep.FIELDS` is exercised.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pytest

from tests.unit.stubbed import ACCOUNT, StubbedAws, production_config
from vivr_provision.config import PlatformConfig
from vivr_provision.steps.base import Resource
from vivr_provision.steps.common import ForeignResourceError, aws_tags
from vivr_provision.steps.iam import INLINE_POLICY, IamRoleStep, managed_policy_arn

NAME = "vivr-pgbouncer-instance-role"
ARN = f"arn:aws:iam::{ACCOUNT}:role/{NAME}"
KEY_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
SECRET = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:"
OUTPUTS = {"kms": {"key_arn": KEY_ARN},
           "secret.database_credentials": {"arn": f"{SECRET}vivr/production/db-AbCdEf"},
           "secret.datadog": {"arn": f"{SECRET}vivr/production/datadog-AbCdEf"}}
SSM = managed_policy_arn("AmazonSSMManagedInstanceCore")
AGENT = managed_policy_arn("CloudWatchAgentServerPolicy")
ADMIN = managed_policy_arn("AdministratorAccess")
#: What the test's config says (the role of ``config/production.yaml``).
CONFIGURED = object()
#: AWS answers NoSuchEntity.
MISSING = object()


def _step(**role: Any) -> IamRoleStep:
    config: PlatformConfig = production_config()
    configured = config.iam.pgbouncer_instance_role
    return IamRoleStep(config, "pgbouncer_instance_role", configured.model_copy(update=role))


def _inline(step: IamRoleStep) -> dict[str, Any]:
    with StubbedAws() as aws:
        document = step.inline_policy(aws.context(step.config, OUTPUTS))
    assert document is not None
    return document


def _trust(service: str = "ec2.amazonaws.com") -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]}


def _role(step: IamRoleStep, **edits: Any) -> dict[str, Any]:
    """``GetRole``'s ``Role`` as botocore hands it over (policy documents decoded);
    an edit to None removes the member (AWS omits it)."""
    role = {"Path": "/", "RoleName": NAME, "RoleId": "AROAEXAMPLEEXAMPLE1", "Arn": ARN,
            "CreateDate": "2026-01-01T00:00:00Z", "AssumeRolePolicyDocument": _trust(),
            "Description": step.role.description, "MaxSessionDuration": 3600,
            "Tags": aws_tags(step.tags()), **edits}
    return {k: v for k, v in role.items() if v is not None}


def _reply(step: IamRoleStep, **edits: Any) -> dict[str, Any]:
    """``GetRole``'s reply on the wire: the trust policy is URL-encoded JSON text."""
    role = _role(step, **edits)
    return {"Role": {**role, "AssumeRolePolicyDocument": quote(json.dumps(
        role["AssumeRolePolicyDocument"]))}}


def _data(step: IamRoleStep, **edits: Any) -> dict[str, Any]:
    role = _role(step, **edits)
    return {**role, "TagMap": {t["Key"]: t["Value"] for t in role["Tags"]}}


@dataclass
class Case:
    id: str
    #: Edits of GetRole's reply.
    role: dict[str, Any] = field(default_factory=dict)
    attached: Any = CONFIGURED
    #: The inline policy AWS has: a dict, JSON text, CONFIGURED or MISSING.
    inline: Any = CONFIGURED
    #: The roles in the instance profile, or MISSING.
    profile: Any = CONFIGURED
    #: IamRoleConfig overrides.
    config: dict[str, Any] = field(default_factory=dict)
    #: What plan shows (``Change.describe()``).
    changes: list[str] = field(default_factory=list)
    #: The requests apply sends after the reads: (operation, params, reply).
    requests: list[tuple[str, dict[str, Any], dict[str, Any]]] = field(default_factory=list)


def _expect_reads(aws: StubbedAws, step: IamRoleStep, case: Case) -> None:
    attached = [SSM, AGENT] if case.attached is CONFIGURED else case.attached
    aws.expect("iam", "list_attached_role_policies", {"AttachedPolicies": [
        {"PolicyName": arn.rsplit("/", 1)[1], "PolicyArn": arn} for arn in attached]},
        {"RoleName": NAME})
    if case.inline is MISSING:
        aws.expect_error("iam", "get_role_policy", "NoSuchEntity", status=404,
                         params={"RoleName": NAME, "PolicyName": INLINE_POLICY})
    else:
        inline = _inline(_step()) if case.inline is CONFIGURED else case.inline
        text = inline if isinstance(inline, str) else quote(json.dumps(inline))
        aws.expect("iam", "get_role_policy", {"RoleName": NAME, "PolicyName": INLINE_POLICY,
                                              "PolicyDocument": text},
                   {"RoleName": NAME, "PolicyName": INLINE_POLICY})
    if step.needs_instance_profile:
        _expect_profile(aws, case.profile)


def _expect_profile(aws: StubbedAws, roles: Any) -> None:
    if roles is MISSING:
        aws.expect_error("iam", "get_instance_profile", "NoSuchEntity", status=404,
                         params={"InstanceProfileName": NAME})
        return
    members = [NAME] if roles is CONFIGURED else roles
    aws.expect("iam", "get_instance_profile", {"InstanceProfile": {
        "Path": "/", "InstanceProfileName": NAME, "InstanceProfileId": "AIPAEXAMPLEEXAMPLE1",
        "Arn": f"arn:aws:iam::{ACCOUNT}:instance-profile/{NAME}",
        "CreateDate": "2026-01-01T00:00:00Z",
        "Roles": [{"Path": "/", "RoleName": r, "RoleId": "AROAEXAMPLEEXAMPLE1",
                   "Arn": f"arn:aws:iam::{ACCOUNT}:role/{r}",
                   "CreateDate": "2026-01-01T00:00:00Z"} for r in members]}},
        {"InstanceProfileName": NAME})


def _drifted_inline() -> dict[str, Any]:
    document = _inline(_step())
    document["Statement"][0]["Resource"] = ["*"]
    return document


DESCRIPTION = "PgBouncer instance reads its credentials and publishes metrics"
TAGS = dict(sorted(_step().tags().items()))
CASES = [
    Case("converged"),
    Case("trust policy as URL-encoded JSON text is the same document",
         role={"AssumeRolePolicyDocument": quote(json.dumps(_trust()))}),
    Case("inline policy spelled differently is the same document",
         inline=json.dumps(_inline(_step()), indent=2, sort_keys=True)),
    Case("trust policy", role={"AssumeRolePolicyDocument": _trust("ecs-tasks.amazonaws.com")},
         changes=[f"trust_policy: {_trust('ecs-tasks.amazonaws.com')!r} -> {_trust()!r} "
                  "(update)"],
         requests=[("update_assume_role_policy",
                    {"RoleName": NAME, "PolicyDocument": json.dumps(_trust())}, {})]),
    Case("description", role={"Description": "edited"},
         changes=[f"description: 'edited' -> {DESCRIPTION!r} (update)"],
         requests=[("update_role", {"RoleName": NAME, "Description": DESCRIPTION}, {})]),
    Case("description removed (AWS omits an empty one)",
         role={"Description": None},
         changes=[f"description: '' -> {DESCRIPTION!r} (update)"],
         requests=[("update_role", {"RoleName": NAME, "Description": DESCRIPTION}, {})]),
    Case("a managed policy detached and another attached by hand", attached=[SSM, ADMIN],
         changes=[f"managed_policies: {[ADMIN, SSM]!r} -> {[SSM, AGENT]!r} (update)"],
         requests=[("attach_role_policy", {"RoleName": NAME, "PolicyArn": AGENT}, {}),
                   ("detach_role_policy", {"RoleName": NAME, "PolicyArn": ADMIN}, {})]),
    Case("managed policies attached in another order", attached=[AGENT, SSM]),
    Case("the config drops its managed policies", config={"managed_policies": []},
         changes=[f"managed_policies: {[SSM, AGENT]!r} -> [] (update)"],
         requests=[("detach_role_policy", {"RoleName": NAME, "PolicyArn": SSM}, {}),
                   ("detach_role_policy", {"RoleName": NAME, "PolicyArn": AGENT}, {})]),
    Case("inline policy widened by hand", inline=_drifted_inline(),
         changes=["inline_policy: 'differs' -> 'the configured grants' (update)"],
         requests=[("put_role_policy", {"RoleName": NAME, "PolicyName": INLINE_POLICY,
                                        "PolicyDocument": json.dumps(_inline(_step()))}, {})]),
    Case("inline policy deleted by hand", inline=MISSING,
         changes=["inline_policy: 'differs' -> 'the configured grants' (update)"],
         requests=[("put_role_policy", {"RoleName": NAME, "PolicyName": INLINE_POLICY,
                                        "PolicyDocument": json.dumps(_inline(_step()))}, {})]),
    Case("the config grants nothing any more", config={"grants": []},
         changes=["inline_policy: 'differs' -> 'the configured grants' (update)"],
         requests=[("delete_role_policy", {"RoleName": NAME, "PolicyName": INLINE_POLICY},
                    {})]),
    Case("no grants and no inline policy", config={"grants": []}, inline=MISSING),
    Case("role removed from its instance profile", profile=[],
         changes=[f"instance_profile: [] -> [{NAME!r}] (update)"]),
    Case("instance profile deleted", profile=MISSING,
         changes=[f"instance_profile: [] -> [{NAME!r}] (update)"]),
    Case("a role EC2 does not assume has no instance profile to read",
         config={"trust_service": "ecs-tasks.amazonaws.com"},
         role={"AssumeRolePolicyDocument": _trust("ecs-tasks.amazonaws.com")}),
    Case("our tag changed, a foreign tag added",
         role={"Tags": aws_tags({**TAGS, "Owner": "someone", "team": "theirs"})},
         changes=["tags: {'Owner': 'someone'} -> {'Owner': 'platform-team'} (update)"],
         requests=[("tag_role", {"RoleName": NAME, "Tags": aws_tags({"Owner": "platform-team"})},
                    {})]),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_role_drift(case: Case) -> None:
    step = _step(**case.config)
    with StubbedAws() as aws:
        _expect_reads(aws, step, case)
        changes = step.diff(aws.context(step.config, OUTPUTS),
                            Resource(ARN, _data(step, **case.role)))
    assert [c.describe() for c in changes] == case.changes


@pytest.mark.parametrize("case", [c for c in CASES if c.requests], ids=[
    c.id for c in CASES if c.requests])
def test_role_converges_with_exact_requests(case: Case) -> None:
    step = _step(**case.config)
    with StubbedAws() as aws:
        ctx = aws.context(step.config, OUTPUTS)
        _expect_reads(aws, step, case)
        drifted = Resource(ARN, _data(step, **case.role))
        changes = step.diff(ctx, drifted)
        for operation, params, reply in case.requests:
            aws.expect("iam", operation, reply, params)
        aws.expect("iam", "get_role", _reply(step), {"RoleName": NAME})
        updated = step.update(ctx, drifted, changes)
    assert updated.id == ARN


@pytest.mark.parametrize("profile", [[], MISSING], ids=["emptied", "deleted"])
def test_the_instance_profile_is_made_whole_again(profile: Any) -> None:
    step = _step()
    case = Case("profile", profile=profile)
    with StubbedAws() as aws:
        ctx = aws.context(step.config, OUTPUTS)
        _expect_reads(aws, step, case)
        drifted = Resource(ARN, _data(step))
        changes = step.diff(ctx, drifted)
        _expect_profile(aws, profile)
        if profile is MISSING:
            aws.expect("iam", "create_instance_profile", {"InstanceProfile": {
                "Path": "/", "InstanceProfileName": NAME,
                "InstanceProfileId": "AIPAEXAMPLEEXAMPLE2",
                "Arn": f"arn:aws:iam::{ACCOUNT}:instance-profile/{NAME}",
                "CreateDate": "2026-01-01T00:00:00Z", "Roles": []}},
                {"InstanceProfileName": NAME, "Tags": aws_tags(step.tags())})
        aws.expect("iam", "add_role_to_instance_profile", {},
                   {"InstanceProfileName": NAME, "RoleName": NAME})
        aws.expect("iam", "get_role", _reply(step), {"RoleName": NAME})
        step.update(ctx, drifted, changes)


def test_a_role_is_read_by_name_with_its_inline_tags() -> None:
    step = _step()
    with StubbedAws() as aws:
        aws.expect("iam", "get_role", _reply(step), {"RoleName": NAME})
        found = step.find(aws.context(step.config, OUTPUTS), ARN)
    assert found is not None
    assert (found.id, found.data["TagMap"], step.tag_target(found)) == (ARN, step.tags(), NAME)


def test_a_missing_role_is_none_and_a_foreign_one_is_refused() -> None:
    step = _step()
    with StubbedAws() as aws:
        aws.expect_error("iam", "get_role", "NoSuchEntity", status=404,
                         params={"RoleName": NAME})
        assert step.find(aws.context(step.config, OUTPUTS), None) is None
        aws.expect("iam", "get_role", _reply(step, Tags=[]), {"RoleName": NAME})
        with pytest.raises(ForeignResourceError, match=f"IAM role {NAME} already exists"):
            step.find(aws.context(step.config, OUTPUTS), None)
