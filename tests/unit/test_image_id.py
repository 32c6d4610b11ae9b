"""Instances launch the AMI that plan resolved and showed, not whatever SSM says later."""

from __future__ import annotations

import dataclasses

from tests.unit.stubbed import StubbedAws, production_config
from vivr_provision.catalog import Catalog, Resolved
from vivr_provision.steps.ec2 import image_id

PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"


def test_the_image_plan_resolved_is_launched_without_asking_ssm_again() -> None:
    catalog = Catalog()
    catalog.add(Resolved("pgbouncer.ami_parameter", PARAMETER, "ami-0planned", ("us-east-1",),
                         "ssm:GetParameters, ec2:DescribeImages", "pgbouncer", "image"))
    with StubbedAws() as aws:  # any SSM call would fail: a newer image may be out by now
        ctx = dataclasses.replace(aws.context(production_config()), catalog=catalog)
        assert image_id(ctx, "pgbouncer.ami_parameter", PARAMETER, "us-east-1") == \
            "ami-0planned"


def test_without_a_resolved_catalog_the_parameter_is_read() -> None:
    with StubbedAws() as aws:
        aws.expect("ssm", "get_parameter", {"Parameter": {"Name": PARAMETER,
                                                          "Value": "ami-0current"}},
                   {"Name": PARAMETER})
        ctx = aws.context(production_config())
        assert image_id(ctx, "pgbouncer.ami_parameter", PARAMETER, "us-east-1") == \
            "ami-0current"
