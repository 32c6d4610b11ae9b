"""The distribution: origins, behaviours, certificate, WAF, logging.

Drift comes from the table in :mod:`~vivr_provision.steps.cloudfront.fields`
(one row per managed part, built from the config's origins and
behaviours); every difference but the tags converges in one
``UpdateDistribution`` with the ETag just read (:meth:`DistributionStep.write_config`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from vivr_provision import aws_errors
from vivr_provision.aws import error_code
from vivr_provision.config import PlatformConfig
from vivr_provision.config.edge import (
    AlbOriginConfig,
    BehaviourConfig,
    CustomOriginConfig,
    S3OriginConfig,
)
from vivr_provision.log import get_logger
from vivr_provision.steps.alb import LISTENER_FAMILY
from vivr_provision.steps.base import Change, Resource, Step, StepContext
from vivr_provision.steps.cloudfront.common import (
    CACHE_POLICY_FAMILY,
    CERTIFICATE_SETTLING,
    CLOUDFRONT_HOSTED_ZONE_ID,
    CLOUDFRONT_REGION,
    DISTRIBUTION_STEP,
    FLE_CONFIG_STEP,
    MANAGED_CACHE_POLICY_IDS,
    MANAGED_KEYS,
    MANAGED_ORIGIN_REQUEST_POLICY_IDS,
    MANAGED_RESPONSE_HEADERS_POLICY_IDS,
    NOT_YET_DISABLED,
    OAC_STEP,
    ORIGIN_REQUEST_POLICY_FAMILY,
    STALE_ETAG,
    cloudfront_client,
    items_of,
    quantity_of,
    sanitized,
)
from vivr_provision.steps.cloudfront.fields import Wanted, distribution_fields
from vivr_provision.steps.cloudfront.rotation import Sending, header_value, sent_digests
from vivr_provision.steps.common import (
    absent_on,
    aws_tags,
    gone_on,
    is_owned_by,
    tag_map,
)
from vivr_provision.steps.dr import dr_site
from vivr_provision.steps.drift import converge, drift
from vivr_provision.steps.durations import Operation
from vivr_provision.steps.kinds import DISTRIBUTION
from vivr_provision.steps.records.common import FAILOVER_FAMILY
from vivr_provision.steps.waf import WAF_STEP
from vivr_provision.tag_batch import batched_tags

events = get_logger("vivr.cloudfront")

# --------------------------------------------------------------------------- the distribution

class DistributionStep(Step):
    """``cloudfront.name`` (vivr-cdn): three origins, four behaviours, WAF, ACM, logging."""

    #: The standby listener is a dependency only so the origin name answers when
    #: CloudFront is created; a destroy of the DR side leaves the distribution.
    detaches_other_sites = True

    family = DISTRIBUTION_STEP
    service = "cloudfront"
    kind = DISTRIBUTION
    #: A distribution deploys to every edge location: typically 5-15 minutes.
    expected_seconds = 900.0
    timing_kind = "cloudfront_distribution"
    #: DESIGN: CloudFront >= 40 minutes (botocore's waiter gives up after 35).
    wait_budget_s = 2700.0
    poll_s = 30.0

    def __init__(self, config: PlatformConfig) -> None:
        super().__init__(config)
        self.cf = config.cloudfront
        self.fields = distribution_fields([o.id for o in self.cf.origins],
                                          [b.path_pattern for b in self.cf.ordered_behaviours])
        #: Behaviours that carry field-level encryption (empty when it is off).
        self.fle_paths = frozenset(b.path_pattern for b in self.cf.fle_behaviours())

    def resource_name(self) -> str:
        return self.cf.name

    @property
    def region(self) -> str:
        return CLOUDFRONT_REGION

    # -- what it reads -----------------------------------------------------------
    def _header_secrets(self) -> list[str]:
        keys: list[str] = []
        for origin in self.cf.origins:
            if not isinstance(origin, S3OriginConfig):
                keys += [h.secret for h in origin.custom_headers]
        return sorted(set(keys))

    def depends_on(self) -> tuple[str, ...]:
        deps = {"acm", WAF_STEP}
        for origin in self.cf.origins:
            if isinstance(origin, AlbOriginConfig):
                deps.add("alb")
                # Not read, but ordered: the origin serves HTTPS on this
                # listener, and on destroy the distribution stops sending
                # traffic before the listener goes.
                listeners = {listener.port for listener in self.config.alb.listeners}
                if origin.https_port in listeners:
                    deps.add(f"alb-listener.{origin.https_port}")
                if origin.failover_record is not None:
                    deps.update(self._failover_deps(origin))
            elif isinstance(origin, S3OriginConfig):
                deps.update({f"s3.{origin.bucket}", OAC_STEP})
        deps.update(f"secret.{key}" for key in self._header_secrets())
        if self.fle_paths:
            deps.add(FLE_CONFIG_STEP)
        if self.cf.logging.enabled:
            deps.add(f"s3.{self.cf.logging.bucket}")
        for behaviour in self.cf.behaviours:
            if behaviour.cache_policy not in MANAGED_CACHE_POLICY_IDS:
                deps.add(f"{CACHE_POLICY_FAMILY}.{behaviour.cache_policy}")
            request = behaviour.origin_request_policy
            if request is not None and request not in MANAGED_ORIGIN_REQUEST_POLICY_IDS:
                deps.add(f"{ORIGIN_REQUEST_POLICY_FAMILY}.{request}")
        return tuple(sorted(deps))

    def _failover_deps(self, origin: AlbOriginConfig) -> set[str]:
        """The failover pair the origin's name is, and the standby's HTTPS listener.

        The record must exist before CloudFront is pointed at its name (an
        origin that does not resolve answers 502), and on destroy the
        distribution goes first, then the records, then the ALBs.  The
        standby's listener serves the origin after a failover, so it is
        ordered like the primary's.
        """
        deps = {f"{FAILOVER_FAMILY}.{origin.failover_record}"}
        standby = self.config.dr.alb
        if self.config.dr.enabled and standby is not None and \
                origin.https_port in {listener.port for listener in standby.listeners}:
            deps.add(dr_site(self.config).step(f"{LISTENER_FAMILY}.{origin.https_port}"))
        return deps

    @staticmethod
    def origin_domain(ctx: StepContext, origin: AlbOriginConfig) -> str:
        """The failover name when configured (DR path), else the primary ALB's DNS name.

        CloudFront resolves a custom origin's name by DNS, so with the
        failover name it follows Route 53's answer: the primary ALB while
        its health check passes, the standby ALB once it fails (after the
        record's TTL).  The ALB's HTTPS certificate carries the name
        (:func:`vivr_provision.steps.acm.subject_alternative_names`).
        """
        if origin.failover_record is not None:
            return origin.failover_record
        return str(ctx.output("alb", "dns_name"))

    # -- the desired DistributionConfig ----------------------------------------------
    def _headers(self, ctx: StepContext, origin: AlbOriginConfig | CustomOriginConfig,
                 sending: Sending | None = None) -> dict[str, Any]:
        """Each header's secret value; while that secret rotates, the value CloudFront
        already sends if it is the pending one (:mod:`.rotation`)."""
        items = []
        for header in origin.custom_headers:
            value = header_value(ctx, str(ctx.output(f"secret.{header.secret}", "arn")),
                                 (sending or {}).get((origin.id, header.name.lower())))
            items.append({"HeaderName": header.name, "HeaderValue": value})
        return quantity_of(items)

    @staticmethod
    def _shield(region: str | None) -> dict[str, Any]:
        if region is None:
            return {"Enabled": False}
        return {"Enabled": True, "OriginShieldRegion": region}

    @staticmethod
    def _custom_origin(origin: AlbOriginConfig | CustomOriginConfig) -> dict[str, Any]:
        read, keepalive = 30, 5  # AWS's defaults, spelled out so reads compare equal
        if isinstance(origin, AlbOriginConfig):
            read, keepalive = origin.read_timeout_seconds, origin.keepalive_timeout_seconds
        return {"HTTPPort": origin.http_port, "HTTPSPort": origin.https_port,
                "OriginProtocolPolicy": origin.protocol_policy,
                "OriginSslProtocols": quantity_of(list(origin.ssl_protocols)),
                "OriginReadTimeout": read, "OriginKeepaliveTimeout": keepalive}

    def origin(self, ctx: StepContext,
               origin: AlbOriginConfig | S3OriginConfig | CustomOriginConfig,
               sending: Sending | None = None) -> dict[str, Any]:
        if isinstance(origin, S3OriginConfig):
            return {"Id": origin.id,
                    "DomainName": str(ctx.output(f"s3.{origin.bucket}", "regional_domain_name")),
                    "OriginPath": "", "CustomHeaders": {"Quantity": 0},
                    # OAC, not OAI: the identity stays empty, the control signs.
                    "S3OriginConfig": {"OriginAccessIdentity": ""},
                    "OriginAccessControlId": str(ctx.output(OAC_STEP,
                                                            "origin_access_control_id")),
                    "OriginShield": self._shield(origin.origin_shield_region)}
        domain = (self.origin_domain(ctx, origin) if isinstance(origin, AlbOriginConfig)
                  else origin.domain_name)
        path = origin.origin_path if isinstance(origin, CustomOriginConfig) else ""
        return {"Id": origin.id, "DomainName": domain, "OriginPath": path,
                "CustomHeaders": self._headers(ctx, origin, sending),
                "CustomOriginConfig": self._custom_origin(origin),
                "OriginShield": self._shield(origin.origin_shield_region)}

    def behaviour(self, ctx: StepContext, behaviour: BehaviourConfig) -> dict[str, Any]:
        shape: dict[str, Any] = {}
        if behaviour.path_pattern != "*":
            shape["PathPattern"] = behaviour.path_pattern
        shape.update({
            "TargetOriginId": behaviour.target_origin,
            "TrustedSigners": {"Enabled": False, "Quantity": 0},
            "TrustedKeyGroups": {"Enabled": False, "Quantity": 0},
            "ViewerProtocolPolicy": behaviour.viewer_protocol_policy,
            "AllowedMethods": {**quantity_of(list(behaviour.allowed_methods)),
                               "CachedMethods": quantity_of(list(behaviour.cached_methods))},
            "SmoothStreaming": False,
            "Compress": behaviour.compress,
            "LambdaFunctionAssociations": {"Quantity": 0},
            "FunctionAssociations": {"Quantity": 0},
            "FieldLevelEncryptionId": self.field_level_encryption_id(ctx, behaviour),
            "CachePolicyId": self.cache_policy_id(ctx, behaviour.cache_policy),
        })
        if behaviour.origin_request_policy is not None:
            shape["OriginRequestPolicyId"] = self.origin_request_policy_id(
                ctx, behaviour.origin_request_policy)
        if behaviour.response_headers_policy is not None:
            # Config validation allows only AWS-managed response headers policies.
            shape["ResponseHeadersPolicyId"] = MANAGED_RESPONSE_HEADERS_POLICY_IDS[
                behaviour.response_headers_policy]
        return shape

    def field_level_encryption_id(self, ctx: StepContext, behaviour: BehaviourConfig) -> str:
        """The FLE config on behaviours that forward POST to the application; "" on
        the others (CloudFront's "none"; static behaviours never see a form body)."""
        if behaviour.path_pattern not in self.fle_paths:
            return ""
        return str(ctx.output(FLE_CONFIG_STEP, "field_level_encryption_id"))

    @staticmethod
    def cache_policy_id(ctx: StepContext, name: str) -> str:
        managed = MANAGED_CACHE_POLICY_IDS.get(name)
        return managed or str(ctx.output(f"{CACHE_POLICY_FAMILY}.{name}", "policy_id"))

    @staticmethod
    def origin_request_policy_id(ctx: StepContext, name: str) -> str:
        managed = MANAGED_ORIGIN_REQUEST_POLICY_IDS.get(name)
        return managed or str(ctx.output(f"{ORIGIN_REQUEST_POLICY_FAMILY}.{name}", "policy_id"))

    def _certificate_arn(self, ctx: StepContext) -> str:
        region = ctx.output("acm", "region")
        if region != CLOUDFRONT_REGION:
            raise RuntimeError(
                f"{self.name}: CloudFront takes certificates from {CLOUDFRONT_REGION} only; "
                f"the acm step's certificate is in {region}")
        return str(ctx.output("acm", "certificate_arn"))

    def desired_config(self, ctx: StepContext, caller_reference: str,
                       sending: Sending | None = None) -> dict[str, Any]:
        """The complete DistributionConfig (contains secret header values: never log it);
        ``sending``: what the distribution sends now (:func:`.rotation.sent_digests`)."""
        cf = self.cf
        logging = cf.logging
        geo = cf.geo_restriction
        return {
            "CallerReference": caller_reference,
            "Aliases": quantity_of(list(cf.aliases)),
            "DefaultRootObject": cf.default_root_object,
            "Origins": quantity_of([self.origin(ctx, o, sending) for o in cf.origins]),
            "DefaultCacheBehavior": self.behaviour(ctx, cf.default_behaviour),
            "CacheBehaviors": quantity_of([self.behaviour(ctx, b)
                                         for b in cf.ordered_behaviours]),
            "Comment": cf.name,
            "Logging": {
                "Enabled": logging.enabled, "IncludeCookies": logging.include_cookies,
                "Bucket": (f"{self.config.s3.bucket_name(logging.bucket)}.s3.amazonaws.com"
                           if logging.enabled else ""),
                "Prefix": logging.prefix if logging.enabled else "",
            },
            "PriceClass": cf.price_class,
            "Enabled": cf.enabled,
            "ViewerCertificate": {
                "CloudFrontDefaultCertificate": False,
                "ACMCertificateArn": self._certificate_arn(ctx),
                "SSLSupportMethod": cf.security.ssl_support_method,
                "MinimumProtocolVersion": cf.security.minimum_protocol_version,
            },
            "Restrictions": {"GeoRestriction": {"RestrictionType": geo.type,
                                                **quantity_of(list(geo.locations))}},
            "WebACLId": str(ctx.output(WAF_STEP, "web_acl_arn")),
            "HttpVersion": cf.security.http_version,
            "IsIPV6Enabled": cf.ipv6,
        }

    # -- finding -------------------------------------------------------------------
    def _from(self, distribution: Mapping[str, Any], etag: str | None,
              tags: dict[str, str]) -> Resource:
        """Keep what later calls need, with header values replaced by digests."""
        data = {key: distribution.get(key) for key in ("Id", "ARN", "Status", "DomainName")}
        data["Config"] = sanitized(distribution.get("DistributionConfig") or {})
        data["ETag"] = etag
        data["TagMap"] = tags
        return Resource(str(distribution["Id"]), data)

    def _tags(self, ctx: StepContext, arn: str) -> dict[str, str]:
        reply = cloudfront_client(ctx).list_tags_for_resource(Resource=arn)
        return tag_map(items_of(reply.get("Tags")))

    def describe_by_id(self, ctx: StepContext, resource_id: str) -> Resource | None:
        reply = absent_on(DISTRIBUTION.not_found, cloudfront_client(ctx).get_distribution,
                          Id=resource_id)
        if reply is None:
            return None
        distribution = reply["Distribution"]
        arn = distribution["ARN"]
        # The distribution exists (GetDistribution said so): its tags may come from
        # us-east-1's tag batch, where GetResources lists global resources.
        tags = batched_tags(ctx, self.name, arn, self.tags())
        return self._from(distribution, reply.get("ETag"),
                          tags if tags is not None else self._tags(ctx, arn))

    def _summaries(self, ctx: StepContext) -> list[dict[str, Any]]:
        pages = cloudfront_client(ctx).get_paginator("list_distributions").paginate()
        return [dict(s) for page in pages for s in items_of(page.get("DistributionList"))]

    def find_by_tags(self, ctx: StepContext) -> Resource | None:
        """Ours: Comment = the configured name and our ownership tags.

        Comments are not unique, so a same-commented distribution without
        our tags is somebody else's and simply not ours (its aliases would
        make our create fail with CNAMEAlreadyExists, which names it).
        """
        owned = []
        for summary in self._summaries(ctx):
            if summary.get("Comment") != self.resource_name():
                continue
            if is_owned_by(self, self._tags(ctx, summary["ARN"])):
                owned.append(summary)
        if not owned:
            return None
        if len(owned) > 1:
            events.warning("cloudfront.distribution.duplicates", step=self.name,
                           adopted=owned[0]["Id"], others=[s["Id"] for s in owned[1:]])
        return self.describe_by_id(ctx, owned[0]["Id"])

    def _by_caller_reference(self, ctx: StepContext, reference: str) -> Resource | None:
        """The distribution created with ``reference`` (a create repeated after a crash)."""
        for summary in self._summaries(ctx):
            reply = absent_on(DISTRIBUTION.not_found,
                              cloudfront_client(ctx).get_distribution_config, Id=summary["Id"])
            if reply and reply["DistributionConfig"].get("CallerReference") == reference:
                return self.describe_by_id(ctx, summary["Id"])
        return None

    # -- lifecycle -----------------------------------------------------------------
    def create(self, ctx: StepContext, token: str) -> Resource:
        """Create with tags in one call; the engine's token is the CallerReference."""
        config = self.desired_config(ctx, caller_reference=token)
        try:
            reply = CERTIFICATE_SETTLING.call(
                f"create distribution {self.resource_name()}",
                cloudfront_client(ctx).create_distribution_with_tags,
                DistributionConfigWithTags={"DistributionConfig": config,
                                            "Tags": {"Items": aws_tags(self.tags())}})
        except aws_errors.ClientError as exc:
            if error_code(exc) not in DISTRIBUTION.already_exists:
                raise
            # AWS answers a repeated CallerReference with a different config this
            # way: the first call (before a crash) made it.  Adopt and converge.
            found = self._by_caller_reference(ctx, token)
            if found is None:
                raise
            events.info("cloudfront.distribution.adopted_by_caller_reference",
                        step=self.name, distribution_id=found.id)
            changes = self.diff(ctx, found)
            return self.update(ctx, found, changes) if changes else found
        return self._from(reply["Distribution"], reply.get("ETag"), self.tags())

    def is_ready(self, resource: Resource) -> bool:
        return resource.data.get("Status") == "Deployed"

    def _wait_deployed(self, ctx: StepContext, distribution_id: str,
                       operation: Operation = "create") -> None:
        ctx.wait("cloudfront", "distribution_deployed", budget_s=self.wait_budget_s,
                 delay_s=self.poll_s, expected_s=self.aws_seconds(operation),
                 region=CLOUDFRONT_REGION, Id=distribution_id)

    def wait(self, ctx: StepContext, resource: Resource) -> Resource:
        if self.is_ready(resource):
            return resource
        self._wait_deployed(ctx, resource.id)
        found = self.describe_by_id(ctx, resource.id)
        assert found is not None, "a deployed distribution is describable"
        return found

    def diff(self, ctx: StepContext, resource: Resource) -> list[Change]:
        caller_reference = str(resource.data["Config"].get("CallerReference", ""))
        wanted = Wanted(self.desired_config(ctx, caller_reference,
                                            sent_digests(resource.data["Config"])), self.tags())
        return drift(wanted, ctx, resource.data, self.fields)

    def _write_config(self, ctx: StepContext, distribution_id: str,
                      build: Callable[[dict[str, Any]], dict[str, Any]]) -> str:
        """GetDistributionConfig, ``build(current)``, UpdateDistribution with its ETag.

        Returns the new ETag.  A concurrent change (PreconditionFailed) makes
        the whole read-build-write repeat.
        """
        def attempt() -> str:
            reply = cloudfront_client(ctx).get_distribution_config(Id=distribution_id)
            written = cloudfront_client(ctx).update_distribution(
                Id=distribution_id, IfMatch=reply["ETag"],
                DistributionConfig=build(dict(reply["DistributionConfig"])))
            return str(written["ETag"])

        return STALE_ETAG.call(f"update distribution {distribution_id}", attempt)

    def update(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> Resource:
        converge(self, ctx, resource, changes, self.fields)
        found = self.describe_by_id(ctx, resource.id)
        assert found is not None, "a distribution just updated is describable"
        return found

    def write_config(self, ctx: StepContext, resource: Resource, changes: list[Change]) -> None:
        """The whole desired config in one UpdateDistribution; settings this tool
        does not manage (origin groups, error pages ...) are passed through."""

        def build(current: dict[str, Any]) -> dict[str, Any]:
            config = self.desired_config(ctx, str(current["CallerReference"]),
                                         sent_digests(current))
            for key, value in current.items():
                if key not in MANAGED_KEYS:
                    config.setdefault(key, value)
            return config

        CERTIFICATE_SETTLING.call(f"update distribution {resource.id}",
                                  self._write_config, ctx, resource.id, build)

    def converge_tags(self, ctx: StepContext, resource: Resource,
                      changes: list[Change]) -> None:
        """CloudFront's TagResource takes ``Tags={"Items": [...]}`` (kinds.py: no TagApi)."""
        cloudfront_client(ctx).tag_resource(Resource=resource.data["ARN"],
                                            Tags={"Items": aws_tags(changes[-1].desired)})

    def delete(self, ctx: StepContext, resource: Resource) -> None:
        """Disable (IfMatch), wait until deployed, then delete with the new ETag."""
        cf = cloudfront_client(ctx)
        reply = absent_on(DISTRIBUTION.not_found, cf.get_distribution_config, Id=resource.id)
        if reply is None:
            return
        etag: str | None = str(reply["ETag"])
        if reply["DistributionConfig"].get("Enabled"):
            events.info("cloudfront.distribution.disabling", step=self.name,
                        distribution_id=resource.id)

            def disabled(current: dict[str, Any]) -> dict[str, Any]:
                return {**current, "Enabled": False}

            etag = self._write_config(ctx, resource.id, disabled)
        # AWS deletes a distribution only once the disabled config is deployed.
        self._wait_deployed(ctx, resource.id, "delete")

        def attempt() -> None:
            nonlocal etag
            if etag is None:  # a retry: the ETag of our last write may be stale
                current = absent_on(DISTRIBUTION.not_found, cf.get_distribution_config,
                                    Id=resource.id)
                if current is None:
                    return
                etag = str(current["ETag"])
            if_match, etag = etag, None
            gone_on(DISTRIBUTION.not_found, cf.delete_distribution, Id=resource.id,
                    IfMatch=if_match)

        NOT_YET_DISABLED.call(f"delete distribution {resource.id}", STALE_ETAG.call,
                              f"delete distribution {resource.id}", attempt)

    def outputs(self, resource: Resource) -> dict[str, Any]:
        """Ids and the alias target (never anything from the config: it holds secrets)."""
        data = resource.data
        origins = items_of((data.get("Config") or {}).get("Origins"))
        return {"id": resource.id, "distribution_id": resource.id, "arn": data.get("ARN"),
                "domain_name": data.get("DomainName"),
                "hosted_zone_id": CLOUDFRONT_HOSTED_ZONE_ID,
                # Where each origin's requests go (dr status shows the app's).
                "origin_domains": {str(o.get("Id")): o.get("DomainName") for o in origins}}
