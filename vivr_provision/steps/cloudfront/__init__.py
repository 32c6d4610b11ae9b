"""CloudFront: the ``vivr-cdn`` distribution, its origin access control and custom policies.

Steps (spec "Caching & CDN / CloudFront CDN"):

* ``cloudfront-cache-policy.<name>`` / ``cloudfront-origin-request-policy.<name>``:
  the config's custom policies (the spec's 1-year and 30-day TTLs on top of
  CachingOptimized's key settings, and "S3-simple").  AWS-managed policies
  (``Managed-*``) are not created: behaviours reference AWS's published,
  fixed IDs (:data:`MANAGED_CACHE_POLICY_IDS` ...).
* ``cloudfront-oac``: an origin access control (always sign, SigV4) through
  which the distribution reads the assets bucket.  The spec says OAI; OAC is
  AWS's successor to OAI and what the assets bucket policy (``s3.py``,
  "cloudfront-oai": the CloudFront service principal limited to this
  account's distributions) is written for.
* ``cloudfront``: the distribution.

Identity.  Policies and origin access controls have names unique per
account but take no tags, so they are found by name and adopted only when
their comment/description carries this stack's ownership note
(``[vivr-provision <project>/<environment>]``).  The distribution carries our
tags (``CreateDistributionWithTags`` tags it atomically) and its Comment is
the configured name; it is found by the id in state, else by Comment + tags,
and its ``CallerReference`` is the engine's deterministic token, so a create
repeated after a crash is answered with the first distribution
(``DistributionAlreadyExists`` names it) instead of a second one.

Drift.  Each managed part of the DistributionConfig is a row of the
distribution's drift table (:mod:`~vivr_provision.steps.cloudfront.fields`),
read the same way from AWS's config and ours: lists sorted where order
means nothing (aliases, methods, origins by id) and kept where it does
(behaviour precedence), AWS's defaults spelled out.  Origin custom headers
carry a secret (X-Origin-Verify): CloudFront returns header values in
GetDistributionConfig, so the value is replaced by its SHA-256 the moment
it is read, never kept in the step's data, and a difference is reported as
"X-Origin-Verify value differs".  State, outputs, reports and logs never
see it.  Drift is converged with one ``UpdateDistribution`` carrying the
whole desired config (``IfMatch`` = the ETag just read; settings this tool
does not manage, such as origin groups or custom error responses, are
passed through), then ``distribution_deployed`` is awaited.  Policies and
the origin access control have tables of their own, converged the same way.

Teardown.  AWS deletes only a disabled, deployed distribution: destroy
disables it (``IfMatch``), waits for ``Deployed`` (40+ minutes allowed), then
deletes with the new ETag, retrying ``DistributionNotDisabled`` for a while.
The WAF ACL, certificate, policies and OAC it references are deleted after
it by the reversed graph.

Field-level encryption (spec "Enabled for sensitive data", issue 12):
:mod:`~vivr_provision.steps.cloudfront.fle` builds the public key (the public
half of the RSA 2048 key pair whose private key is a generated secret), the
profile and the config; the distribution puts the config's id on the
behaviours that forward POST to the application and "" on the static ones.
Viewer TTL bounds (``viewer_settings``) are enforced on the custom
cache policies by config validation; behaviours carry cache policies, so no
legacy per-behaviour TTLs are sent.
"""

from __future__ import annotations

from vivr_provision.config import PlatformConfig
from vivr_provision.config.edge import S3OriginConfig
from vivr_provision.steps.base import Step
from vivr_provision.steps.cloudfront.distribution import DistributionStep
from vivr_provision.steps.cloudfront.fle import fle_steps
from vivr_provision.steps.cloudfront.oac import OriginAccessControlStep
from vivr_provision.steps.cloudfront.policies import CachePolicyStep, OriginRequestPolicyStep


def cloudfront_steps(config: PlatformConfig) -> list[Step]:
    """Custom policies, the origin access control (if an S3 origin), field-level
    encryption (if enabled), the distribution."""
    cf = config.cloudfront
    steps: list[Step] = [CachePolicyStep(config, p) for p in cf.cache_policies]
    steps += [OriginRequestPolicyStep(config, p) for p in cf.origin_request_policies]
    if any(isinstance(o, S3OriginConfig) for o in cf.origins):
        steps.append(OriginAccessControlStep(config))
    steps += fle_steps(config)
    steps.append(DistributionStep(config))
    return steps


__all__ = ["cloudfront_steps"]
