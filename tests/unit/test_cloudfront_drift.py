"""CloudFront drift from field tables: plan's changes and the one Update* call.

Each case is what GetDistribution answers (the production distribution as
AWS returns it, edited by hand), a config override, and the changes plan
shows.  Converging cases pin the exact requests: the tags through
CloudFront's ``Tags={"Items": [...]}``, then one UpdateDistribution with the
ETag of a fresh GetDistributionConfig, carrying the whole desired config
and passing through what this tool does not manage.  The X-Origin-Verify
value is compared by digest and never appears in a change.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.unit.stubbed import ACCOUNT, StubbedAws, production_config
from vivr_provision.config import PlatformConfig
from vivr_provision.steps.base import Change, Resource, Step
from vivr_provision.steps.cloudfront.common import digest
from vivr_provision.steps.cloudfront.distribution import DistributionStep
from vivr_provision.steps.cloudfront.fields import KEPT_VALUE
from vivr_provision.steps.cloudfront.oac import OriginAccessControlStep
from vivr_provision.steps.cloudfront.policies import CachePolicyStep, OriginRequestPolicyStep
from vivr_provision.steps.cloudfront.rotation import sent_digests

DIST_ID = "E2EXAMPLE0DIST"
ARN = f"arn:aws:cloudfront::{ACCOUNT}:distribution/{DIST_ID}"
REF = "0f3c9a-caller-reference"
SECRET = "Origin-Verify-Value-42"
SECRET_ARN = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:vivr/production/origin-verify"
CERT_ARN = f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/c0ffee00-1111-2222-3333-444455556666"
ACL_ARN = f"arn:aws:wafv2:us-east-1:{ACCOUNT}:global/webacl/vivr-waf/a1b2c3d4"
ALB_DNS = "vivr-alb-1234567890.us-east-1.elb.amazonaws.com"
#: The app origin's domain: the failover name (cloudfront.origins[app].failover_record).
ORIGIN_NAME = "origin.vivr.example.com"
ASSETS_DOMAIN = "vivr-assets.s3.us-east-1.amazonaws.com"
OUTPUTS = {
    "alb": {"dns_name": ALB_DNS},
    "s3.assets": {"regional_domain_name": ASSETS_DOMAIN},
    "cloudfront-oac": {"origin_access_control_id": "E1OACEXAMPLE"},
    "cloudfront-cache-policy.vivr-production-static-1y": {"policy_id": "static-1y-id"},
    "cloudfront-cache-policy.vivr-production-images-30d": {"policy_id": "images-30d-id"},
    "cloudfront-origin-request-policy.vivr-production-s3-simple": {"policy_id": "s3-simple-id"},
    "acm": {"region": "us-east-1", "certificate_arn": CERT_ARN},
    "waf": {"web_acl_arn": ACL_ARN},
    "secret.origin_verify": {"arn": SECRET_ARN},
    "cloudfront-fle-config": {"field_level_encryption_id": "C3FLEEXAMPLE"},
}
#: The distribution's tags: the config's common tags, ownership, its name and step.
TAGS = {"Owner": "platform-team", "CostCenter": "vivr-ecommerce", "Project": "vivr",
        "Environment": "production", "ManagedBy": "vivr-provision", "Name": "vivr-cdn",
        "vivr:step": "cloudfront"}
# AWS's published managed policy IDs (CachingDisabled, AllViewer, CORS+security headers).
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER = "216adef6-5c7f-47e4-b989-5492eafa07d3"
CORS_SECURITY = "e61eb60c-9c35-4d20-a928-2b84e02af89c"
CORS_PREFLIGHT_SECURITY = "eaab4381-ed33-4a86-88ca-d9558dc6cd63"
ALL_METHODS = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]


def _listed(items: list[Any]) -> dict[str, Any]:
    return {"Quantity": len(items), "Items": list(items)} if items else {"Quantity": 0}


def _behaviour(target: str, methods: list[str], cache_policy: str, *, path: str | None = None,
               request: str | None = None, response: str | None = None,
               fle: str = "") -> dict[str, Any]:
    behaviour: dict[str, Any] = {} if path is None else {"PathPattern": path}
    behaviour.update({
        "TargetOriginId": target, "ViewerProtocolPolicy": "https-only",
        "TrustedSigners": {"Enabled": False, "Quantity": 0},
        "TrustedKeyGroups": {"Enabled": False, "Quantity": 0},
        "AllowedMethods": {**_listed(methods), "CachedMethods": _listed(["GET", "HEAD"])},
        "SmoothStreaming": False, "Compress": True,
        "LambdaFunctionAssociations": {"Quantity": 0}, "FunctionAssociations": {"Quantity": 0},
        "FieldLevelEncryptionId": fle, "CachePolicyId": cache_policy})
    if request is not None:
        behaviour["OriginRequestPolicyId"] = request
    if response is not None:
        behaviour["ResponseHeadersPolicyId"] = response
    return behaviour


def _custom(origin_id: str, domain: str, path: str = "", **extra: Any) -> dict[str, Any]:
    return {"Id": origin_id, "DomainName": domain, "OriginPath": path,
            "CustomHeaders": {"Quantity": 0},
            "CustomOriginConfig": {"HTTPPort": 80, "HTTPSPort": 443,
                                   "OriginProtocolPolicy": "https-only",
                                   "OriginSslProtocols": _listed(["TLSv1.2"]),
                                   "OriginReadTimeout": 30, "OriginKeepaliveTimeout": 5},
            "OriginShield": {"Enabled": False}, **extra}


def wanted() -> dict[str, Any]:
    """The DistributionConfig the production config asks for (config/production.yaml,
    cloudfront), with the outputs above: what UpdateDistribution must carry."""
    return {
        "CallerReference": REF, "Comment": "vivr-cdn", "Enabled": True,
        "Aliases": _listed(["vivr.example.com", "www.vivr.example.com"]),
        "DefaultRootObject": "", "PriceClass": "PriceClass_All", "HttpVersion": "http2and3",
        "IsIPV6Enabled": True, "WebACLId": ACL_ARN,
        "Origins": _listed([
            _custom("app", ORIGIN_NAME, CustomHeaders=_listed([
                {"HeaderName": "X-Origin-Verify", "HeaderValue": SECRET}]),
                OriginShield={"Enabled": True, "OriginShieldRegion": "us-east-1"}),
            {"Id": "assets", "DomainName": ASSETS_DOMAIN, "OriginPath": "",
             "CustomHeaders": {"Quantity": 0}, "S3OriginConfig": {"OriginAccessIdentity": ""},
             "OriginAccessControlId": "E1OACEXAMPLE", "OriginShield": {"Enabled": False}},
            _custom("cloudinary", "res.cloudinary.com", "/vivr/image/upload"),
        ]),
        # Field-level encryption on the POST behaviours to the app (issue 12).
        "DefaultCacheBehavior": _behaviour("app", ALL_METHODS, CACHING_DISABLED,
                                           request=ALL_VIEWER, response=CORS_SECURITY,
                                           fle="C3FLEEXAMPLE"),
        "CacheBehaviors": _listed([
            _behaviour("app", ALL_METHODS, CACHING_DISABLED, path="/api/*",
                       request=ALL_VIEWER, response=CORS_PREFLIGHT_SECURITY,
                       fle="C3FLEEXAMPLE"),
            _behaviour("assets", ["GET", "HEAD"], "static-1y-id", path="/_next/static/*",
                       request="s3-simple-id"),
            _behaviour("cloudinary", ["GET", "HEAD"], "images-30d-id", path="/images/*"),
        ]),
        "Logging": {"Enabled": True, "IncludeCookies": False,
                    "Bucket": "vivr-logs.s3.amazonaws.com", "Prefix": "cloudfront/"},
        "ViewerCertificate": {"CloudFrontDefaultCertificate": False,
                              "ACMCertificateArn": CERT_ARN, "SSLSupportMethod": "sni-only",
                              "MinimumProtocolVersion": "TLSv1.2_2021"},
        "Restrictions": {"GeoRestriction": {"RestrictionType": "none", "Quantity": 0}},
    }


Edit = Callable[[dict[str, Any]], None]


def _aws_config(edit: Edit | None = None) -> dict[str, Any]:
    config = wanted()
    if edit is not None:
        edit(config)
    return config


def _get_distribution(config: dict[str, Any]) -> dict[str, Any]:
    """GetDistribution's reply for ``config``."""
    return {"ETag": "E1ETAG", "Distribution": {
        "Id": DIST_ID, "ARN": ARN, "Status": "Deployed", "DomainName": "d111.cloudfront.net",
        "LastModifiedTime": datetime(2026, 12, 1, tzinfo=UTC),
        "InProgressInvalidationBatches": 0, "DistributionConfig": config}}


