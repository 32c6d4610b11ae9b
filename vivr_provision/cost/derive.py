"""Monthly cost lines derived from the config the tool actually builds.

Each function mirrors one family of steps (vivr_provision/steps/, assembled
by ``build_steps``) but reads only :class:`PlatformConfig`, so ``cost`` starts
without boto3: what a step family creates for a config is restated here as
counts (instances, nodes, keys, secrets, alarm metrics, addresses).  Every
line names the spec line it reprices (``spec_line``) or None when the spec's
table leaves it out, which is what the difference is explained by.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from vivr_provision.config import PlatformConfig
from vivr_provision.config.dr_redis import standby_redis
from vivr_provision.config.dr_secrets import replicated_secret_keys
from vivr_provision.config.network import NetworkConfig
from vivr_provision.config.ops import REPLICA_RESOURCE
from vivr_provision.config.standby import standby_alarms, standby_ecs_built
from vivr_provision.cost.prices import Price, PriceTable

#: Alarms AWS creates for each ECS target-tracking policy (high and low).
ALARMS_PER_TARGET_TRACKING_POLICY = 2
#: Days a month of log storage stands for (retention_days / 30 = months kept).
DAYS_PER_MONTH = 30


#: (category, service, detail) of a line.
Head = tuple[str, str, str]


@dataclass(frozen=True)
class ComputedLine:
    """One priced line: ``quantity`` (in the price's unit) x ``unit_price``."""

    category: str
    service: str
    detail: str
    derivation: str
    quantity: float
    unit: str
    unit_price: float
    region: str
    spec_line: str | None
    source: str
    verified: bool

    @property
    def monthly(self) -> float:
        return round(self.quantity * self.unit_price, 2)


class Lines:
    """Collects lines for one config; ``add`` looks the price up and records it."""

    def __init__(self, config: PlatformConfig, table: PriceTable) -> None:
        self.config = config
        self.table = table
        self.hours = config.cost.hours_per_month
        self.lines: list[ComputedLine] = []

    def price(self, key: str, region: str, size: str = "", what: str | None = None) -> Price:
        return self.table.price(key, region, size, what)

    def add(self, head: Head, derivation: str, quantity: float, price: Price,
            spec_line: str | None) -> None:
        category, service, detail = head
        self.lines.append(ComputedLine(
            category, service, detail, derivation, quantity, price.unit, price.usd,
            price.region, spec_line, price.source, price.verified))

    def hourly(self, head: Head, count: float, noun: str, price: Price,
               spec_line: str | None) -> None:
        """``count`` resources running every hour of the month."""
        self.add(head, f"{counted(count, noun)} x {self.hours} h", count * self.hours, price,
                 spec_line)


def counted(count: float, noun: str) -> str:
    """``1 address``, ``2 addresses``."""
    if count == 1:
        return f"1 {noun}"
    return f"{count:g} {noun}{'es' if noun.endswith('s') else 's'}"


def _compute(out: Lines) -> None:
    c = out.config
    region = c.aws.region
    ecs = c.ecs
    if ecs.launch_type == "fargate":
        tasks = ecs.autoscaling.min_capacity
        vcpu = ecs.task_definition.cpu / 1024
        memory = ecs.task_definition.memory / 1024
        why = (f"{counted(tasks, 'task')} (scaling minimum) x {{per:g}} {{unit}} x "
               f"{out.hours} h")
        scaling = ecs.autoscaling
        detail = f"{ecs.service.name}, {scaling.min_capacity}-{scaling.max_capacity} tasks"
        out.add(("Compute", "ECS Fargate vCPU", detail),
                why.format(per=vcpu, unit="vCPU"), tasks * vcpu * out.hours,
                out.price("fargate.vcpu", region, "linux-x86"), "ECS (Fargate)")
        out.add(("Compute", "ECS Fargate memory", detail),
                why.format(per=memory, unit="GB"), tasks * memory * out.hours,
                out.price("fargate.memory", region, "linux-x86"), "ECS (Fargate)")
    else:
        ec2 = ecs.ec2
        count = ec2.asg.desired_capacity
        out.hourly(("Compute", "ECS container instances", ec2.instance_type), count, "instance",
                   out.price("ec2.instance", region, ec2.instance_type, "EC2 instance type"),
                   "ECS (Fargate)")
        gb = (ec2.root_volume.size_gb + ec2.data_volume.size_gb) * count
        out.add(("Compute", "ECS instance volumes", ec2.root_volume.type),
                f"{count} x ({ec2.root_volume.size_gb} + {ec2.data_volume.size_gb}) GB", gb,
                out.price("ebs.volume", region, ec2.root_volume.type), "ECS (Fargate)")
    _standby_tasks(out)
    pgb = c.pgbouncer
    out.hourly(("Compute", "PgBouncer EC2", pgb.instance_type), 1, "instance",
               out.price("ec2.instance", region, pgb.instance_type, "EC2 instance type"), None)
    out.add(("Compute", "PgBouncer root volume", pgb.root_volume.type),
            f"{pgb.root_volume.size_gb} GB", pgb.root_volume.size_gb,
            out.price("ebs.volume", region, pgb.root_volume.type), None)


def _standby_tasks(out: Lines) -> None:
    """The standby's Fargate tasks in the DR region, at ``dr.standby.app.desired_count``
    (0 for a pilot light: the line shows that it costs nothing until activated)."""
    c = out.config
    app = c.dr.standby.app
    if app is None or not standby_ecs_built(c):
        return
    tasks, region = app.desired_count, c.dr.region
    vcpu = c.ecs.task_definition.cpu / 1024
    memory = c.ecs.task_definition.memory / 1024
    why = f"{counted(tasks, 'task')} (standby) x {{per:g}} {{unit}} x {out.hours} h"
    detail = f"{app.service_name}, {region}"
    out.add(("Compute", "ECS Fargate vCPU (DR standby)", detail),
            why.format(per=vcpu, unit="vCPU"), tasks * vcpu * out.hours,
            out.price("fargate.vcpu", region, "linux-x86"), None)
    out.add(("Compute", "ECS Fargate memory (DR standby)", detail),
            why.format(per=memory, unit="GB"), tasks * memory * out.hours,
            out.price("fargate.memory", region, "linux-x86"), None)


def _load_balancers(out: Lines) -> None:
    c = out.config
    region = c.aws.region
    out.hourly(("Compute", "ALB", c.alb.name), 1, "ALB", out.price("alb.hour", region), "ALB")
    lcu = out.table.usage["alb_lcu"]
    out.add(("Compute", "ALB capacity units", lcu.origin), f"{lcu.value:g} LCU x {out.hours} h",
            lcu.value * out.hours, out.price("alb.lcu", region), "ALB")
    albs = [(c.alb, region, "")]
    dr_alb = c.dr.alb
    if c.dr.enabled and c.dr.standby.alb and dr_alb is not None:
        out.hourly(("Compute", "Standby ALB (DR)", f"{dr_alb.name}, {c.dr.region}"), 1, "ALB",
                   out.price("alb.hour", c.dr.region), None)
        albs.append((dr_alb, c.dr.region, " (DR)"))
    for alb, where, suffix in albs:
        if alb.scheme == "internet-facing":
            azs = len(alb.subnets)
            out.hourly(("Networking", f"ALB public IPv4{suffix}", f"{alb.name}: one per AZ"),
                       azs, "address", out.price("ipv4.hour", where), None)


def _database(out: Lines) -> None:
    c = out.config
    rds, region = c.rds, c.aws.region
    size = rds.instance_class
    instance = out.price("rds.instance", region, size, "RDS instance class")
    storage = out.price("rds.storage", region, rds.storage.type)
    gb = rds.storage.allocated_gb
    out.hourly(("Database", "RDS primary", f"{rds.identifier}, {size}"), 1, "instance", instance,
               "RDS PostgreSQL")
    out.add(("Database", "RDS primary storage", f"{rds.storage.type}"), f"{gb} GB allocated", gb,
            storage, "RDS Storage")
    if rds.multi_az:
        out.hourly(("Database", "RDS Multi-AZ standby", size), 1, "instance", instance,
                   "RDS Multi-AZ")
        out.add(("Database", "RDS standby storage", "Multi-AZ bills storage twice"),
                f"{gb} GB allocated", gb, storage, None)
    for replica in rds.read_replicas:
        klass = replica.instance_class or size
        where = "cross-region DR" if replica.region != region else "same region"
        out.hourly(("Database", f"RDS read replica ({where})",
                   f"{replica.identifier}, {klass}, {replica.region}"), 1, "instance",
                   out.price("rds.instance", replica.region, klass, "RDS instance class"), None)
        out.add(("Database", "RDS replica storage", replica.identifier), f"{gb} GB allocated", gb,
                out.price("rds.storage", replica.region, rds.storage.type), None)
    backup = out.table.usage["rds_backup_gb"]
    billable = max(0.0, backup.value - gb)
    out.add(("Database", "RDS backups", backup.origin),
            f"{backup.value:g} GB - {gb} GB free (100% of storage)", billable,
            out.price("rds.backup", region), "RDS Backups")
    _archive(out)


def _archive(out: Lines) -> None:
    """The one-year archive: its recovery points in the primary vault and their copies
    in the DR vault (backup.archive), each billed as warm storage where it is kept."""
    c = out.config
    archive = c.backup.archive
    if archive is None:
        return
    held = out.table.usage["archive_gb"]
    for vault, region in ((archive.vault, c.aws.region), (archive.dr_vault, c.dr.region)):
        out.add(("Database", "AWS Backup archive", f"{vault}, {region}, {held.origin}"),
                f"{held.value:g} GB held", held.value,
                out.price("backup.warm", region, "rds"), None)


def _cache(out: Lines) -> None:
    redis, region = out.config.redis, out.config.aws.region
    nodes = redis.shards * (redis.primary_nodes + redis.replicas)
    out.hourly(("Caching", "ElastiCache", f"{redis.replication_group_id}, {redis.node_type}"),
               nodes, "node",
               out.price("elasticache.node", region, redis.node_type, "ElastiCache node type"),
               "ElastiCache")
    # The standby's nodes run (and bill) every hour, cold or not; the spec's table has no
    # DR cache, so the line is one it leaves out.
    standby = standby_redis(out.config)
    if standby is None:
        return
    dr_region = out.config.dr.region
    out.hourly(("Caching", "ElastiCache standby (DR)",
                f"{standby.replication_group_id}, {standby.node_type}, {dr_region}"),
               standby.shards * (standby.primary_nodes + standby.replicas), "node",
               out.price("elasticache.node", dr_region, standby.node_type,
                         "ElastiCache node type"), None)


def _storage_and_edge(out: Lines) -> None:
    c = out.config
    region = c.aws.region
    usage = out.table.usage
    for name, key, service, spec in (("s3_standard_gb", "s3.standard", "S3 Standard",
                                      "S3 Standard"),
                                     ("s3_glacier_gb", "s3.glacier", "S3 Glacier", "S3 Glacier")):
        volume = usage[name]
        out.add(("Storage", service, volume.origin), f"{volume.value:g} GB", volume.value,
                out.price(key, region), spec)
    cdn = usage["cloudfront_gb"]
    out.add(("Content Delivery", "CloudFront", cdn.origin), f"{cdn.value:g} GB out", cdn.value,
            out.price("cloudfront.transfer", region), "CloudFront")
    waf = c.waf
    out.add(("Content Delivery", "WAF web ACL", waf.web_acl_name), "1 web ACL", 1,
            out.price("waf.web_acl", region), None)
    rules = len(waf.managed_rule_groups) + 1
    out.add(("Content Delivery", "WAF rules", waf.web_acl_name),
            f"{len(waf.managed_rule_groups)} managed groups + 1 rate rule", rules,
            out.price("waf.rule", region), None)


def _network(out: Lines) -> None:
    c = out.config
    sites: list[tuple[NetworkConfig, str, str | None, str]] = [
        (c.network, c.aws.region, "NAT Gateway", "")]
    if c.dr.enabled and c.dr.network is not None:
        sites.append((c.dr.network, c.dr.region, None, " (DR)"))
    for network, region, spec, suffix in sites:
        nat = network.nat_gateway
        if nat is None:
            continue
        out.hourly(("Networking", f"NAT gateway{suffix}", nat.name), 1, "gateway",
                   out.price("nat.hour", region), spec)
        out.hourly(("Networking", f"Elastic IP{suffix}", f"{nat.eip_name} (NAT)"), 1, "address",
                   out.price("ipv4.hour", region), None)
    internet = out.table.usage["internet_gb"]
    out.add(("Networking", "Data transfer out", internet.origin), f"{internet.value:g} GB",
            internet.value, out.price("transfer.internet", c.aws.region), "Data Transfer")


def _dns(out: Lines) -> None:
    r53, region = out.config.route53, out.config.aws.region
    out.add(("Other", "Route53 hosted zone", r53.hosted_zone.name), "1 zone", 1,
            out.price("route53.zone", region), "Route53")
    checks = [f.health_check for f in r53.failover_records]
    if checks:
        out.add(("Other", "Route53 health checks", "failover of the primary ALB"),
                counted(len(checks), "check"), len(checks),
                out.price("route53.health_check", region), None)
        features = sum((hc.type == "HTTPS") + (hc.request_interval_seconds == 10)
                       for hc in checks)
        if features:
            out.add(("Other", "Route53 check features", "HTTPS / 10 s interval"),
                    counted(features, "feature"), features,
                    out.price("route53.health_check_feature", region), None)


def _security(out: Lines) -> None:
    c = out.config
    region = c.aws.region
    generated = len(c.secrets.GENERATED_KEYS) + len(c.secrets.key_pairs)
    placeholders = len(c.secrets.placeholders)
    out.add(("Other", "Secrets Manager", "generated + placeholders"),
            f"{generated} generated + {placeholders} placeholders", generated + placeholders,
            out.price("secretsmanager.secret", region), "Secrets Manager")
    out.add(("Other", "KMS key", c.kms.alias), "1 key", 1, out.price("kms.key", region), "KMS")
    if c.dr.enabled and c.kms.multi_region:
        out.add(("Other", "KMS replica key (DR)", f"{c.kms.alias}, {c.dr.region}"),
                "1 multi-Region replica", 1, out.price("kms.key", c.dr.region), None)
    replicas = len(replicated_secret_keys(c))
    if replicas:
        # Secrets Manager bills each replica as a secret of its own.
        out.add(("Other", "Secrets Manager replicas (DR)", f"the standby's secrets, {c.dr.region}"),
                f"{counted(replicas, 'replica')} (dr.standby.replicate_secrets)", replicas,
                out.price("secretsmanager.secret", c.dr.region), None)


#: What EC2 detailed monitoring publishes per instance (CloudWatch pricing's
#: example: CPUUtilization, DiskReadOps, DiskWriteOps, DiskReadBytes,
#: DiskWriteBytes, NetworkIn, NetworkOut).
EC2_DETAILED_METRICS = 7


def _monitoring(out: Lines) -> None:
    c = out.config
    region = c.aws.region
    # An rds_replica row is one alarm per read replica (the DR one priced as here).
    copies = [len(c.rds.read_replicas) if a.resource == REPLICA_RESOURCE else 1
              for a in c.monitoring.alarms]
    metrics = sum(n * (len(a.metrics) if a.expression is not None else 1)
                  for a, n in zip(c.monitoring.alarms, copies, strict=True))
    alarm = out.price("cloudwatch.alarm_metric", region)
    out.add(("Monitoring", "CloudWatch alarms", f"{sum(copies)} alarms of monitoring.alarms"),
            f"{metrics} alarm metrics", metrics, alarm, "CloudWatch")
    standby = standby_alarms(c)
    if standby:
        standby_metrics = sum(len(a.metrics) if a.expression is not None else 1
                              for a in standby)
        out.add(("Monitoring", "CloudWatch alarms (DR standby)",
                 f"{counted(len(standby), 'alarm')} of dr.standby.app.alarms, {c.dr.region}"),
                f"{standby_metrics} alarm metrics", standby_metrics,
                out.price("cloudwatch.alarm_metric", c.dr.region), None)
    policies = 2  # ECS target tracking on CPU and memory (steps/ecs/autoscaling.py)
    tracking = policies * ALARMS_PER_TARGET_TRACKING_POLICY
    out.add(("Monitoring", "Target-tracking alarms", "made by Application Auto Scaling"),
            f"{policies} policies x {ALARMS_PER_TARGET_TRACKING_POLICY} alarms", tracking,
            alarm, "CloudWatch")
    out.add(("Monitoring", "CloudWatch dashboard", "monitoring dashboard"), "1 dashboard", 1,
            out.price("cloudwatch.dashboard", region), "CloudWatch")
    logs = out.table.usage["logs_gb"]
    out.add(("Monitoring", "CloudWatch Logs ingestion", logs.origin), f"{logs.value:g} GB",
            logs.value, out.price("logs.ingestion", region), "CloudWatch")
    retention = max([g.retention_days for g in c.logs.groups.values()]
                    + [c.logs.database.retention_days])
    stored = logs.value * retention / DAYS_PER_MONTH
    out.add(("Monitoring", "CloudWatch Logs storage", f"longest retention {retention} days"),
            f"{logs.value:g} GB x {retention}/{DAYS_PER_MONTH} months", stored,
            out.price("logs.storage", region), "CloudWatch")
    if c.pgbouncer.detailed_monitoring:
        # EC2 detailed monitoring: the instance's 7 metrics at 1 minute, billed
        # as CloudWatch metrics (issue 12).
        out.add(("Monitoring", "PgBouncer detailed monitoring", "1-minute EC2 metrics"),
                f"{EC2_DETAILED_METRICS} metrics", EC2_DETAILED_METRICS,
                out.price("cloudwatch.metric", region), None)
    if not c.pgbouncer.datadog_metrics:
        return
    hosts = 1
    out.add(("Monitoring", "DataDog APM", "PgBouncer host agent (not AWS)"),
            "1 host", hosts,
            out.price("datadog.host", region), "DataDog APM")


FAMILIES: tuple[Callable[[Lines], None], ...] = (
    _compute, _load_balancers, _database, _cache, _storage_and_edge, _network, _dns,
    _security, _monitoring,
)


def computed_lines(config: PlatformConfig, table: PriceTable) -> list[ComputedLine]:
    """Every priced line of what ``build_steps(config)`` would create."""
    out = Lines(config, table)
    for family in FAMILIES:
        family(out)
    return out.lines
