"""The CloudFront distribution and its WAF web ACL, through the real CLI.

Expected values are the spec's ("Caching & CDN / CloudFront CDN" and the
WAF of the architecture; ../shared/spec/infrastructure-requirements.md),
written here rather than read from config, so a wrong config fails.  The
custom cache policies stand for the spec's "Managed-CachingOptimized with a
1-year / 30-day TTL" (a managed policy cannot carry other TTLs): they are
checked for CachingOptimized's key settings and the spec's TTLs.  What the
emulator does not keep is checked in the request the tool sent.

The X-Origin-Verify value is compared with the secret but never printed:
comparisons involving it are asserted as booleans, so a failure names the
header and never shows the value.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.conftest import Aws
from tests.e2e.inventory import tags_of
from vivr_provision.config.edge import (
    MANAGED_CACHE_POLICIES,
    MANAGED_ORIGIN_REQUEST_POLICIES,
    MANAGED_RESPONSE_HEADERS_POLICIES,
)
from vivr_provision.steps.cloudfront.common import (
    MANAGED_CACHE_POLICY_IDS,
    MANAGED_ORIGIN_REQUEST_POLICY_IDS,
    MANAGED_RESPONSE_HEADERS_POLICY_IDS,
)

pytestmark = pytest.mark.e2e

TARGET = ("--target", "cloudfront")
OWNERSHIP = {"Project": "vivr", "Environment": "production", "ManagedBy": "vivr-provision"}
# AWS's published IDs of the managed policies the spec names.
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER = "216adef6-5c7f-47e4-b989-5492eafa07d3"
CORS_PREFLIGHT_SECURITY = "eaab4381-ed33-4a86-88ca-d9558dc6cd63"
CORS_SECURITY = "e61eb60c-9c35-4d20-a928-2b84e02af89c"
ALL_METHODS = sorted(["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"])
ONE_YEAR, THIRTY_DAYS = 31536000, 2592000
MANAGED_RULE_GROUPS = {"AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet",
                       "AWSManagedRulesSQLiRuleSet"}


def _distribution(aws: Aws) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the distribution, its config) of the only distribution in the account."""
    cloudfront = aws.client("cloudfront")
    items = cloudfront.list_distributions()["DistributionList"].get("Items") or []
    assert len(items) == 1, "exactly one distribution"
    reply = cloudfront.get_distribution(Id=items[0]["Id"])
    return dict(reply["Distribution"]), dict(reply["Distribution"]["DistributionConfig"])


def _web_acl(aws: Aws) -> dict[str, Any]:
    wafv2 = aws.client("wafv2")
    acls = wafv2.list_web_acls(Scope="CLOUDFRONT")["WebACLs"]
    assert [a["Name"] for a in acls] == ["vivr-waf"]
    return dict(wafv2.get_web_acl(Name="vivr-waf", Scope="CLOUDFRONT", Id=acls[0]["Id"])["WebACL"])


def _origin_verify_value(aws: Aws) -> str:
    secrets = aws.client("secretsmanager")
    names = [s["Name"] for s in secrets.list_secrets()["SecretList"]
             if s["Name"].endswith("origin-verify")]
    assert len(names) == 1, names
    return str(secrets.get_secret_value(SecretId=names[0])["SecretString"])


def _items(container: dict[str, Any] | None) -> list[Any]:
    return list((container or {}).get("Items") or [])


def _methods(behaviour: dict[str, Any]) -> tuple[list[str], list[str]]:
    allowed = behaviour["AllowedMethods"]
    return sorted(_items(allowed)), sorted(_items(allowed["CachedMethods"]))


def _cache_policy(aws: Aws, policy_id: str) -> dict[str, Any]:
    return dict(aws.client("cloudfront").get_cache_policy(Id=policy_id)["CachePolicy"][
        "CachePolicyConfig"])


def _recorded(aws: Aws) -> list[dict[str, Any]]:
    """Every call the CLI made, in order (service, operation, params)."""
    return [json.loads(line) for line in aws.record_path.read_text().splitlines()]