def _tag_list(tags: dict[str, str]) -> dict[str, Any]:
    return {"Tags": {"Items": [{"Key": k, "Value": v} for k, v in tags.items()]}}


def _read(step: DistributionStep, aws: StubbedAws, config: dict[str, Any],
          tags: dict[str, str]) -> Resource:
    """The step's own read (GetDistribution, ListTagsForResource) of ``config``."""
    aws.expect("cloudfront", "get_distribution", _get_distribution(copy.deepcopy(config)),
               {"Id": DIST_ID})
    aws.expect("cloudfront", "list_tags_for_resource", _tag_list(tags), {"Resource": ARN})
    found = step.describe_by_id(aws.context(step.config, OUTPUTS), DIST_ID)
    assert found is not None
    return found


def _expect_secret(aws: StubbedAws, sent: dict[str, Any] | None = None, *,
                   value: bool = True) -> None:
    """Building the desired config reads the header's value from Secrets Manager (once a
    run: ``value=False`` for a later build in the same run); when the distribution
    ``sent`` (its config as CloudFront holds it) sends another value, also whether that
    is a rotation's pending value (none here: no AWSPENDING)."""
    if value:
        aws.expect("secretsmanager", "get_secret_value",
                   {"ARN": SECRET_ARN, "Name": "vivr/production/origin-verify",
                    "SecretString": SECRET}, {"SecretId": SECRET_ARN})
    if sent is not None and sent_digests(sent).get(("app", "x-origin-verify"),
                                                   digest(SECRET)) != digest(SECRET):
        aws.expect("secretsmanager", "describe_secret",
                   {"VersionIdsToStages": {"c" * 32: ["AWSCURRENT"]}}, {"SecretId": SECRET_ARN})


