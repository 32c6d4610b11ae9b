"""Every policy document the tool would send, built by the steps' own builders.

IAM inline and trust policies (``steps/iam.py``), the key policies
(``steps/kms.py``) and the bucket policies (``steps/s3.py``) come from the
same methods apply calls, over a :func:`~vivr_provision.check.symbolic.symbolic_context`;
AWS-managed policies come from the vetted table in :mod:`.managed`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from vivr_provision.check.managed import managed_document
from vivr_provision.check.policy import NamedPolicy
from vivr_provision.check.symbolic import ACCOUNT_ID, symbolic_context
from vivr_provision.config import PlatformConfig
from vivr_provision.steps.iam import INLINE_POLICY, IamRoleStep, iam_steps
from vivr_provision.steps.kms import kms_steps
from vivr_provision.steps.s3 import BucketStep, s3_steps
from vivr_provision.steps.secret_policies import SecretPolicyStep, secret_policy_steps


def default_key_policy(account: str) -> dict[str, Any]:
    """What KMS attaches when a key is created (or replicated) without a policy
    (KMS Developer Guide, "Default key policy"; ReplicateKey ``Policy``)."""
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": "Enable IAM User Permissions", "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "kms:*",
        "Resource": "*"}]}


@dataclass(frozen=True)
class GeneratedPolicy:
    """A document the tool sends, for the linter: kind is identity, trust, key, bucket
    or secret."""

    name: str
    kind: str
    document: dict[str, Any]


@dataclass
class Documents:
    identity: dict[str, list[NamedPolicy]] = field(default_factory=dict)
    trust_policies: dict[str, NamedPolicy] = field(default_factory=dict)
    key_policies: dict[str, NamedPolicy] = field(default_factory=dict)
    bucket_policies: dict[str, NamedPolicy] = field(default_factory=dict)
    #: By secret key (``secret-policy.<key>``).
    secret_policies: dict[str, NamedPolicy] = field(default_factory=dict)
    generated: list[GeneratedPolicy] = field(default_factory=list)
    #: Managed policies attached by config that the vetted table does not know.
    unknown_managed: list[str] = field(default_factory=list)

    def identity_of(self, arn: str | None) -> list[NamedPolicy]:
        return self.identity.get(arn or "", [])


def _role_documents(docs: Documents, step: IamRoleStep, config: PlatformConfig) -> None:
    ctx = symbolic_context(config)
    arn = f"arn:aws:iam::{ACCOUNT_ID}:role/{step.role.name}"
    policies: list[NamedPolicy] = []
    inline = step.inline_policy(ctx)
    if inline is not None:
        policies.append(NamedPolicy(f"{step.role.name}/{INLINE_POLICY}", inline))
        docs.generated.append(GeneratedPolicy(f"{step.role.name}/{INLINE_POLICY}", "identity",
                                              inline))
    for name in step.role.managed_policies:
        managed = managed_document(name)
        if managed is None:
            docs.unknown_managed.append(f"{step.role.name}: {name}")
        else:
            policies.append(NamedPolicy(name, managed))
    docs.identity[arn] = policies
    assert step.key is not None
    trust = step.trust_policy(ACCOUNT_ID)
    docs.trust_policies[step.key] = NamedPolicy(f"{step.role.name}/trust", trust)
    docs.generated.append(GeneratedPolicy(f"{step.role.name}/trust", "trust", trust))


def build_documents(config: PlatformConfig) -> Documents:
    """Raises DependencyMissing if a builder reads an output the symbolic context lacks."""
    ctx = symbolic_context(config)
    docs = Documents()
    for step in iam_steps(config):
        assert isinstance(step, IamRoleStep)
        _role_documents(docs, step, config)
    for key_step in kms_steps(config):
        builder = getattr(key_step, "key_policy", None)
        # A replica key has a policy of ours only when a DR log group uses it.
        text = builder(ctx) if builder is not None else None
        if text is not None:
            document = json.loads(text)
            docs.generated.append(GeneratedPolicy(f"key policy ({key_step.name})", "key", document))
        else:
            document = default_key_policy(ACCOUNT_ID)
        docs.key_policies[key_step.name] = NamedPolicy(f"key policy ({key_step.name})",
                                                       document)
    for bucket_step in s3_steps(config):
        assert isinstance(bucket_step, BucketStep)
        policy = bucket_step.desired_policy(ctx)
        if policy is not None:
            name = f"bucket policy of {bucket_step.bucket_name}"
            docs.bucket_policies[bucket_step.name] = NamedPolicy(name, policy)
            docs.generated.append(GeneratedPolicy(name, "bucket", policy))
    for policy_step in secret_policy_steps(config):
        assert isinstance(policy_step, SecretPolicyStep)
        document = policy_step.document(ctx)
        name = f"resource policy of {policy_step.resource_name()}"
        docs.secret_policies[policy_step.secret_key] = NamedPolicy(name, document)
        docs.generated.append(GeneratedPolicy(name, "secret", document))
    return docs