def _check_behaviours(aws: Aws, config: dict[str, Any]) -> None:
    """Spec "Cache Behaviors": paths, origins, methods, HTTPS only, compression, policies."""
    behaviours = {b["PathPattern"]: b for b in _items(config["CacheBehaviors"])}
    assert [b["PathPattern"] for b in _items(config["CacheBehaviors"])] == \
        ["/api/*", "/_next/static/*", "/images/*"], "precedence as the spec lists them"
    default = config["DefaultCacheBehavior"]
    everything = [*behaviours.values(), default]
    assert {b["ViewerProtocolPolicy"] for b in everything} == {"https-only"}
    assert all(b["Compress"] for b in everything)

    api = behaviours["/api/*"]
    assert api["TargetOriginId"] == "app"
    assert _methods(api) == (ALL_METHODS, ["GET", "HEAD"])
    assert (api["CachePolicyId"], api["OriginRequestPolicyId"],
            api["ResponseHeadersPolicyId"]) == (CACHING_DISABLED, ALL_VIEWER,
                                                CORS_PREFLIGHT_SECURITY)

    assert default["TargetOriginId"] == "app"
    assert _methods(default) == (ALL_METHODS, ["GET", "HEAD"])
    assert (default["CachePolicyId"], default["OriginRequestPolicyId"],
            default["ResponseHeadersPolicyId"]) == (CACHING_DISABLED, ALL_VIEWER, CORS_SECURITY)

    static = behaviours["/_next/static/*"]
    assert static["TargetOriginId"] == "assets"
    assert _methods(static) == (["GET", "HEAD"], ["GET", "HEAD"])
    images = behaviours["/images/*"]
    assert images["TargetOriginId"] == "cloudinary"
    assert _methods(images) == (["GET", "HEAD"], ["GET", "HEAD"])
    # CachingOptimized's key settings (gzip + brotli, nothing else in the key)
    # with the spec's TTLs: 1 year for versioned assets, 30 days for images.
    for behaviour, default_ttl in ((static, ONE_YEAR), (images, THIRTY_DAYS)):
        policy = _cache_policy(aws, behaviour["CachePolicyId"])
        key = policy["ParametersInCacheKeyAndForwardedToOrigin"]
        assert policy["DefaultTTL"] == default_ttl
        assert policy["MaxTTL"] >= default_ttl
        assert (key["EnableAcceptEncodingGzip"], key["EnableAcceptEncodingBrotli"]) == \
            (True, True)
        assert (key["HeadersConfig"]["HeaderBehavior"], key["CookiesConfig"]["CookieBehavior"],
                key["QueryStringsConfig"]["QueryStringBehavior"]) == ("none", "none", "none")
    # "S3-simple": forward nothing to S3.
    simple = aws.client("cloudfront").get_origin_request_policy(
        Id=static["OriginRequestPolicyId"])["OriginRequestPolicy"]["OriginRequestPolicyConfig"]
    assert (simple["HeadersConfig"]["HeaderBehavior"], simple["CookiesConfig"]["CookieBehavior"],
            simple["QueryStringsConfig"]["QueryStringBehavior"]) == ("none", "none", "none")