def _diff(step: DistributionStep, aws: StubbedAws, config: dict[str, Any],
          tags: dict[str, str]) -> tuple[Resource, list[Change]]:
    """Read ``config`` as the step does, then compare it with the config's wishes."""
    resource = _read(step, aws, config, tags)
    _expect_secret(aws, config)
    return resource, step.diff(aws.context(step.config, OUTPUTS), resource)


def _shown(value: Any) -> Any:
    return str(value) if isinstance(value, str) else value


# --------------------------------------------------------------------------- edits by hand

def _api(config: dict[str, Any]) -> Any:
    return next(b for b in config["CacheBehaviors"]["Items"] if b["PathPattern"] == "/api/*")


def _app(config: dict[str, Any]) -> Any:
    return config["Origins"]["Items"][0]


def _as_aws_spells_it(config: dict[str, Any]) -> None:
    """Equal settings, spelled differently: omitted defaults and empty ids, other orders."""
    config.pop("DefaultRootObject")
    config["Aliases"]["Items"] = ["WWW.vivr.example.com", "vivr.example.com"]
    config["Origins"]["Items"].reverse()
    config["DefaultCacheBehavior"]["AllowedMethods"]["Items"].reverse()
    config["CacheBehaviors"]["Items"][2].pop("FieldLevelEncryptionId")  # /images/*: none
    config["DefaultCacheBehavior"]["LambdaFunctionAssociations"]["Items"] = []
    config["Origins"]["Items"][0]["CustomOriginConfig"].pop("OriginReadTimeout")


def _disable(config: dict[str, Any]) -> None:
    config["Enabled"] = False


