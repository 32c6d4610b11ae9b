"""Call budgets: AWS's documented buckets per API category, and the slowdown when AWS
throttles anyway.  A fake clock: the arithmetic is checked, never the wall time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from vivr_provision import api_budgets
from vivr_provision.api_budgets import Budget, ServiceBudgets
from vivr_provision.aws import AwsSettings, ClientFactory
from vivr_provision.throttle import FLOOR_RATE, RECOVERY_SECONDS, CallBudgets, RateLimiter

REPO = Path(__file__).resolve().parents[2]


class FakeClock:
    """``time.monotonic`` and ``time.sleep`` for a limiter: sleeping moves the clock."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def limiter(rate: float, burst: float, clock: FakeClock) -> RateLimiter:
    return RateLimiter(rate, burst, clock=clock, sleep=clock.sleep)


def test_the_burst_goes_out_at_once_then_calls_are_spaced_at_the_rate() -> None:
    clock = FakeClock()
    bucket = limiter(rate=50, burst=5, clock=clock)
    for _ in range(15):
        bucket.acquire()
    assert clock.slept[:0] == [] and len(clock.slept) == 10
    assert clock.now - 1000.0 == pytest.approx(10 / 50)


def test_a_throttle_halves_the_rate_and_it_climbs_back_over_the_recovery_time() -> None:
    clock = FakeClock()
    bucket = limiter(rate=20, burst=40, clock=clock)
    bucket.throttled()
    assert bucket.rate == 10
    bucket.throttled()
    assert bucket.rate == 5
    assert bucket.acquire() == pytest.approx(1 / 5)  # the burst is gone with the throttle
    clock.now += RECOVERY_SECONDS
    bucket.acquire()
    assert bucket.rate == 20
    assert bucket.throttles == 2


def test_no_throttle_slows_a_bucket_below_the_floor() -> None:
    bucket = limiter(rate=1, burst=1, clock=FakeClock())
    for _ in range(20):
        bucket.throttled()
    assert bucket.rate == FLOOR_RATE


@pytest.fixture
def route53_like(monkeypatch: pytest.MonkeyPatch) -> None:
    """An account-wide bucket every call shares, and per-operation buckets beside it."""
    account = Budget("account", burst=50, rate=10, shared=True, scope="global")
    change = Budget("ChangeResourceRecordSets", burst=20, rate=5,
                    operations=frozenset({"ChangeResourceRecordSets"}), scope="global")
    monkeypatch.setitem(api_budgets.SERVICES, "route53",
                        ServiceBudgets((account, change),
                                       default=Budget("per-operation", 50, 10, scope="global")))
    reads = Budget("non-mutating", burst=100, rate=20, prefixes=api_budgets.READS)
    writes = Budget("mutating", burst=200, rate=5)
    monkeypatch.setitem(api_budgets.SERVICES, "ec2", ServiceBudgets((reads,), default=writes))


@pytest.mark.usefixtures("route53_like")
def test_an_operation_draws_on_the_shared_bucket_and_its_own() -> None:
    budgets = CallBudgets(max_calls_per_second=1000)
    change = budgets.buckets("route53", "us-east-1", "ChangeResourceRecordSets")
    listing = budgets.buckets("route53", "us-east-1", "ListResourceRecordSets")
    assert [b.nominal for b in change] == [10, 5]
    assert change[0] is listing[0]                       # one account-wide bucket
    assert change[1] is not listing[1]
    # A global service's buckets are the account's, whatever the client's region.
    assert budgets.buckets("route53", "us-west-2", "ChangeResourceRecordSets") == change


@pytest.mark.usefixtures("route53_like")
def test_categories_by_prefix_and_regional_buckets() -> None:
    budgets = CallBudgets(max_calls_per_second=1000)
    (describe,) = budgets.buckets("ec2", "us-east-1", "DescribeSubnets")
    (create,) = budgets.buckets("ec2", "us-east-1", "CreateSubnet")
    assert (describe.nominal, describe.capacity) == (20, 100)
    assert (create.nominal, create.capacity) == (5, 200)
    assert budgets.buckets("ec2", "us-east-1", "DescribeVpcs") == (describe,)
    assert budgets.buckets("ec2", "us-west-2", "DescribeSubnets") != (describe,)


@pytest.mark.usefixtures("route53_like")
def test_max_calls_per_second_caps_every_bucket_and_covers_undocumented_services() -> None:
    budgets = CallBudgets(max_calls_per_second=4)
    (describe,) = budgets.buckets("ec2", "us-east-1", "DescribeSubnets")
    assert (describe.nominal, describe.capacity) == (4, 8)
    (other,) = budgets.buckets("some-undocumented-service", "us-east-1", "CreateThing")
    assert (other.nominal, other.capacity) == (4, 8)


class Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Any:
        yield self.body


EC2_THROTTLED = (b"<Response><Errors><Error><Code>RequestLimitExceeded</Code>"
                 b"<Message>Request limit exceeded.</Message></Error></Errors>"
                 b"<RequestID>r-1</RequestID></Response>")
EC2_VPCS = (b'<DescribeVpcsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">'
            b"<requestId>r-2</requestId><vpcSet/></DescribeVpcsResponse>")


