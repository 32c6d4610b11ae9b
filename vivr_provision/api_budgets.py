"""AWS's documented API request budgets, as data: which token buckets an operation draws on.

Each :class:`Budget` is one bucket AWS documents (its burst = bucket size,
its rate = refill per second), with the page it comes from.  A service's
budgets are tried in order: every ``shared`` budget applies to all its
operations (Route 53's account-wide bucket), then the first budget naming
the operation or one of its prefixes; an operation no budget names draws on
the service's ``default`` budget (none: its shared ones suffice, as RDS's
account-wide bucket does), or, for services AWS documents nothing for, on
the flat ``aws.max_calls_per_second`` (burst twice that).
:mod:`vivr_provision.throttle` turns them into buckets.

Scope: buckets are per account and region, except the ``global`` ones of
Route 53, whose budget one account shares across regions.  Values are AWS's
defaults, read in the pages cited (where a page gives only "N per second",
the bucket holds one second of tokens; where AWS later raised a quota, the
older and lower value is kept when the newer one could not be confirmed).
An account whose limits AWS Support raised is only slower here than it
could be, never throttled because of this table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class Budget:
    """One documented token bucket."""

    name: str
    burst: float
    rate: float
    operations: frozenset[str] = field(default_factory=frozenset)
    prefixes: tuple[str, ...] = ()
    #: Every operation of the service also draws on this bucket.
    shared: bool = False
    #: Each operation the budget covers has a bucket of this size of its own (EC2's
    #: categories, WAF's "any individual Create, Put or Update action").
    per_operation: bool = False
    scope: Literal["region", "global"] = "region"
    source: str = ""

    def covers(self, operation: str) -> bool:
        return operation in self.operations or operation.startswith(self.prefixes or ("\0",))


@dataclass(frozen=True)
class ServiceBudgets:
    """A service's budgets, most specific first, and the one for the rest of its operations."""

    budgets: tuple[Budget, ...]
    default: Budget | None = None


def _ops(*names: str) -> frozenset[str]:
    return frozenset(names)


READS = ("Describe", "Get", "List", "Search")


def _tps(source: str, rates: dict[str, float], *, scope: Literal["region", "global"] = "region",
         ) -> tuple[Budget, ...]:
    """Per-API quotas published as "N requests per second" with no bucket size: each
    operation its own bucket holding one second of tokens."""
    return tuple(Budget(op, burst=max(1.0, rate), rate=rate, operations=_ops(op), scope=scope,
                        source=source) for op, rate in rates.items())


EC2 = "https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html"
ELB = "https://docs.aws.amazon.com/elasticloadbalancing/latest/userguide/elb-api-throttling.html"
ECS = "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/request-throttling.html"
ROUTE53 = "https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/throttling-api-requests.html"
CLOUDWATCH = "https://docs.aws.amazon.com/general/latest/gr/cw_region.html"
LOGS = "https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/cloudwatch_limits_cwl.html"
KMS = "https://docs.aws.amazon.com/kms/latest/developerguide/requests-per-second.html"
SECRETS = "https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_limits.html"
ACM = "https://docs.aws.amazon.com/acm/latest/userguide/acm-limits.html"
WAF = "https://docs.aws.amazon.com/waf/latest/developerguide/limits.html"
RDS = "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-api-throttling.html"
STATES = "https://docs.aws.amazon.com/step-functions/latest/dg/limits-overview.html"
SCHEDULER = "https://docs.aws.amazon.com/scheduler/latest/UserGuide/scheduler-quotas.html"