def _no_api_compression(config: dict[str, Any]) -> None:
    _api(config)["Compress"] = False


def _wrong_header(config: dict[str, Any]) -> None:
    _app(config)["CustomHeaders"]["Items"][0]["HeaderValue"] = "not-the-secret-value"


def _extra_header(config: dict[str, Any]) -> None:
    _app(config)["CustomHeaders"] = _listed([
        {"HeaderName": "X-Origin-Verify", "HeaderValue": SECRET},
        {"HeaderName": "X-Debug", "HeaderValue": "1"}])


def _swap_precedence(config: dict[str, Any]) -> None:
    config["CacheBehaviors"]["Items"].reverse()


def _drop_cloudinary(config: dict[str, Any]) -> None:
    config["Origins"] = _listed(config["Origins"]["Items"][:2])


def _no_logging(config: dict[str, Any]) -> None:
    config["Logging"] = {"Enabled": False, "IncludeCookies": False, "Bucket": "", "Prefix": ""}


def _older_tls(config: dict[str, Any]) -> None:
    config["ViewerCertificate"]["MinimumProtocolVersion"] = "TLSv1.2_2019"


def _acl_detached(config: dict[str, Any]) -> None:
    config["WebACLId"] = ""


def _error_page(config: dict[str, Any]) -> None:
    """Not managed by this tool: custom error responses set in the console."""
    config["CustomErrorResponses"] = _listed([{"ErrorCode": 404, "ResponsePagePath": "/404",
                                               "ResponseCode": "404"}])


def _cheaper(config: PlatformConfig) -> PlatformConfig:
    cf = config.cloudfront
    return config.model_copy(update={"cloudfront": cf.model_copy(update={
        "price_class": "PriceClass_100", "ipv6": False})})


def _geo_allow_list(config: PlatformConfig) -> PlatformConfig:
    cf = config.cloudfront
    geo = cf.geo_restriction.model_copy(update={"type": "whitelist",
                                                "locations": ["US", "CA"]})
    return config.model_copy(update={"cloudfront": cf.model_copy(update={
        "geo_restriction": geo})})


Expected = list[tuple[str, Any, Any]]
CASES: list[tuple[str, Edit | None, dict[str, str], Callable[[PlatformConfig], PlatformConfig]
                  | None, Expected]] = [
    ("as configured", None, TAGS, None, []),
    ("as AWS spells it", _as_aws_spells_it, TAGS, None, []),
    ("others' tags and unmanaged settings are left alone", _error_page,
     {**TAGS, "team": "theirs"}, None, []),
    ("our tags missing", None, {}, None, [("tags", dict.fromkeys(TAGS), TAGS)]),
    ("disabled by hand", _disable, TAGS, None, [("Enabled", False, True)]),
    ("compression off on /api/*", _no_api_compression, TAGS, None,
     [("CacheBehaviors[/api/*].Compress", False, True)]),
    ("origin header value changed: named, never shown", _wrong_header, TAGS, None,
     [("Origins[app].CustomHeaders.X-Origin-Verify", "X-Origin-Verify value differs",
       KEPT_VALUE)]),
    ("a header added by hand", _extra_header, TAGS, None,
     [("Origins[app].CustomHeaders.X-Debug", "X-Debug value differs", None)]),
    ("behaviour precedence changed", _swap_precedence, TAGS, None,
     [("CacheBehaviors (precedence)", ["/images/*", "/_next/static/*", "/api/*"],
       ["/api/*", "/_next/static/*", "/images/*"])]),
    ("an origin removed", _drop_cloudinary, TAGS, None,
     [("Origins", ["app", "assets"], ["app", "assets", "cloudinary"])]),
    ("logging turned off", _no_logging, TAGS, None,
     [("Logging.Enabled", False, True), ("Logging.Bucket", None, "vivr-logs.s3.amazonaws.com"),
      ("Logging.Prefix", None, "cloudfront/"), ("Logging.IncludeCookies", None, False)]),
    ("an older TLS policy", _older_tls, TAGS, None,
     [("ViewerCertificate.MinimumProtocolVersion", "TLSv1.2_2019", "TLSv1.2_2021")]),
    ("the web ACL detached", _acl_detached, TAGS, None, [("WebACLId", "", ACL_ARN)]),
    ("the config asks for fewer edge locations and no IPv6", None, TAGS, _cheaper,
     [("PriceClass", "PriceClass_All", "PriceClass_100"), ("IsIPV6Enabled", True, False)]),
    ("the config restricts countries", None, TAGS, _geo_allow_list,
     [("GeoRestriction.RestrictionType", "none", "whitelist"),
      ("GeoRestriction.Locations", [], ["CA", "US"])]),
]


