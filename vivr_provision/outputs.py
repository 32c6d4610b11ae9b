"""What ``vivr-provision output`` shows: output name -> (step, recorded output, description).

Data only.  Each row reads one value from a step's recorded ``outputs`` in
the state file (see each step's ``outputs()``), so ``output`` needs neither
AWS nor the step classes.  Conventions of the table:

* ``step`` is a step name, or a family ending in ``*`` (``secret.*``): then
  every recorded step of the family gives one output, and ``{member}`` in the
  name is what the ``*`` matched (``secret_arn.stripe``).
* ``key`` is a key of the step's outputs, or a template of them
  (``{private_ip}:{port}``) for values an operator uses joined.
* ``role``, when set, keeps only the steps whose outputs say that role
  (the RDS primary records ``writer``, its replicas ``reader``).

Secret *values* are never in a step's outputs; this table names only their
ARNs, and a unit test holds every row to names that cannot be a value.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OutputSpec:
    """One row: where an output's value is recorded and what it is for."""

    name: str
    step: str
    key: str
    description: str
    role: str | None = None


OUTPUTS: tuple[OutputSpec, ...] = (
    # ---- edge: what DNS and browsers point at
    OutputSpec("cloudfront_domain_name", "cloudfront", "domain_name",
               "CloudFront distribution domain (the site's aliases point here)"),
    OutputSpec("cloudfront_distribution_id", "cloudfront", "distribution_id",
               "CloudFront distribution id (for cache invalidations)"),
    OutputSpec("alb_dns_name", "alb", "dns_name", "Application Load Balancer DNS name"),
    OutputSpec("alb_zone_id", "alb", "canonical_hosted_zone_id",
               "ALB hosted zone id (for alias records)"),
    OutputSpec("alb_arn", "alb", "load_balancer_arn", "Application Load Balancer ARN"),
    OutputSpec("dr_alb_dns_name", "dr.alb", "dns_name", "DR region load balancer DNS name"),
    OutputSpec("route53_zone_name", "route53-zone", "name", "Route 53 hosted zone"),
    OutputSpec("route53_zone_id", "route53-zone", "zone_id", "Route 53 hosted zone id"),
    OutputSpec("route53_name_servers", "route53-zone", "name_servers",
               "Name servers to delegate the domain to (at the registrar)"),
    OutputSpec("acm_certificate_arn", "acm", "certificate_arn", "TLS certificate ARN"),
    OutputSpec("waf_web_acl_arn", "waf", "web_acl_arn", "WAF web ACL ARN"),
    # ---- data
    OutputSpec("rds_writer_endpoint", "rds.*", "address", "PostgreSQL primary (writer) host",
               role="writer"),
    OutputSpec("rds_port", "rds.*", "port", "PostgreSQL port", role="writer"),
    OutputSpec("rds_reader_endpoint.{member}", "rds.*", "address",
               "PostgreSQL read replica host", role="reader"),
    OutputSpec("dr_rds_reader_endpoint.{member}", "dr.rds.*", "address",
               "PostgreSQL cross-region replica host (DR region)", role="reader"),
    OutputSpec("pgbouncer_endpoint", "pgbouncer", "{private_ip}:{port}",
               "PgBouncer host:port (what the app connects to)"),
    OutputSpec("pgbouncer_instance_id", "pgbouncer", "instance_id", "PgBouncer EC2 instance"),
    OutputSpec("redis_primary_endpoint", "cache", "primary_endpoint", "Redis primary host"),
    OutputSpec("redis_reader_endpoint", "cache", "reader_endpoint", "Redis reader host"),
    OutputSpec("redis_port", "cache", "port", "Redis port"),
    OutputSpec("redis_tls", "cache", "transit_encryption",
               "Whether Redis clients must use TLS"),
    OutputSpec("dr_redis_primary_endpoint", "dr.cache", "primary_endpoint",
               "Standby Redis primary host (DR region; empty until a failover)"),
    OutputSpec("dr_redis_port", "dr.cache", "port", "Standby Redis port (DR region)"),
    OutputSpec("bucket.{member}", "s3.*", "bucket", "S3 bucket name"),
    OutputSpec("dr_bucket.{member}", "dr.s3.*", "bucket", "S3 bucket name (DR region)"),
    # ---- application
    OutputSpec("ecs_cluster_name", "ecs-cluster", "cluster_name", "ECS cluster"),
    OutputSpec("ecs_service_name", "ecs-service", "service_name", "ECS service"),
    OutputSpec("ecs_task_definition_arn", "ecs-task-definition", "task_definition_arn",
               "ECS task definition revision in use"),
    # ---- keys, secrets (ARNs only), alerts
    OutputSpec("kms_key_arn", "kms", "key_arn", "KMS key ARN"),
    OutputSpec("dr_kms_key_arn", "dr.kms", "key_arn", "KMS key ARN (DR region)"),
    OutputSpec("secret_arn.{member}", "secret.*", "arn",
               "Secrets Manager secret ARN (never its value)"),
    OutputSpec("sns_topic_arn.{member}", "sns.*", "topic_arn", "SNS alert topic ARN"),
)
"""In the order ``output`` prints them: edge, data, application, keys and alerts."""

__all__ = ["OUTPUTS", "OutputSpec"]