#: Services AWS documents budgets for.  ElastiCache, IAM, STS, S3's bucket
#: configuration calls, CloudFront's control plane, SNS's per-API table (not
#: reachable when this was written), AWS Backup and Application Auto Scaling
#: publish none: they get the flat ``aws.max_calls_per_second``.
SERVICES: dict[str, ServiceBudgets] = {
    # "Each API is evaluated individually": every operation has its own bucket
    # of its category's size.  The 50/10 bucket of unfiltered, unpaginated
    # describes never applies: the tool always passes ids or filters.
    "ec2": ServiceBudgets((
        Budget("tags", 100, 10, _ops("CreateTags", "DeleteTags"), per_operation=True,
               source=EC2),
        Budget("RunInstances", 5, 2, _ops("RunInstances", "StartInstances"),
               per_operation=True, source=EC2),
        Budget("TerminateInstances", 100, 5, _ops("TerminateInstances"), source=EC2),
        Budget("nat-gateways", 10, 1, _ops("CreateNatGateway", "DeleteNatGateway"),
               per_operation=True, source=EC2),
        Budget("vpc-endpoints", 4, 0.3,
               _ops("CreateVpcEndpoint", "DeleteVpcEndpoints", "ModifyVpcEndpoint"),
               per_operation=True, source=EC2),
        Budget("uncategorized-100-5", 100, 5, _ops(
            "CreateNetworkInterface", "DeleteNetworkInterface", "ModifyNetworkInterfaceAttribute",
            "CreateVolume", "DeleteVolume", "CreateSnapshot", "DeleteSnapshot",
            "AssociateIamInstanceProfile", "DisassociateIamInstanceProfile",
            "ModifyInstanceMetadataOptions", "DeregisterImage", "ModifyImageAttribute"),
            per_operation=True, source=EC2),
        Budget("security-group-references", 20, 5,
               _ops("DescribeSecurityGroupReferences", "DescribeStaleSecurityGroups"),
               per_operation=True, source=EC2),
        Budget("resource-intensive", 50, 5, _ops(
            "AuthorizeSecurityGroupIngress", "RevokeSecurityGroupIngress",
            "AcceptVpcPeeringConnection", "CreateVpcPeeringConnection",
            "DeleteVpcPeeringConnection", "RejectVpcPeeringConnection", "CreateKeyPair",
            "RequestSpotInstances", "CancelSpotInstanceRequests"),
            per_operation=True, source=EC2),
        Budget("non-mutating", 100, 20, prefixes=READS, per_operation=True, source=EC2),
    ), default=Budget("mutating", 50, 5, per_operation=True, source=EC2)),
    # Every call also draws on the account-level bucket; categories are shared.
    "elbv2": ServiceBudgets((
        Budget("account", 40, 10, shared=True, source=ELB),
        Budget("resource-intensive", 10, 0.2, _ops("CreateLoadBalancer", "SetSubnets"),
               source=ELB),
        Budget("registration", 20, 4, _ops("RegisterTargets", "DeregisterTargets"),
               source=ELB),
        Budget("non-mutating", 40, 10, prefixes=("Describe",), source=ELB),
    ), default=Budget("mutating", 20, 3, source=ELB)),
    # "All API actions in a category share the same token bucket."
    "ecs": ServiceBudgets((
        Budget("cluster-modify", 20, 1, _ops("CreateCluster", "DeleteCluster", "UpdateCluster",
                                             "PutClusterCapacityProviders",
                                             "UpdateClusterSettings"), source=ECS),
        Budget("cluster-read", 50, 20, _ops("DescribeClusters", "ListClusters"), source=ECS),
        Budget("task-definition-modify", 20, 1,
               _ops("RegisterTaskDefinition", "DeregisterTaskDefinition"), source=ECS),
        Budget("task-definition-read", 50, 20,
               _ops("DescribeTaskDefinition", "ListTaskDefinitions",
                    "ListTaskDefinitionFamilies"), source=ECS),
        Budget("task-definition-delete", 5, 1, _ops("DeleteTaskDefinitions"), source=ECS),
        Budget("capacity-provider-modify", 10, 1,
               _ops("CreateCapacityProvider", "DeleteCapacityProvider",
                    "UpdateCapacityProvider"), source=ECS),
        Budget("capacity-provider-read", 50, 20, _ops("DescribeCapacityProviders"), source=ECS),
        Budget("tag-modify", 20, 10, _ops("TagResource", "UntagResource"), source=ECS),
        Budget("tag-read", 50, 20, _ops("ListTagsForResource"), source=ECS),
        Budget("setting-modify", 10, 1, _ops("PutAccountSetting", "PutAccountSettingDefault",
                                             "DeleteAccountSetting"), source=ECS),
        Budget("setting-read", 50, 20, _ops("ListAccountSettings"), source=ECS),
        Budget("cluster-resource-modify", 100, 40,
               _ops("RunTask", "StartTask", "StopTask", "ExecuteCommand", "PutAttributes",
                    "DeleteAttributes", "DeregisterContainerInstance",
                    "UpdateContainerAgent", "UpdateContainerInstancesState"), source=ECS),
        Budget("cluster-resource-read", 100, 20,
               _ops("DescribeTasks", "ListTasks", "DescribeContainerInstances",
                    "ListContainerInstances", "ListAttributes"), source=ECS),
        Budget("service-modify", 50, 5, _ops("CreateService", "UpdateService", "DeleteService"),
               source=ECS),
        Budget("service-read", 100, 20, _ops("DescribeServices", "ListServices"), source=ECS),
        Budget("service-deployments", 50, 20,
               _ops("DescribeServiceDeployments", "ListServiceDeployments",
                    "DescribeServiceRevisions"), source=ECS),
        Budget("services-by-namespace", 10, 1, _ops("ListServicesByNamespace"), source=ECS),
    )),
    # Since July 2026 (the old flat 5 per second is gone): an account-wide bucket
    # every request draws on, and one per operation (50/10 unless listed).
    "route53": ServiceBudgets((
        Budget("account", 50, 10, shared=True, scope="global", source=ROUTE53),
        Budget("CreateHealthCheck", 50, 0.5, _ops("CreateHealthCheck"), scope="global",
               source=ROUTE53),
        Budget("CreateHostedZone", 40, 2, _ops("CreateHostedZone"), scope="global",
               source=ROUTE53),
        Budget("CreateReusableDelegationSet", 40, 2, _ops("CreateReusableDelegationSet"),
               scope="global", source=ROUTE53),
        Budget("DeleteHealthCheck", 15, 3, _ops("DeleteHealthCheck"), scope="global",
               source=ROUTE53),
        Budget("DeleteHostedZone", 40, 5, _ops("DeleteHostedZone"), scope="global",
               source=ROUTE53),
        Budget("AssociateVPCWithHostedZone", 20, 5, _ops("AssociateVPCWithHostedZone"),
               scope="global", source=ROUTE53),
        Budget("DisassociateVPCFromHostedZone", 10, 5, _ops("DisassociateVPCFromHostedZone"),
               scope="global", source=ROUTE53),
        Budget("health-check-status", 4, 1,
               _ops("GetHealthCheckStatus", "GetHealthCheckLastFailureReason"),
               per_operation=True, scope="global", source=ROUTE53),
    ), default=Budget("per-operation", 50, 10, per_operation=True, scope="global",
                      source=ROUTE53)),
    "cloudwatch": ServiceBudgets(_tps(CLOUDWATCH, {
        "PutMetricAlarm": 3, "PutCompositeAlarm": 3, "DeleteAlarms": 3, "DescribeAlarms": 9,
        "DescribeAlarmsForMetric": 9, "EnableAlarmActions": 3, "DisableAlarmActions": 3,
        "SetAlarmState": 3, "ListTagsForResource": 10, "TagResource": 20, "UntagResource": 20,
        "PutDashboard": 10, "GetDashboard": 10, "ListDashboards": 10, "DeleteDashboards": 10,
        "DescribeAlarmHistory": 20, "ListMetrics": 25})),
    "logs": ServiceBudgets(_tps(LOGS, {
        "CreateLogGroup": 5, "DeleteLogGroup": 5, "DescribeLogGroups": 5,
        "CreateLogStream": 50, "DescribeLogStreams": 5, "FilterLogEvents": 5,
        "GetLogEvents": 10})),
    "kms": ServiceBudgets(_tps(KMS, {
        "CreateKey": 5, "PutKeyPolicy": 15, "CreateAlias": 5, "DeleteAlias": 15,
        "UpdateAlias": 5, "DescribeKey": 2000, "GetKeyPolicy": 1000,
        "GetKeyRotationStatus": 1000, "EnableKeyRotation": 15, "DisableKeyRotation": 5,
        "ReplicateKey": 5, "ScheduleKeyDeletion": 15, "CancelKeyDeletion": 5,
        "ListResourceTags": 2000, "TagResource": 10, "UntagResource": 5, "EnableKey": 5,
        "DisableKey": 5, "UpdateKeyDescription": 5, "ListAliases": 500, "ListKeys": 500,
        "ListGrants": 100, "CreateGrant": 50, "RetireGrant": 50, "RevokeGrant": 50,
        "UpdatePrimaryRegion": 5, "GetPublicKey": 2000})),
    # Combined quotas: one bucket per group.  DescribeSecret and GetSecretValue
    # share the older page's combined 10,000 (AWS has since raised them separately).
    "secretsmanager": ServiceBudgets((
        Budget("resource-policies", 50, 50,
               _ops("GetResourcePolicy", "PutResourcePolicy", "DeleteResourcePolicy",
                    "ValidateResourcePolicy"), source=SECRETS),
        Budget("value-and-replication", 50, 50,
               _ops("PutSecretValue", "UpdateSecret", "UpdateSecretVersionStage",
                    "ReplicateSecretToRegions", "RemoveRegionsFromReplication",
                    "StopReplicationToReplica"), source=SECRETS),
        Budget("rotation", 50, 50, _ops("RotateSecret", "CancelRotateSecret"), source=SECRETS),
        Budget("tags", 50, 50, _ops("TagResource", "UntagResource"), source=SECRETS),
        Budget("RestoreSecret", 50, 50, _ops("RestoreSecret"), source=SECRETS),
        Budget("reads", 10000, 10000, _ops("DescribeSecret", "GetSecretValue"),
               source=SECRETS),
        Budget("BatchGetSecretValue", 100, 100, _ops("BatchGetSecretValue"), source=SECRETS),
    )),
    "acm": ServiceBudgets(_tps(ACM, {
        "RequestCertificate": 5, "DescribeCertificate": 10, "ListCertificates": 5,
        "DeleteCertificate": 10, "AddTagsToCertificate": 5, "RemoveTagsFromCertificate": 5,
        "ListTagsForCertificate": 10, "ImportCertificate": 1, "ExportCertificate": 5,
        "ResendValidationEmail": 1})),
    # "Fixed quotas ... per account per Region ... can't be changed."  Delete and
    # tag calls are not named: treated as the Create/Put/Update quota.
    "wafv2": ServiceBudgets((
        *_tps(WAF, {"AssociateWebACL": 0.5, "DisassociateWebACL": 0.5,
                    "GetWebACLForResource": 1, "ListResourcesForWebACL": 1}),
        Budget("reads", 5, 5, prefixes=("Get", "List"), per_operation=True, source=WAF),
    ), default=Budget("writes", 1, 1, per_operation=True, source=WAF)),
    # "Up to 300 requests in a burst and a sustained 12 requests per second",
    # taken as one bucket for every RDS call (the page does not split it).
    "rds": ServiceBudgets((Budget("account", 300, 12, shared=True, source=RDS),)),
    # The lower of the page's two Region tiers.
    "stepfunctions": ServiceBudgets((
        Budget("CreateStateMachine", 100, 1, _ops("CreateStateMachine"), source=STATES),
        Budget("UpdateStateMachine", 100, 1, _ops("UpdateStateMachine"), source=STATES),
        Budget("DeleteStateMachine", 100, 1, _ops("DeleteStateMachine"), source=STATES),
        Budget("DescribeStateMachine", 200, 20, _ops("DescribeStateMachine"), source=STATES),
        Budget("ListStateMachines", 100, 5, _ops("ListStateMachines"), source=STATES),
        Budget("ListTagsForResource", 100, 1, _ops("ListTagsForResource"), source=STATES),
        Budget("TagResource", 200, 1, _ops("TagResource"), source=STATES),
        Budget("UntagResource", 200, 1, _ops("UntagResource"), source=STATES),
        Budget("DescribeExecution", 250, 10, _ops("DescribeExecution"), source=STATES),
        Budget("ListExecutions", 100, 2, _ops("ListExecutions"), source=STATES),
        Budget("StartExecution", 800, 150, _ops("StartExecution"), source=STATES),
        Budget("StopExecution", 500, 25, _ops("StopExecution"), source=STATES),
    )),
    "scheduler": ServiceBudgets(_tps(SCHEDULER, {
        "CreateSchedule": 250, "DeleteSchedule": 250, "GetSchedule": 250,
        "CreateScheduleGroup": 10, "DeleteScheduleGroup": 10})),
}


def flat(cap: float) -> Budget:
    """The bucket of a service (or operation) AWS documents no budget for."""
    return Budget("calls", burst=max(1.0, 2 * cap), rate=cap,
                  source="aws.max_calls_per_second (AWS documents no budget)")


def budgets_for(service: str, operation: str, cap: float) -> list[Budget]:
    """The budgets a call of ``operation`` on ``service`` draws on (never empty)."""
    known = SERVICES.get(service)
    if known is None:
        return [flat(cap)]
    shared = [b for b in known.budgets if b.shared]
    specific = next((b for b in known.budgets if not b.shared and b.covers(operation)),
                    known.default)
    if specific is None:
        # A service whose only budget is account-wide (RDS) needs no second bucket.
        return shared or [flat(cap)]
    return [*shared, specific]