@pytest.mark.parametrize(("edit", "tags", "override", "expected"),
                         [pytest.param(*case[1:], id=case[0]) for case in CASES])
def test_distribution_drift(edit: Edit | None, tags: dict[str, str],
                            override: Callable[[PlatformConfig], PlatformConfig] | None,
                            expected: Expected) -> None:
    config = production_config()
    step = DistributionStep(override(config) if override else config)
    with StubbedAws() as aws:
        _, changes = _diff(step, aws, _aws_config(edit), tags)
    assert [(c.field, _shown(c.current), _shown(c.desired)) for c in changes] == expected
    assert not any(c.replace or c.when for c in changes)
    shown = " ".join(c.describe() for c in changes)
    assert SECRET not in shown and "not-the-secret-value" not in shown


def test_plan_describes_the_drift_operators_look_for() -> None:
    """What ``status --refresh`` prints for a disabled, uncompressed, re-keyed distribution."""
    step = DistributionStep(production_config())

    def by_hand(config: dict[str, Any]) -> None:
        _disable(config)
        _no_api_compression(config)
        _wrong_header(config)

    with StubbedAws() as aws:
        resource, changes = _diff(step, aws, _aws_config(by_hand), TAGS)
    described = " ".join(c.describe() for c in changes)
    assert "Enabled: False -> True" in described
    assert "CacheBehaviors[/api/*].Compress: False -> True" in described
    assert "X-Origin-Verify value differs" in described
    assert SECRET not in described and "not-the-secret-value" not in described
    assert SECRET not in repr(resource.data), "the step keeps header values only as digests"


def test_drift_converges_in_one_update_distribution_with_the_etag_and_tags_apart() -> None:
    step = DistributionStep(production_config())

    def by_hand(config: dict[str, Any]) -> None:
        _disable(config)
        _no_api_compression(config)
        _wrong_header(config)
        _error_page(config)

    drifted = _aws_config(by_hand)
    with StubbedAws() as aws:
        resource, changes = _diff(step, aws, drifted, {"team": "theirs"})
        assert [c.field for c in changes] == [
            "tags", "Enabled", "Origins[app].CustomHeaders.X-Origin-Verify",
            "CacheBehaviors[/api/*].Compress"]
        aws.expect("cloudfront", "tag_resource", {}, {"Resource": ARN, "Tags": {"Items": [
            {"Key": k, "Value": v} for k, v in sorted(TAGS.items())]}})
        aws.expect("cloudfront", "get_distribution_config",
                   {"ETag": "E2ETAG", "DistributionConfig": copy.deepcopy(drifted)},
                   {"Id": DIST_ID})
        _expect_secret(aws, drifted)
        # The whole desired config, the ETag just read, the console's error page kept.
        aws.expect("cloudfront", "update_distribution", {"ETag": "E3ETAG"}, {
            "Id": DIST_ID, "IfMatch": "E2ETAG",
            "DistributionConfig": {**wanted(), "CustomErrorResponses": drifted[
                "CustomErrorResponses"]}})
        aws.expect("cloudfront", "get_distribution", _get_distribution(wanted()),
                   {"Id": DIST_ID})
        aws.expect("cloudfront", "list_tags_for_resource", _tag_list(TAGS), {"Resource": ARN})
        found = step.update(aws.context(step.config, OUTPUTS), resource, changes)
    assert found.data["TagMap"] == TAGS