@pytest.mark.usefixtures("route53_like")
def test_a_throttled_answer_slows_only_the_buckets_of_that_call(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Through a real client and botocore's throttling detector (a Stubber answers
    before the send, where no retry decision is made, so answers are faked at the send)."""
    from botocore.awsrequest import AWSResponse

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    factory = ClientFactory(AwsSettings(region="us-east-1", max_attempts=1))
    factory.budgets = CallBudgets(max_calls_per_second=1000, clock=FakeClock(),
                                  sleep=lambda s: None)
    ec2: Any = factory.client("ec2")

    def answer(request: Any, **_: Any) -> AWSResponse:
        throttled = "Action=CreateTags" in str(request.body)
        return AWSResponse(request.url, 503 if throttled else 200, {},
                           Raw(EC2_THROTTLED if throttled else EC2_VPCS))

    ec2.meta.events.register("before-send", answer)
    with pytest.raises(Exception, match="RequestLimitExceeded"):
        ec2.create_tags(Resources=["vpc-1"], Tags=[{"Key": "a", "Value": "b"}])
    ec2.describe_vpcs()
    (create,) = factory.budgets.buckets("ec2", "us-east-1", "CreateTags")
    (describe,) = factory.budgets.buckets("ec2", "us-east-1", "DescribeVpcs")
    # botocore's max_attempts counts retries: the first attempt and one retry were
    # both throttled, and each halved the bucket (5 -> 2.5 -> 1.25 calls per second).
    assert (create.rate, create.throttles) == (1.25, 2)
    assert (describe.rate, describe.throttles) == (20, 0)
    assert factory.budgets.throttle_counts() == {"ec2": 2}


# ------------------------------------------------------------- the real table


def test_every_budgeted_operation_is_one_the_service_has() -> None:
    """A misspelt operation would silently fall to the flat budget: check each against
    botocore's service model, and each prefix against at least one operation."""
    import botocore.session

    session = botocore.session.get_session()
    for service, known in api_budgets.SERVICES.items():
        operations = set(session.get_service_model(service).operation_names)
        for budget in (*known.budgets, *([known.default] if known.default else [])):
            assert budget.rate > 0 and budget.burst >= 1, (service, budget.name)
            assert budget.source.startswith("https://docs.aws.amazon.com/"), budget.name
            assert budget.operations <= operations, (service, budget.operations - operations)
            for prefix in budget.prefixes:
                assert any(op.startswith(prefix) for op in operations), (service, prefix)


def test_aws_documented_categories_as_the_tool_meets_them() -> None:
    budgets = CallBudgets(max_calls_per_second=1000)

    def shape(service: str, operation: str) -> list[tuple[float, float]]:
        return [(b.capacity, b.nominal) for b in budgets.buckets(service, "us-east-1", operation)]

    # EC2: a bucket per action, of its category's size.
    assert shape("ec2", "DescribeSubnets") == [(100, 20)]
    assert budgets.buckets("ec2", "us-east-1", "DescribeSubnets") != \
        budgets.buckets("ec2", "us-east-1", "DescribeVpcs")
    assert shape("ec2", "CreateSubnet") == [(50, 5)]
    assert shape("ec2", "AuthorizeSecurityGroupIngress") == [(50, 5)]
    assert shape("ec2", "CreateNatGateway") == [(10, 1)]
    assert shape("ec2", "RunInstances") == [(5, 2)]
    # ELBv2: the account bucket, then the category's; CreateLoadBalancer is 0.2/s.
    assert shape("elbv2", "CreateLoadBalancer") == [(40, 10), (10, 0.2)]
    assert shape("elbv2", "DescribeRules") == [(40, 10), (40, 10)]
    assert shape("elbv2", "CreateRule") == [(40, 10), (20, 3)]
    # Route 53: account-wide and per operation; a health check every two seconds.
    assert shape("route53", "CreateHealthCheck") == [(50, 10), (50, 0.5)]
    assert shape("route53", "ChangeResourceRecordSets") == [(50, 10), (50, 10)]
    # CloudWatch: 3 PutMetricAlarm per second, a second's worth at once.
    assert shape("cloudwatch", "PutMetricAlarm") == [(3, 3)]
    assert shape("ecs", "RegisterTaskDefinition") == [(20, 1)]
    assert shape("rds", "CreateDBInstance") == [(300, 12)]
    # No documented budget: the flat limit, twice as deep.
    assert shape("iam", "CreateRole") == [(2000, 1000)]


def test_flat_budgets_are_one_limit_per_service() -> None:
    flat = CallBudgets(max_calls_per_second=20, documented=False)
    (bucket,) = flat.buckets("cloudwatch", "us-east-1", "PutMetricAlarm")
    assert (bucket.capacity, bucket.nominal) == (40, 20)
    assert flat.buckets("cloudwatch", "us-east-1", "DescribeAlarms") == (bucket,)


def test_a_bad_budget_choice_in_the_environment_is_one_clear_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from vivr_provision.config import load_config
    from vivr_provision.errors import ConfigError
    from vivr_provision.settings import CommandOptions, aws_settings

    config = load_config(REPO / "config" / "production.yaml", None)
    monkeypatch.setenv("VIVR_API_BUDGETS", "flat")
    assert aws_settings(CommandOptions(), config).api_budgets == "flat"
    monkeypatch.setenv("VIVR_API_BUDGETS", "fast")
    with pytest.raises(ConfigError, match="VIVR_API_BUDGETS='fast': expected documented or flat"):
        aws_settings(CommandOptions(), config)