def _check_origins(aws: Aws, config: dict[str, Any]) -> str:
    """Spec "Origins"; returns the origin access control id of the assets origin."""
    origins = {o["Id"]: o for o in _items(config["Origins"])}
    assert set(origins) == {"app", "assets", "cloudinary"}

    app = origins["app"]
    # Issue 11: the failover name, so a failover moves CloudFront's traffic
    # (tests/e2e/test_failover_path.py reads the records behind it).
    assert app["DomainName"] == "origin.vivr.example.com"
    custom = app["CustomOriginConfig"]
    assert (custom["OriginProtocolPolicy"], custom["HTTPSPort"]) == ("https-only", 443)
    assert _items(custom["OriginSslProtocols"]) == ["TLSv1.2"]
    assert app["OriginShield"] == {"Enabled": True, "OriginShieldRegion": "us-east-1"}
    headers = {h["HeaderName"]: h["HeaderValue"] for h in _items(app["CustomHeaders"])}
    assert set(headers) == {"X-Origin-Verify"}
    same = headers["X-Origin-Verify"] == _origin_verify_value(aws)
    assert same, "X-Origin-Verify does not carry the secret's value"

    assets = origins["assets"]
    assert assets["DomainName"].startswith("vivr-assets.s3.")
    assert assets["DomainName"].endswith(".amazonaws.com")
    assert assets["S3OriginConfig"] == {"OriginAccessIdentity": ""}, "OAC, not a legacy OAI"
    control_id = str(assets["OriginAccessControlId"])
    control = aws.client("cloudfront").get_origin_access_control(Id=control_id)[
        "OriginAccessControl"]["OriginAccessControlConfig"]
    assert (control["SigningProtocol"], control["SigningBehavior"],
            control["OriginAccessControlOriginType"]) == ("sigv4", "always", "s3")

    cloudinary = origins["cloudinary"]
    assert cloudinary["DomainName"] == "res.cloudinary.com"
    assert cloudinary["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    assert _items(cloudinary["CustomOriginConfig"]["OriginSslProtocols"]) == ["TLSv1.2"]
    return control_id


def _fle_private_key(aws: Aws) -> str:
    return str(aws.client("secretsmanager").get_secret_value(
        SecretId="vivr/production/cloudfront/fle-private-key")["SecretString"])


def _check_field_level_encryption(aws: Aws, config: dict[str, Any]) -> None:
    """Issue 12 (spec "Field-level encryption: Enabled for sensitive data"): the
    config, its profile, the public key, the behaviours that carry it, and the
    secret whose private key is the other half of that public key."""
    cloudfront = aws.client("cloudfront")
    [summary] = _items(cloudfront.list_field_level_encryption_configs()[
        "FieldLevelEncryptionList"])
    fle_id = summary["Id"]
    fle = cloudfront.get_field_level_encryption_config(Id=fle_id)["FieldLevelEncryptionConfig"]
    content = fle["ContentTypeProfileConfig"]
    assert content["ForwardWhenContentTypeIsUnknown"] is True, "JSON API posts still pass"
    [mapping] = _items(content["ContentTypeProfiles"])
    assert (mapping["ContentType"], mapping["Format"]) == \
        ("application/x-www-form-urlencoded", "URLEncoded")
    profile = cloudfront.get_field_level_encryption_profile(Id=mapping["ProfileId"])[
        "FieldLevelEncryptionProfile"]["FieldLevelEncryptionProfileConfig"]
    assert profile["Name"] == "vivr-cdn-fle"
    [entity] = _items(profile["EncryptionEntities"])
    assert sorted(_items(entity["FieldPatterns"])) == ["card_number", "cvc", "password"]
    assert entity["ProviderId"] == "vivr-production-app"
    key = cloudfront.get_public_key(Id=entity["PublicKeyId"])["PublicKey"]["PublicKeyConfig"]

    private = serialization.load_pem_private_key(_fle_private_key(aws).encode(), None)
    assert isinstance(private, rsa.RSAPrivateKey) and private.key_size == 2048
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    assert public.strip() == str(key["EncodedKey"]).strip(), \
        "CloudFront's public key is the public half of the secret's private key"

    # POST behaviours to the application carry it; static ones do not.
    carried = {b["PathPattern"]: b.get("FieldLevelEncryptionId") or ""
               for b in _items(config["CacheBehaviors"])}
    carried["*"] = config["DefaultCacheBehavior"].get("FieldLevelEncryptionId") or ""
    assert carried == {"/api/*": fle_id, "*": fle_id, "/_next/static/*": "", "/images/*": ""}


def _check_web_acl(aws: Aws) -> str:
    """Spec "Web ACL: AWS WAF rules": managed rule groups plus a per-IP rate limit."""
    acl = _web_acl(aws)
    assert ":global/webacl/vivr-waf/" in acl["ARN"], "CLOUDFRONT scope"
    assert acl["DefaultAction"] == {"Allow": {}}
    rules = {r["Name"]: r for r in acl["Rules"]}
    groups = {name: r for name, r in rules.items()
              if "ManagedRuleGroupStatement" in r["Statement"]}
    assert set(groups) == MANAGED_RULE_GROUPS
    for rule in groups.values():
        assert rule["Statement"]["ManagedRuleGroupStatement"]["VendorName"] == "AWS"
        assert rule["OverrideAction"] == {"None": {}}
        assert rule["VisibilityConfig"]["CloudWatchMetricsEnabled"] is True
    rates = [r for r in rules.values() if "RateBasedStatement" in r["Statement"]]
    assert len(rates) == 1
    rate = rates[0]["Statement"]["RateBasedStatement"]
    assert (rate["Limit"], rate["AggregateKeyType"], rates[0]["Action"]) == \
        (2000, "IP", {"Block": {}})
    assert len({r["Priority"] for r in acl["Rules"]}) == len(acl["Rules"])
    wafv2 = aws.client("wafv2")
    tags = wafv2.list_tags_for_resource(ResourceARN=acl["ARN"])["TagInfoForResource"]["TagList"]
    assert {k: v for k, v in tags_of({"Tags": tags}).items() if k in OWNERSHIP} == OWNERSHIP
    return str(acl["ARN"])


def test_managed_policy_names_map_to_aws_ids() -> None:
    """Every managed policy name the config accepts resolves to a published ID."""
    assert set(MANAGED_CACHE_POLICY_IDS) == MANAGED_CACHE_POLICIES
    assert set(MANAGED_ORIGIN_REQUEST_POLICY_IDS) == MANAGED_ORIGIN_REQUEST_POLICIES
    assert set(MANAGED_RESPONSE_HEADERS_POLICY_IDS) == MANAGED_RESPONSE_HEADERS_POLICIES


def test_apply_builds_the_distribution_as_the_spec_says(aws: Aws) -> None:
    result = aws.cli("apply", *TARGET, "--output", "json")
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    steps = {s["step"]: s["action"] for s in report["steps"]}
    assert steps["cloudfront"] == steps["waf"] == steps["cloudfront-oac"] == "created"
    assert steps["cloudfront-fle-public-key"] == steps["cloudfront-fle-profile"] == \
        steps["cloudfront-fle-config"] == steps["secret.fle_private_key"] == "created"

    distribution, config = _distribution(aws)
    assert distribution["Status"] == "Deployed"
    assert config["Comment"] == "vivr-cdn"
    assert config["Enabled"] is True
    assert "vivr.example.com" in _items(config["Aliases"])
    tags = tags_of({"Tags": _items(aws.client("cloudfront").list_tags_for_resource(
        Resource=distribution["ARN"])["Tags"])})
    assert {k: tags.get(k) for k in OWNERSHIP} == OWNERSHIP and tags["Name"] == "vivr-cdn"

    control_id = _check_origins(aws, config)
    _check_behaviours(aws, config)
    _check_field_level_encryption(aws, config)

    # Security: the ACM certificate over SNI with TLS 1.2 (2021 policy), the WAF ACL.
    certificates = aws.client("acm").list_certificates()["CertificateSummaryList"]
    assert len(certificates) == 1
    viewer = config["ViewerCertificate"]
    assert viewer["ACMCertificateArn"] == certificates[0]["CertificateArn"]
    assert (viewer["SSLSupportMethod"], viewer["MinimumProtocolVersion"]) == \
        ("sni-only", "TLSv1.2_2021")
    assert viewer["CloudFrontDefaultCertificate"] is False
    assert config["WebACLId"] == _check_web_acl(aws)
    # Geo-restriction none; logging to vivr-logs under cloudfront/, no cookies.
    assert config["Restrictions"]["GeoRestriction"]["RestrictionType"] == "none"
    assert config["Logging"] == {"Enabled": True, "IncludeCookies": False,
                                 "Bucket": "vivr-logs.s3.amazonaws.com",
                                 "Prefix": "cloudfront/"}

    # What real AWS receives, including what an emulator might drop.
    [sent] = aws.requests("CreateDistributionWithTags")
    sent_config = sent["DistributionConfigWithTags"]["DistributionConfig"]
    sent_origins = {o["Id"]: o for o in sent_config["Origins"]["Items"]}
    assert sent_origins["assets"]["OriginAccessControlId"] == control_id
    assert sent_origins["assets"]["S3OriginConfig"] == {"OriginAccessIdentity": ""}
    state = json.loads(aws.state_path.read_text())
    assert sent_config["CallerReference"] == state["steps"]["cloudfront"]["token"], \
        "CallerReference is the step's recorded token: a repeated create is recognised"

    # The header value is a secret: nowhere in the output, the logs or the state.
    secret = _origin_verify_value(aws)
    leaked = secret in result.stdout + result.stderr
    assert not leaked, "the X-Origin-Verify value leaked into the CLI output"
    leaked = secret in aws.state_path.read_text()
    assert not leaked, "the X-Origin-Verify value is in the state file"
    body = "".join(_fle_private_key(aws).splitlines()[1:-1])[:64]  # its first base64 line
    leaked = body in result.stdout + result.stderr + aws.state_path.read_text()
    assert not leaked, "the field-level encryption private key leaked into output or state"
    outputs = state["steps"]["cloudfront"]["outputs"]
    assert outputs["hosted_zone_id"] == "Z2FDTNDATAQYW2"
    assert outputs["domain_name"] == distribution["DomainName"]

    # A second apply finds everything as it is and changes nothing.
    mark = len(aws.calls())
    again = aws.cli("apply", *TARGET, "--output", "json")
    assert again.returncode == 0, again.stderr[-2000:]
    assert {s["action"] for s in json.loads(again.stdout)["steps"]} == {"unchanged"}
    assert aws.mutating_calls(since=mark) == []
    leaked = secret in again.stdout + again.stderr
    assert not leaked, "the X-Origin-Verify value leaked into the second apply's output"


def test_a_crashed_create_is_adopted_and_destroy_disables_before_deleting(aws: Aws) -> None:
    """Drift repair (hand-changed distribution and web ACL) is proven on stubbed
    clients: tests/unit/test_cloudfront_drift.py and tests/unit/test_waf_drift.py."""
    # A crash right after CreateDistributionWithTags: the rerun adopts, never duplicates.
    crashed = aws.cli("apply", *TARGET,
                      env={"VIVR_FAULT_CRASH_AFTER": "cloudfront.CreateDistributionWithTags"})
    assert crashed.returncode == 137
    code, report = aws.cli_json("apply", *TARGET)
    assert code == 0, report
    assert {s["step"]: s["action"] for s in report["steps"]}["cloudfront"] == "adopted"
    assert len(aws.requests("CreateDistributionWithTags")) == 1
    cloudfront = aws.client("cloudfront")

    # Destroy: disable (IfMatch), wait until deployed, delete; then the web ACL.
    destroyed = aws.cli("destroy", "--yes", "--disable-deletion-protection", "--output", "json")
    assert destroyed.returncode == 0, destroyed.stderr[-2000:]
    actions = {s["step"]: s["action"] for s in json.loads(destroyed.stdout)["steps"]}
    assert actions["cloudfront"] == actions["waf"] == actions["cloudfront-oac"] == "deleted"
    calls = [(c["operation"], c["params"]) for c in _recorded(aws)
             if c["service"] in ("cloudfront", "wafv2")]
    operations = [operation for operation, _ in calls]
    disabled = [i for i, (operation, params) in enumerate(calls)
                if operation == "UpdateDistribution"
                and params["DistributionConfig"]["Enabled"] is False]
    deleted = operations.index("DeleteDistribution")
    assert disabled and disabled[-1] < deleted, "disabled before the delete"
    assert calls[disabled[-1]][1]["IfMatch"] and calls[deleted][1]["IfMatch"]
    waiting = [i for i, name in enumerate(operations[disabled[-1]:deleted]) if
               name == "GetDistribution"]
    assert waiting, "the deployment of the disabled config is awaited"
    assert deleted < operations.index("DeleteWebACL"), "the ACL goes after its distribution"
    # The failover records CloudFront's origin name resolves through go after it.
    record_deletes = [i for i, c in enumerate(_recorded(aws))
                      if c["operation"] == "ChangeResourceRecordSets"
                      and any(ch["Action"] == "DELETE" and ch["ResourceRecordSet"]["Name"]
                              .startswith("origin.vivr.example.com")
                              for ch in c["params"]["ChangeBatch"]["Changes"])]
    distribution_deleted = [i for i, c in enumerate(_recorded(aws))
                            if c["operation"] == "DeleteDistribution"]
    assert record_deletes and distribution_deleted[-1] < record_deletes[0], \
        "the failover pair is deleted after the distribution that resolves it"
    assert cloudfront.list_distributions()["DistributionList"].get("Items") in (None, [])
    assert aws.client("wafv2").list_web_acls(Scope="CLOUDFRONT")["WebACLs"] == []
    assert _items(cloudfront.list_origin_access_controls()["OriginAccessControlList"]) == []
    assert _items(cloudfront.list_cache_policies(Type="custom")["CachePolicyList"]) == []
    assert _items(cloudfront.list_origin_request_policies(
        Type="custom")["OriginRequestPolicyList"]) == []
    # Field-level encryption: the distribution dropped the config (it is gone),
    # then the config, the profile and the key, in that order.
    fle_deletes = [operations.index(name) for name in (
        "DeleteFieldLevelEncryptionConfig", "DeleteFieldLevelEncryptionProfile",
        "DeletePublicKey")]
    assert [deleted, *fle_deletes] == sorted([deleted, *fle_deletes])
    assert _items(cloudfront.list_field_level_encryption_configs()[
        "FieldLevelEncryptionList"]) == []
    assert _items(cloudfront.list_field_level_encryption_profiles()[
        "FieldLevelEncryptionProfileList"]) == []
    assert _items(cloudfront.list_public_keys()["PublicKeyList"]) == []

    mark = len(aws.calls())
    code, report = aws.cli_json("destroy", "--yes", "--target", "waf")
    assert code == 0 and {s["action"] for s in report["steps"]} == {"absent"}
    assert aws.mutating_calls(since=mark) == []