def test_tags_alone_make_no_update_distribution_and_only_wrong_tags_are_written() -> None:
    step = DistributionStep(production_config())
    with StubbedAws() as aws:
        resource, changes = _diff(step, aws, _aws_config(), {**TAGS, "Owner": "someone"})
        assert [c.field for c in changes] == ["tags"]
        aws.expect("cloudfront", "tag_resource", {}, {"Resource": ARN, "Tags": {"Items": [
            {"Key": "Owner", "Value": "platform-team"}]}})
        aws.expect("cloudfront", "get_distribution", _get_distribution(wanted()))
        aws.expect("cloudfront", "list_tags_for_resource", _tag_list(TAGS))
        step.update(aws.context(step.config, OUTPUTS), resource, changes)


# --------------------------------------------------------------------------- policies and OAC
#
# No tags: each is ours by the ownership note in its comment, and converges in
# one Update* call carrying the whole config, with the ETag of a fresh read.

NOTE = "[vivr-provision vivr/production]"
STATIC_1Y = {  # config/production.yaml, cloudfront.cache_policies[0]
    "Comment": f"Versioned Next.js assets, 1 year (31536000 s) {NOTE}",
    "Name": "vivr-production-static-1y", "MinTTL": 31536000, "DefaultTTL": 31536000,
    "MaxTTL": 31536000, "ParametersInCacheKeyAndForwardedToOrigin": {
        "EnableAcceptEncodingGzip": True, "EnableAcceptEncodingBrotli": True,
        "HeadersConfig": {"HeaderBehavior": "none"},
        "CookiesConfig": {"CookieBehavior": "none"},
        "QueryStringsConfig": {"QueryStringBehavior": "none"}}}
S3_SIMPLE = {  # cloudfront.origin_request_policies[0]
    "Comment": f"Forward nothing to S3 {NOTE}", "Name": "vivr-production-s3-simple",
    "HeadersConfig": {"HeaderBehavior": "none"}, "CookiesConfig": {"CookieBehavior": "none"},
    "QueryStringsConfig": {"QueryStringBehavior": "none"}}
OAC = {"Name": "vivr-cdn-s3", "Description": f"vivr-assets OAI {NOTE}",
       "SigningProtocol": "sigv4", "SigningBehavior": "always",
       "OriginAccessControlOriginType": "s3"}


def _cache_step() -> CachePolicyStep:
    config = production_config()
    return CachePolicyStep(config, config.cloudfront.cache_policies[0])


def _request_step() -> OriginRequestPolicyStep:
    config = production_config()
    return OriginRequestPolicyStep(config, config.cloudfront.origin_request_policies[0])


def _oac_step() -> OriginAccessControlStep:
    return OriginAccessControlStep(production_config())


def _edited(document: dict[str, Any], edit: Edit | None) -> dict[str, Any]:
    edited = copy.deepcopy(document)
    if edit is not None:
        edit(edited)
    return edited


def _in_key(part: str, value: Any) -> Edit:
    return lambda c: c["ParametersInCacheKeyAndForwardedToOrigin"].update({part: value})


POLICY_CASES: list[tuple[str, Callable[[], Step], dict[str, Any], Edit | None, Expected]] = [
    ("cache policy as configured", _cache_step, STATIC_1Y, None, []),
    ("cache policy: TTL lowered", _cache_step, STATIC_1Y,
     lambda c: c.update(MaxTTL=86400), [("MaxTTL", 86400, 31536000)]),
    ("cache policy: omitted TTL is 0", _cache_step, STATIC_1Y,
     lambda c: c.pop("MinTTL"), [("MinTTL", 0, 31536000)]),
    ("cache policy: brotli off", _cache_step, STATIC_1Y,
     _in_key("EnableAcceptEncodingBrotli", False), [("Brotli", False, True)]),
    ("cache policy: a header in the key, names compared sorted", _cache_step, STATIC_1Y,
     _in_key("HeadersConfig", {"HeaderBehavior": "whitelist",
                               "Headers": {"Quantity": 2, "Items": ["Origin", "Host"]}}),
     [("Headers", ["whitelist", ["Host", "Origin"]], ["none", []])]),
    ("origin request policy as configured", _request_step, S3_SIMPLE, None, []),
    ("origin request policy: cookies forwarded", _request_step, S3_SIMPLE,
     lambda c: c.update(CookiesConfig={"CookieBehavior": "all"}),
     [("Cookies", ["all", []], ["none", []])]),
    ("origin request policy: comment edited", _request_step, S3_SIMPLE,
     lambda c: c.update(Comment="edited"), [("Comment", "edited", S3_SIMPLE["Comment"])]),
    ("OAC as configured", _oac_step, OAC, None, []),
    ("OAC: signing relaxed", _oac_step, OAC, lambda c: c.update(SigningBehavior="no-override"),
     [("SigningBehavior", "no-override", "always")]),
    ("OAC: description omitted", _oac_step, OAC, lambda c: c.pop("Description"),
     [("Description", "", OAC["Description"])]),
]


