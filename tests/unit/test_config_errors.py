"""Broken configs: one problem per line, each with its field path; typos get "did you mean"."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO
from vivr_provision.config import PlatformConfig, load_config
from vivr_provision.config.fields import field_names_at
from vivr_provision.errors import ConfigError

BASE = yaml.safe_load((REPO / "config" / "production.yaml").read_text())


def _problems(tmp_path: Path, mutate: Callable[[dict[str, Any]], None]) -> list[str]:
    data = copy.deepcopy(BASE)
    mutate(data)
    path = tmp_path / "production.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as caught:
        load_config(path, "production")
    return str(caught.value).splitlines()


def test_a_top_level_typo_is_one_line_that_names_the_key_meant(tmp_path: Path) -> None:
    lines = _problems(tmp_path, lambda d: d.update(netwrok={}))
    assert lines == [f"{tmp_path / 'production.yaml'}: netwrok: unknown key "
                     "(did you mean network?)"]


def test_a_nested_typo_is_matched_against_the_fields_at_its_own_level(tmp_path: Path) -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["security_groups"][0]["ingress"][0]["prot"] = 443
        data["network"]["vpc"]["cidr_blok"] = "10.0.0.0/16"

    lines = _problems(tmp_path, mutate)
    assert lines[0] == f"{tmp_path / 'production.yaml'}: 2 errors"
    assert sorted(lines[1:]) == [
        "  network.vpc.cidr_blok: unknown key (did you mean cidr?)",
        "  security_groups[0].ingress[0].prot: unknown key (did you mean port or protocol?)",
    ]


def test_wrong_type_missing_key_and_typo_each_get_their_own_line(tmp_path: Path) -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["network"]["vpc"]["enable_dns_support"] = "yes"
        del data["aws"]["region"]
        data["rds"]["instanse_class"] = "db.t3.small"

    lines = _problems(tmp_path, mutate)
    assert lines[0].endswith(": 3 errors")
    assert all(line.startswith("  ") for line in lines[1:])
    assert set(lines[1:]) == {
        "  aws.region: required key missing",
        "  network.vpc.enable_dns_support: Input should be a valid boolean",
        "  rds.instanse_class: unknown key (did you mean instance_class?)",
    }


def test_a_cross_field_check_reports_each_problem_on_its_own_line(tmp_path: Path) -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["pgbouncer"].update(default_pool_size=3000, max_db_connections=2000)

    lines = _problems(tmp_path, mutate)
    assert lines[0].endswith(": 2 errors")
    assert lines[1].startswith("  pgbouncer: default_pool_size 3000 is above max_db_connections")
    assert lines[2].startswith("  pgbouncer: max_db_connections 2000 is above max_client_conn")


def test_a_message_with_a_semicolon_is_not_cut_in_two(tmp_path: Path) -> None:
    lines = _problems(tmp_path, lambda d: d["network"]["nat_gateway"].update(subnet="db-1a"))
    assert len(lines) == 1, lines
    assert "'db-1a' is a database subnet; " in lines[0]


def test_a_typo_far_from_every_field_lists_the_few_valid_ones(tmp_path: Path) -> None:
    lines = _problems(tmp_path, lambda d: d["network"]["vpc"].update(zzz=1))
    valid = ", ".join(field_names_at(PlatformConfig, ("network", "vpc")))
    assert lines == [f"{tmp_path / 'production.yaml'}: network.vpc.zzz: unknown key "
                     f"(valid here: {valid})"]
    assert "cidr" in valid


def test_field_names_follow_lists_dicts_and_tagged_unions() -> None:
    assert "port" in field_names_at(PlatformConfig, ("security_groups", 0, "ingress", 0))
    origin = field_names_at(PlatformConfig, ("cloudfront", "origins", 0, "alb"))
    assert "protocol_policy" in origin
    assert field_names_at(PlatformConfig, ("no", "such", "path")) == []
