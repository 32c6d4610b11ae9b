"""Resource kinds as data: how AWS names, misses, duplicates and tags each resource type.

Every AWS service spells the same three facts differently: the error code
of "no such resource" (``ResourceNotFoundException``, ``NoSuchEntity``,
``DBInstanceNotFound`` ...), the error code of "already exists" (what a
create retried after a lost response answers), and the shape of its tag
calls (``tag_resource(resourceArn=, tags={...})``, ``tag_role(RoleName=,
Tags=[{Key, Value}])``, ``add_tags(ResourceArns=[...])`` ...).  They are
declared here once per kind, apart from the logic that uses them
(:mod:`vivr_provision.steps.common`), as Cloud Custodian keeps its
resource ``TypeInfo`` and Ansible's amazon.aws keeps its module_utils.
EC2 kinds keep their richer :class:`~vivr_provision.steps.ec2.Ec2Kind`.

The codes are checked against botocore's service models by
``tests/unit/test_kinds.py``: a code the model does not list must be
named in :data:`UNMODELLED_CODES` with where AWS documents it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TagApi:
    """How one service adds tags to a resource (and the pair names it uses)."""

    #: The client method that adds or overwrites tags.
    write: str
    #: The parameter that names the resource (an ARN, a name, an id).
    id_param: str
    #: The parameter that carries the tags.
    tags_param: str = "Tags"
    #: Pair field names; None when the service takes a plain ``{key: value}`` map.
    key: str | None = "Key"
    value: str = "Value"
    #: Whether the resource goes in as a one-element list (``ResourceArns=[arn]``).
    id_as_list: bool = False
    #: The client method that lists a resource's tags (None: the description carries
    #: them, :attr:`Read.tags`); it names the resource with :attr:`id_param` too.
    list_call: str | None = None
    #: JMESPath to the tags in the list call's reply.
    listed: str = "Tags"

    def request(self, resource: str, tags: Mapping[str, str]) -> dict[str, Any]:
        """The keyword arguments of :attr:`write` for ``tags`` on ``resource``."""
        body: Any = dict(tags) if self.key is None else [
            {self.key: k, self.value: v} for k, v in sorted(tags.items())]
        return {self.id_param: [resource] if self.id_as_list else resource,
                self.tags_param: body}

    def list_request(self, resource: str) -> dict[str, Any]:
        """The keyword arguments of :attr:`list_call` for ``resource``."""
        return {self.id_param: [resource] if self.id_as_list else resource}


@dataclass(frozen=True)
class Read:
    """How to read one resource of a kind by the name the config gives it.

    Paths are JMESPath expressions (botocore's own query language, already
    a dependency), so the shape of each reply stays data here.
    """

    #: The client method that describes by name (``describe_db_subnet_groups``).
    operation: str
    #: The parameter that takes the name.
    name_param: str
    #: Path to the one resource in the reply (``DBSubnetGroups[0]``).
    item: str
    #: Path, in the resource, to the id state records (a name or an ARN).
    id_field: str
    #: Path, in the resource, to what the tag calls take (its ARN, or its name).
    tag_target: str
    #: Whether the name goes in as a one-element list (``AlarmNames=[name]``).
    name_as_list: bool = False
    #: Path, in the resource, to tags it carries inline (a pair list), when
    #: the description includes them; otherwise :attr:`TagApi.list_call` reads them.
    tags: str | None = None
    #: Path, in the resource, to its name; None: :attr:`id_field` is the name.
    name_field: str | None = None
    #: The parameter of :attr:`operation` that takes the id state records (an ARN,
    #: or the name), so the resource state knows is found even after the config
    #: renamed it (the ``NAME`` drift row then reports a replacement); None: the
    #: id cannot be read back and the configured name is read instead.
    by_id: str | None = None

    def request(self, name: str, param: str | None = None) -> dict[str, Any]:
        """The keyword arguments of :attr:`operation` for ``name`` (in ``param``:
        :attr:`name_param` by default, :attr:`by_id` for a recorded id)."""
        return {param or self.name_param: [name] if self.name_as_list else name}


@dataclass(frozen=True)
class Kind:
    """One AWS resource type as this tool handles it."""

    service: str
    #: What an operator calls it, for messages ("log group").
    noun: str
    #: Error codes meaning the resource is not there (any more).
    not_found: frozenset[str]
    #: Error codes a create answers when the resource already exists.
    already_exists: frozenset[str] = frozenset()
    tags: TagApi | None = None
    #: How a step finds it by name (None: the step reads it its own way).
    read: Read | None = None


def _codes(*codes: str) -> frozenset[str]:
    return frozenset(codes)


_LIST = "list_tags_for_resource"
_LOGS_TAGS = TagApi("tag_resource", "resourceArn", "tags", key=None, list_call=_LIST,
                    listed="tags")
_PAIRS_BY_ARN = {
    "sns": TagApi("tag_resource", "ResourceArn", list_call=_LIST),
    "cloudwatch": TagApi("tag_resource", "ResourceARN", list_call=_LIST),
    "rds": TagApi("add_tags_to_resource", "ResourceName", list_call=_LIST, listed="TagList"),
    "elasticache": TagApi("add_tags_to_resource", "ResourceName", list_call=_LIST,
                          listed="TagList"),
    "elbv2": TagApi("add_tags", "ResourceArns", id_as_list=True, list_call="describe_tags",
                    listed="TagDescriptions[0].Tags"),
    "ecs": TagApi("tag_resource", "resourceArn", "tags", key="key", value="value",
                  list_call=_LIST, listed="tags"),
    "wafv2": TagApi("tag_resource", "ResourceARN", list_call=_LIST,
                    listed="TagInfoForResource.TagList"),
}

LOG_GROUP = Kind("logs", "log group", _codes("ResourceNotFoundException"),
                 _codes("ResourceAlreadyExistsException"), _LOGS_TAGS)
LOG_DELIVERY = Kind("logs", "log delivery", _codes("ResourceNotFoundException"),
                    _codes("ConflictException"))
SECRET = Kind("secretsmanager", "secret", _codes("ResourceNotFoundException"),
              _codes("ResourceExistsException"), TagApi("tag_resource", "SecretId"),
              # DescribeSecret answers with the secret itself ("@"), its tags inline.
              Read("describe_secret", "SecretId", "@", "ARN", "ARN", tags="Tags",
                   name_field="Name", by_id="SecretId"))
KMS_KEY = Kind("kms", "KMS key", _codes("NotFoundException"), _codes("AlreadyExistsException"),
               TagApi("tag_resource", "KeyId", key="TagKey", value="TagValue",
                      list_call="list_resource_tags"))
#: ``GetRole`` returns the role's tags inline; the tag calls name the role, not its ARN.
IAM_ROLE = Kind("iam", "IAM role", _codes("NoSuchEntity"), _codes("EntityAlreadyExists"),
                TagApi("tag_role", "RoleName", list_call="list_role_tags"),
                Read("get_role", "RoleName", "Role", "Arn", "RoleName", tags="Tags",
                     name_field="RoleName"))
CERTIFICATE = Kind("acm", "certificate", _codes("ResourceNotFoundException"),
                   tags=TagApi("add_tags_to_certificate", "CertificateArn",
                               list_call="list_tags_for_certificate"))
TOPIC = Kind("sns", "SNS topic", _codes("NotFound", "NotFoundException"),
             tags=_PAIRS_BY_ARN["sns"])
ALARM = Kind("cloudwatch", "alarm", _codes("ResourceNotFound"),
             tags=_PAIRS_BY_ARN["cloudwatch"],
             read=Read("describe_alarms", "AlarmNames", "MetricAlarms[0]", "AlarmArn",
                       "AlarmArn", name_as_list=True, name_field="AlarmName"))
DASHBOARD = Kind("cloudwatch", "dashboard", _codes("ResourceNotFound", "DashboardNotFoundError"))
SCALING_POLICY = Kind("application-autoscaling", "scaling policy",
                      _codes("ObjectNotFoundException"))
SCALABLE_TARGET = Kind("application-autoscaling", "scalable target",
                       _codes("ObjectNotFoundException"))
DB_INSTANCE = Kind("rds", "DB instance", _codes("DBInstanceNotFound", "DBInstanceNotFoundFault"),
                   _codes("DBInstanceAlreadyExists", "DBInstanceAlreadyExistsFault"),
                   _PAIRS_BY_ARN["rds"],
                   Read("describe_db_instances", "DBInstanceIdentifier", "DBInstances[0]",
                        "DBInstanceIdentifier", "DBInstanceArn", tags="TagList",
                        by_id="DBInstanceIdentifier"))
DB_SUBNET_GROUP = Kind("rds", "DB subnet group", _codes("DBSubnetGroupNotFoundFault"),
                       _codes("DBSubnetGroupAlreadyExists", "DBSubnetGroupAlreadyExistsFault"),
                       _PAIRS_BY_ARN["rds"],
                       Read("describe_db_subnet_groups", "DBSubnetGroupName",
                            "DBSubnetGroups[0]", "DBSubnetGroupName", "DBSubnetGroupArn",
                            by_id="DBSubnetGroupName"))
DB_PARAMETER_GROUP = Kind("rds", "DB parameter group",
                          _codes("DBParameterGroupNotFound", "DBParameterGroupNotFoundFault"),
                          _codes("DBParameterGroupAlreadyExists",
                                 "DBParameterGroupAlreadyExistsFault"),
                          _PAIRS_BY_ARN["rds"],
                          Read("describe_db_parameter_groups", "DBParameterGroupName",
                               "DBParameterGroups[0]", "DBParameterGroupName",
                               "DBParameterGroupArn", by_id="DBParameterGroupName"))
#: ``DescribeEventSubscriptions`` carries no tags: ``ListTagsForResource`` on its ARN.
EVENT_SUBSCRIPTION = Kind("rds", "RDS event subscription", _codes("SubscriptionNotFound"),
                          _codes("SubscriptionAlreadyExist"), _PAIRS_BY_ARN["rds"],
                          Read("describe_event_subscriptions", "SubscriptionName",
                               "EventSubscriptionsList[0]", "CustSubscriptionId",
                               "EventSubscriptionArn", by_id="SubscriptionName"))
CACHE_SUBNET_GROUP = Kind("elasticache", "cache subnet group",
                          _codes("CacheSubnetGroupNotFoundFault"),
                          _codes("CacheSubnetGroupAlreadyExists"), _PAIRS_BY_ARN["elasticache"],
                          Read("describe_cache_subnet_groups", "CacheSubnetGroupName",
                               "CacheSubnetGroups[0]", "CacheSubnetGroupName", "ARN",
                               by_id="CacheSubnetGroupName"))
CACHE_PARAMETER_GROUP = Kind("elasticache", "cache parameter group",
                             _codes("CacheParameterGroupNotFound"),
                             _codes("CacheParameterGroupAlreadyExists"),
                             _PAIRS_BY_ARN["elasticache"],
                             Read("describe_cache_parameter_groups", "CacheParameterGroupName",
                                  "CacheParameterGroups[0]", "CacheParameterGroupName", "ARN",
                                  by_id="CacheParameterGroupName"))
REPLICATION_GROUP = Kind("elasticache", "replication group",
                         _codes("ReplicationGroupNotFoundFault"),
                         _codes("ReplicationGroupAlreadyExists"), _PAIRS_BY_ARN["elasticache"],
                         Read("describe_replication_groups", "ReplicationGroupId",
                              "ReplicationGroups[0]", "ReplicationGroupId", "ARN",
                              by_id="ReplicationGroupId"))
# Read for the replication group's members (cluster-level settings live there); we
# never tag them, but AWS can (AddTagsToResource takes a cluster's ARN).
CACHE_CLUSTER = Kind("elasticache", "cache cluster", _codes("CacheClusterNotFound"),
                     tags=_PAIRS_BY_ARN["elasticache"],
                     read=Read("describe_cache_clusters", "CacheClusterId", "CacheClusters[0]",
                               "CacheClusterId", "ARN"))
LOAD_BALANCER = Kind("elbv2", "load balancer", _codes("LoadBalancerNotFound"),
                     _codes("DuplicateLoadBalancerName"), _PAIRS_BY_ARN["elbv2"],
                     Read("describe_load_balancers", "Names", "LoadBalancers[0]",
                          "LoadBalancerArn", "LoadBalancerArn", name_as_list=True,
                          name_field="LoadBalancerName", by_id="LoadBalancerArns"))
TARGET_GROUP = Kind("elbv2", "target group", _codes("TargetGroupNotFound"),
                    _codes("DuplicateTargetGroupName"), _PAIRS_BY_ARN["elbv2"],
                    Read("describe_target_groups", "Names", "TargetGroups[0]",
                         "TargetGroupArn", "TargetGroupArn", name_as_list=True,
                         name_field="TargetGroupName", by_id="TargetGroupArns"))
LISTENER = Kind("elbv2", "listener", _codes("ListenerNotFound"), _codes("DuplicateListener"),
                _PAIRS_BY_ARN["elbv2"])
LISTENER_RULE = Kind("elbv2", "listener rule", _codes("RuleNotFound"), _codes("PriorityInUse"),
                     _PAIRS_BY_ARN["elbv2"])


@dataclass(frozen=True)
class EcsRead(Read):
    """An ECS describe call: ECS returns some members only when asked for them
    (``include``, e.g. a cluster's ``SETTINGS``), and reports a name it does
    not know in ``failures`` rather than as an error (so the item is absent)."""

    include: tuple[str, ...] = ()

    def request(self, name: str, param: str | None = None) -> dict[str, Any]:
        body = super().request(name, param)
        return {**body, "include": list(self.include)} if self.include else body


ECS_CLUSTER = Kind("ecs", "ECS cluster", _codes("ClusterNotFoundException"),
                   tags=_PAIRS_BY_ARN["ecs"],
                   read=EcsRead("describe_clusters", "clusters", "clusters[0]", "clusterArn",
                                "clusterArn", name_as_list=True, include=("SETTINGS",),
                                name_field="clusterName", by_id="clusters"))
#: Task definitions are read through their family's revisions (the step's own
#: lookup); ``DescribeTaskDefinition`` answers an unknown one with ``ClientException``.
TASK_DEFINITION = Kind("ecs", "task definition", _codes("ClientException"),
                       tags=_PAIRS_BY_ARN["ecs"])
#: ``DescribeCapacityProviders`` reports an unknown name in ``failures``.
CAPACITY_PROVIDER = Kind("ecs", "capacity provider", _codes(), tags=_PAIRS_BY_ARN["ecs"],
                         read=Read("describe_capacity_providers", "capacityProviders",
                                   "capacityProviders[0]", "capacityProviderArn",
                                   "capacityProviderArn", name_as_list=True, name_field="name",
                                   by_id="capacityProviders"))
ECS_SERVICE = Kind("ecs", "ECS service",
                   _codes("ServiceNotFoundException", "ServiceNotActiveException",
                          "ClusterNotFoundException"),
                   tags=_PAIRS_BY_ARN["ecs"])
WEB_ACL = Kind("wafv2", "web ACL", _codes("WAFNonexistentItemException"),
               _codes("WAFDuplicateItemException"), _PAIRS_BY_ARN["wafv2"])
HOSTED_ZONE = Kind("route53", "hosted zone", _codes("NoSuchHostedZone"),
                   _codes("HostedZoneAlreadyExists"))
HEALTH_CHECK = Kind("route53", "health check", _codes("NoSuchHealthCheck"),
                    _codes("HealthCheckAlreadyExists"))
#: One per hosted zone; no tags, found through the zone (ListQueryLoggingConfigs).
QUERY_LOGGING_CONFIG = Kind("route53", "query logging configuration",
                            _codes("NoSuchQueryLoggingConfig"),
                            _codes("QueryLoggingConfigAlreadyExists"))
#: S3 tagging is no TagApi (the pairs sit in ``Tagging={"TagSet": [...]}`` and a put
#: replaces the whole set), and a bucket is found through ListBuckets: steps/s3.py does
#: both.  BucketAlreadyExists: the name is another account's (names are global).
BUCKET = Kind("s3", "S3 bucket", _codes("NoSuchBucket"),
              _codes("BucketAlreadyOwnedByYou", "BucketAlreadyExists"))

#: CloudFront kinds.  Tagging is not declared: CloudFront's ``TagResource`` wraps
#: the pairs in ``Tags={"Items": [...]}``, which :class:`TagApi` does not spell;
#: the distribution step tags (and lists tags) itself.  Policies and origin
#: access controls take no tags at all.
DISTRIBUTION = Kind("cloudfront", "CloudFront distribution", _codes("NoSuchDistribution"),
                    _codes("DistributionAlreadyExists"))
CACHE_POLICY = Kind("cloudfront", "cache policy", _codes("NoSuchCachePolicy"),
                    _codes("CachePolicyAlreadyExists"))
ORIGIN_REQUEST_POLICY = Kind("cloudfront", "origin request policy",
                             _codes("NoSuchOriginRequestPolicy"),
                             _codes("OriginRequestPolicyAlreadyExists"))
ORIGIN_ACCESS_CONTROL = Kind("cloudfront", "origin access control",
                             _codes("NoSuchOriginAccessControl"),
                             _codes("OriginAccessControlAlreadyExists"))
#: Field-level encryption (issue 12): untaggable, found by name (key, profile)
#: or by the ownership note in their comment (the config has no name).
PUBLIC_KEY = Kind("cloudfront", "public key", _codes("NoSuchPublicKey"),
                  _codes("PublicKeyAlreadyExists"))
FLE_PROFILE = Kind("cloudfront", "field-level encryption profile",
                   _codes("NoSuchFieldLevelEncryptionProfile"),
                   _codes("FieldLevelEncryptionProfileAlreadyExists"))
FLE_CONFIG = Kind("cloudfront", "field-level encryption config",
                  _codes("NoSuchFieldLevelEncryptionConfig"),
                  _codes("FieldLevelEncryptionConfigAlreadyExists"))

#: AWS Backup.  Tags are a plain map on every backup resource (``TagResource`` /
#: ``ListTags`` by ARN).  Plans and selections have ids AWS assigns; the steps
#: find them by name through the list calls (backup_archive.py).
_BACKUP_TAGS = TagApi("tag_resource", "ResourceArn", key=None, list_call="list_tags")
BACKUP_VAULT = Kind("backup", "backup vault", _codes("ResourceNotFoundException"),
                    _codes("AlreadyExistsException"), _BACKUP_TAGS,
                    Read("describe_backup_vault", "BackupVaultName", "@", "BackupVaultArn",
                         "BackupVaultArn", name_field="BackupVaultName"))
BACKUP_PLAN = Kind("backup", "backup plan", _codes("ResourceNotFoundException"),
                   _codes("AlreadyExistsException"), _BACKUP_TAGS)
BACKUP_SELECTION = Kind("backup", "backup selection", _codes("ResourceNotFoundException"),
                        _codes("AlreadyExistsException"))
#: Step Functions and EventBridge Scheduler (the Redis export, redis_export.py).
STATE_MACHINE = Kind("stepfunctions", "state machine",
                     _codes("StateMachineDoesNotExist"), _codes("StateMachineAlreadyExists"),
                     TagApi("tag_resource", "resourceArn", "tags", key="key", value="value",
                            list_call=_LIST, listed="tags"))
SCHEDULE_GROUP = Kind("scheduler", "schedule group", _codes("ResourceNotFoundException"),
                      _codes("ConflictException"),
                      TagApi("tag_resource", "ResourceArn", list_call=_LIST),
                      Read("get_schedule_group", "Name", "@", "Arn", "Arn", name_field="Name"))
#: Schedules take no tags: one is ours when it sits in our schedule group.
SCHEDULE = Kind("scheduler", "schedule", _codes("ResourceNotFoundException"),
                _codes("ConflictException"))
#: ``GetFunction`` answers ``{"Configuration": ..., "Tags": {...}}``; the tags are read with
#: ``ListTags`` (a plain map), which names the function by its ARN.
LAMBDA_FUNCTION = Kind("lambda", "Lambda function", _codes("ResourceNotFoundException"),
                       _codes("ResourceConflictException"),
                       TagApi("tag_resource", "Resource", key=None, list_call="list_tags"),
                       Read("get_function", "FunctionName", "Configuration", "FunctionArn",
                            "FunctionArn", name_field="FunctionName", by_id="FunctionName"))

#: EC2's model lists no error shapes: these codes are in the EC2 API reference,
#: "Error codes for the Amazon EC2 API" (see UNMODELLED_CODES).
LAUNCH_TEMPLATE = Kind("ec2", "launch template",
                       _codes("InvalidLaunchTemplateName.NotFoundException",
                              "InvalidLaunchTemplateId.NotFound",
                              "InvalidLaunchTemplateId.NotFoundException"),
                       _codes("InvalidLaunchTemplateName.AlreadyExistsException"))

#: Every kind above, by name (what the tests iterate).
KINDS: dict[str, Kind] = {name: value for name, value in dict(globals()).items()
                          if isinstance(value, Kind)}

#: Codes AWS returns that a botocore service model does not list as an error
#: shape of that service, with where AWS documents them.
UNMODELLED_CODES: dict[tuple[str, str], str] = {
    ("ec2", code): "EC2 API reference, Error codes for the Amazon EC2 API"
    for code in LAUNCH_TEMPLATE.not_found | LAUNCH_TEMPLATE.already_exists}

__all__ = ["KINDS", "UNMODELLED_CODES", "EcsRead", "Kind", "Read", "TagApi"]