@pytest.mark.parametrize(("make", "document", "edit", "expected"),
                         [pytest.param(*case[1:], id=case[0]) for case in POLICY_CASES])
def test_policy_and_oac_drift(make: Callable[[], Step], document: dict[str, Any],
                              edit: Edit | None, expected: Expected) -> None:
    step = make()
    with StubbedAws() as aws:  # comparing reads nothing
        changes = step.diff(aws.context(step.config),
                            Resource("id-1", {"Config": _edited(document, edit), "ETag": "E1"}))
    assert [(c.field, c.current, c.desired) for c in changes] == expected


def _set(**values: Any) -> Edit:
    return lambda c: c.update(values)


@pytest.mark.parametrize(("make", "key", "document", "edit", "fields"), [
    (_cache_step, "CachePolicy", STATIC_1Y, _set(Comment="x", MaxTTL=60),
     ["Comment", "MaxTTL"]),
    (_request_step, "OriginRequestPolicy", S3_SIMPLE,
     _set(CookiesConfig={"CookieBehavior": "all"}), ["Cookies"]),
    (_oac_step, "OriginAccessControl", OAC, _set(Description="x", SigningProtocol="sigv2"),
     ["Description", "SigningProtocol"]),
])
def test_policy_and_oac_drift_converges_in_one_update_with_a_fresh_etag(
        make: Callable[[], Step], key: str, document: dict[str, Any], edit: Edit,
        fields: list[str]) -> None:
    step = make()
    drifted = _edited(document, edit)
    method = "".join(f"_{c.lower()}" if c.isupper() else c for c in key).lstrip("_")

    def reply(config: dict[str, Any], etag: str) -> dict[str, Any]:
        body: dict[str, Any] = {"Id": "id-1", f"{key}Config": copy.deepcopy(config)}
        if key != "OriginAccessControl":
            body["LastModifiedTime"] = datetime(2026, 12, 1, tzinfo=UTC)
        return {key: body, "ETag": etag}

    with StubbedAws() as aws:
        ctx = aws.context(step.config)
        resource = Resource("id-1", {"Config": drifted, "ETag": "E1"})
        changes = step.diff(ctx, resource)
        assert [c.field for c in changes] == fields
        aws.expect("cloudfront", f"get_{method}", reply(drifted, "E2"), {"Id": "id-1"})
        aws.expect("cloudfront", f"update_{method}", reply(document, "E3"),
                   {"Id": "id-1", "IfMatch": "E2", f"{key}Config": document})
        aws.expect("cloudfront", f"get_{method}", reply(document, "E3"), {"Id": "id-1"})
        found = step.update(ctx, resource, changes)
    assert found.data == {"Config": document, "ETag": "E3"}


def test_a_distribution_changed_between_read_and_write_is_read_again() -> None:
    """PreconditionFailed (someone wrote in between): re-read the ETag and the
    config, rebuild, and write again with the new ETag."""
    step = DistributionStep(production_config())
    drifted = _aws_config(_disable)
    with StubbedAws() as aws:
        resource, changes = _diff(step, aws, drifted, TAGS)
        assert [c.field for c in changes] == ["Enabled"]
        for etag, answer in (("E2ETAG", "PreconditionFailed"), ("E4ETAG", None)):
            aws.expect("cloudfront", "get_distribution_config",
                       {"ETag": etag, "DistributionConfig": copy.deepcopy(drifted)},
                       {"Id": DIST_ID})
            _expect_secret(aws, drifted, value=etag == "E2ETAG")
            request = {"Id": DIST_ID, "IfMatch": etag, "DistributionConfig": wanted()}
            if answer:
                aws.expect_error("cloudfront", "update_distribution", answer, params=request,
                                 status=412)
            else:
                aws.expect("cloudfront", "update_distribution", {"ETag": "E5ETAG"}, request)
        aws.expect("cloudfront", "get_distribution", _get_distribution(wanted()))
        aws.expect("cloudfront", "list_tags_for_resource", _tag_list(TAGS))
        step.update(aws.context(step.config, OUTPUTS), resource, changes)


# --------------------------------------------------------------------------- rotation
PENDING = "Origin-Verify-Value-43"
PENDING_ID, CURRENT_ID = "p" * 32, "c" * 32


def _sends_pending(config: dict[str, Any]) -> None:
    _app(config)["CustomHeaders"]["Items"][0]["HeaderValue"] = PENDING


def _expect_pending(aws: StubbedAws, pending_stages: list[str]) -> None:
    """A rotation's versions: the pending value is read only on its own version."""
    stages = {CURRENT_ID: ["AWSCURRENT"], PENDING_ID: pending_stages}
    aws.expect("secretsmanager", "describe_secret", {"VersionIdsToStages": stages},
               {"SecretId": SECRET_ARN})
    if pending_stages == ["AWSPENDING"]:
        aws.expect("secretsmanager", "get_secret_value", {"SecretString": PENDING},
                   {"SecretId": SECRET_ARN, "VersionId": PENDING_ID,
                    "VersionStage": "AWSPENDING"})


@pytest.mark.parametrize(("pending_stages", "drifted"), [
    (["AWSPENDING"], False),   # setSecret switched CloudFront; finishSecret not yet run
    (["AWSPREVIOUS"], True),   # no rotation under way: the header must be the current one
])
def test_the_header_a_rotation_switched_to_is_kept_until_it_is_current(
        pending_stages: list[str], drifted: bool) -> None:
    step = DistributionStep(production_config())
    with StubbedAws() as aws:
        resource = _read(step, aws, _aws_config(_sends_pending), TAGS)
        _expect_secret(aws)
        _expect_pending(aws, pending_stages)
        changes = step.diff(aws.context(step.config, OUTPUTS), resource)
    assert [c.field for c in changes] == (
        ["Origins[app].CustomHeaders.X-Origin-Verify"] if drifted else [])


def test_a_write_during_a_rotation_sends_the_pending_value_it_found() -> None:
    """Another setting drifted mid-rotation: the one UpdateDistribution keeps AWSPENDING."""
    step = DistributionStep(production_config())
    drifted = _aws_config(_sends_pending)
    _disable(drifted)
    with StubbedAws() as aws:
        resource = _read(step, aws, drifted, TAGS)
        _expect_secret(aws)
        _expect_pending(aws, ["AWSPENDING"])
        changes = step.diff(aws.context(step.config, OUTPUTS), resource)
        assert [c.field for c in changes] == ["Enabled"]
        aws.expect("cloudfront", "get_distribution_config",
                   {"ETag": "E2ETAG", "DistributionConfig": copy.deepcopy(drifted)},
                   {"Id": DIST_ID})
        _expect_secret(aws)
        _expect_pending(aws, ["AWSPENDING"])
        sent = _aws_config(_sends_pending)
        aws.expect("cloudfront", "update_distribution", {"ETag": "E3ETAG"},
                   {"Id": DIST_ID, "IfMatch": "E2ETAG", "DistributionConfig": sent})
        aws.expect("cloudfront", "get_distribution", _get_distribution(sent), {"Id": DIST_ID})
        aws.expect("cloudfront", "list_tags_for_resource", _tag_list(TAGS), {"Resource": ARN})
        step.update(aws.context(step.config, OUTPUTS), resource, changes)
