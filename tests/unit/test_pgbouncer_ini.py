"""pgbouncer.ini and the PgBouncer boot script, read back the way PgBouncer and bash would.

Expected values are the spec's ("Connection Pooling (PgBouncer)" in
../shared/spec/infrastructure-requirements.md), not read from config, so a
wrong config value fails here.
"""

from __future__ import annotations

import configparser
import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from vivr_provision.config import PlatformConfig, load_config
from vivr_provision.config.data import GeneratedSecretConfig
from vivr_provision.config.loader import parse_config
from vivr_provision.config.model import pgbouncer_timeout_problems
from vivr_provision.errors import ConfigError
from vivr_provision.pgbouncer import (
    USER_DATA_LIMIT,
    changed_ini_keys,
    ini_from_user_data,
    parse_ini,
    render_ini,
    render_user_data,
)
from vivr_provision.steps.secrets import ALLOWED_PUNCTUATION, generate_value

REPO = Path(__file__).resolve().parents[2]
DB_HOST = "vivr-db.c9akciq32xyz.us-east-1.rds.amazonaws.com"
DB_PORT = 5432
SECRET_ARN = ("arn:aws:secretsmanager:us-east-1:123456789012:secret:"
              "vivr/production/database/master-Ab12Cd")
REGION = "us-east-1"
# Spec "Connection Pooling (PgBouncer)", in pgbouncer.ini's names and units.
SPEC_POOL = {
    "pool_mode": "transaction",
    "max_client_conn": "1000",
    "default_pool_size": "25",
    "min_pool_size": "10",
    "reserve_pool_size": "5",
    "reserve_pool_timeout": "3",
    "max_db_connections": "100",
    "server_idle_timeout": "600",   # "Idle timeout: 600 seconds"
    "client_idle_timeout": "600",   # "Connection aging: 600 seconds"
    "server_lifetime": "3600",
    "listen_port": "6432",
    # "Query logging: Disabled (production)"
    "log_connections": "0",
    "log_disconnections": "0",
}


@pytest.fixture(scope="module")
def config() -> PlatformConfig:
    return load_config(REPO / "config" / "production.yaml")


def _with_pgbouncer(config: PlatformConfig, **changes: object) -> PlatformConfig:
    return config.model_copy(update={"pgbouncer": config.pgbouncer.model_copy(update=changes)})


def _parse(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.read_string(text)
    return parser


def _user_data(config: PlatformConfig) -> str:
    return render_user_data(config, DB_HOST, DB_PORT, SECRET_ARN, REGION)


def _assert_spec_ini(parser: configparser.ConfigParser) -> None:
    assert parser.sections() == ["databases", "pgbouncer"]
    # PgBouncer's own server connections lift RDS's 300 s idle_session_timeout
    # for themselves (issue 7, finding 9): min_pool_size connections would
    # otherwise be killed and re-opened every five quiet minutes.
    assert dict(parser["databases"]) == {
        "vivr": f"host={DB_HOST} port={DB_PORT} dbname=vivr "
                "connect_query='SET idle_session_timeout TO 0'"
    }
    settings = dict(parser["pgbouncer"])
    assert {k: settings.get(k) for k in SPEC_POOL} == SPEC_POOL
    assert settings["listen_addr"] == "0.0.0.0"
    assert settings["auth_file"] == "/etc/pgbouncer/userlist.txt"
    assert settings["logfile"].startswith("/var/log/pgbouncer/")
    assert settings["pidfile"].endswith(".pid")
    assert settings["client_tls_key_file"] and settings["client_tls_cert_file"]


def test_ini_carries_every_spec_value_and_points_at_the_database(
        config: PlatformConfig) -> None:
    parser = _parse(render_ini(config, DB_HOST, DB_PORT))
    _assert_spec_ini(parser)
    # Every configured pgbouncer.ini setting lands in the file, spelled as configured.
    settings = dict(parser["pgbouncer"])
    for key, value in config.pgbouncer.ini_settings().items():
        assert settings[key] == value, key
    assert settings["pool_mode"] == "transaction"


def test_ini_embedded_in_the_user_data_is_the_rendered_one(config: PlatformConfig) -> None:
    script = _user_data(config)
    # Read it back independently of the product's helper: the heredoc body.
    match = re.search(r"cat > /etc/pgbouncer/pgbouncer\.ini <<'(\w+)'\n(.*?)\n\1\n", script,
                      flags=re.DOTALL)
    assert match, "pgbouncer.ini is written from a heredoc with a quoted delimiter"
    embedded = match.group(2) + "\n"
    assert embedded == render_ini(config, DB_HOST, DB_PORT)
    _assert_spec_ini(_parse(embedded))
    assert ini_from_user_data(script) == embedded
    assert ini_from_user_data("#!/bin/bash\necho hello\n") is None


def test_every_heredoc_has_a_quoted_delimiter(config: PlatformConfig) -> None:
    script = _user_data(config)
    heredocs = re.findall(r"<<(\S+)", script)
    assert heredocs, "files are written from heredocs"
    assert all(h.startswith("'") and h.endswith("'") for h in heredocs), heredocs


def test_user_data_never_contains_the_password(config: PlatformConfig) -> None:
    rules = GeneratedSecretConfig(name="sample", description="sample", length=32,
                                  exclude_punctuation=False, exclude_characters='/@" ')
    password = generate_value(rules, ALLOWED_PUNCTUATION["database_credentials"])
    script = _user_data(config)
    assert password not in script
    # Nothing in the script looks like an inline credential either.
    assert not re.search(r"(?i)(password|passwd|pgpassword)\s*[=:]\s*\S", script)
    assert not re.search(r'(?m)^"[^"]+"\s+"[^"]+"$', script), "no userlist.txt line inline"
    mixed = re.findall(r"(?<![\w/.-])(?=[A-Za-z0-9]*\d)(?=[A-Za-z0-9]*[A-Za-z])"
                       r"[A-Za-z0-9]{16,}(?![\w/.-])", script)
    assert mixed == [], f"random-looking tokens in user data: {mixed}"
    # The credentials are read at boot from the secret, by its ARN.
    assert f"--secret-id {SECRET_ARN}" in script
    assert "aws secretsmanager get-secret-value" in script
    assert "set -x" not in script and "set -o xtrace" not in script


def test_userlist_is_written_from_the_secret_json_0600_pgbouncer(
        config: PlatformConfig) -> None:
    script = _user_data(config)
    # Written to a temporary name with umask 077, then moved into place.
    assert "umask 077" in script
    assert "chown pgbouncer:pgbouncer /etc/pgbouncer/userlist.txt.new" in script
    assert "chmod 0600 /etc/pgbouncer/userlist.txt.new" in script
    assert "mv -f /etc/pgbouncer/userlist.txt.new /etc/pgbouncer/userlist.txt" in script
    # Run the converter exactly as the script does, on the secret's JSON shape.
    line = next(text for text in script.splitlines() if "python3 -c" in text)
    words = shlex.split(line)
    program = words[words.index("-c") + 1]
    secret = {"username": "vivr_admin", "password": 'p"q r', "engine": "postgres"}
    result = subprocess.run([sys.executable, "-c", program], input=json.dumps(secret),
                            capture_output=True, text=True, check=True)
    assert result.stdout == '"vivr_admin" "p""q r"\n'


def test_user_data_installs_configures_and_starts_pgbouncer(config: PlatformConfig) -> None:
    script = _user_data(config)
    assert script.startswith("#!/bin/bash\n")
    assert "set -euo pipefail" in script
    assert re.search(r"(?m)^dnf install -y .*\bpgbouncer\b", script)
    assert "systemctl enable --now pgbouncer\n" in script
    assert "openssl req -x509" in script and "/CN=pgbouncer-vivr" in script
    assert len(script.encode()) <= USER_DATA_LIMIT


def _dnf_installs(script: str) -> list[list[str]]:
    return [shlex.split(line)[3:] for line in script.splitlines()
            if line.startswith("dnf install -y ")]


def test_pgbouncer_is_installed_from_spal_enabled_first_with_signatures_checked(
        config: PlatformConfig) -> None:
    # AL2023's core repositories have no pgbouncer; Amazon's SPAL repository
    # does, and the AL2023 package spal-release is what enables it.
    first, second = _dnf_installs(_user_data(config))
    assert first == ["spal-release"]
    assert "--setopt=amazonlinux-spal.gpgcheck=1" in second
    names = [w for w in second if not w.startswith("-")]
    # Each an AL2023 (or SPAL) package name: psql matches the RDS major version.
    assert names == ["pgbouncer", "openssl", "awscli-2", "postgresql16",
                     "amazon-cloudwatch-agent"]
    assert "\nrpm -q pgbouncer\n" in _user_data(config), "the installed build is logged"
    assert "curl" not in _user_data(config), "nothing downloaded outside dnf with require"


def _fake_bin(tmp_path: Path, **commands: str) -> dict[str, str]:
    """A PATH whose first directory holds the given fake commands (bash bodies)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, body in commands.items():
        path = bin_dir / name
        path.write_text(f"#!/bin/bash\n{body}\n")
        path.chmod(0o755)
    return {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)}


def test_a_failing_boot_command_stops_the_script_and_names_its_line(
        config: PlatformConfig, tmp_path: Path) -> None:
    script = tmp_path / "user-data.sh"
    script.write_text(_user_data(config))
    calls = tmp_path / "calls.log"
    env = _fake_bin(tmp_path,
                    dnf=f'echo "dnf $*" >> {calls}; [ "$3" != spal-release ] || exit 1',
                    systemctl=f'echo "systemctl $*" >> {calls}')
    result = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True,
                            check=False, timeout=30)
    assert result.returncode != 0
    line = 1 + _user_data(config).splitlines().index("dnf install -y spal-release")
    assert f"pgbouncer boot failed at line {line}" in result.stderr
    assert calls.read_text().splitlines() == ["dnf install -y spal-release"], \
        "nothing runs after the failed command"


def test_boot_waits_until_pgbouncer_answers(config: PlatformConfig) -> None:
    script = _user_data(config)
    start = script.index("systemctl enable --now pgbouncer\n")
    wait = script[start:script.index("pgbouncer-metrics.timer")]
    assert "runuser -u pgbouncer -- psql" in wait and "SHOW VERSION" in wait
    assert "exit 1" in wait, "a pooler that never answers fails the boot"


def _sampler(script: str) -> str:
    match = re.search(r"<<'VIVR_METRICS_SH'\n(.*?\n)VIVR_METRICS_SH\n", script, flags=re.DOTALL)
    assert match, "the sampler is written from a heredoc"
    return match.group(1)


_POOLS = ("database|user|cl_active|cl_waiting|sv_active\n"
          "vivr|vivr_admin|3|4|2\npgbouncer|pgbouncer|1|0|0\n")


def _run_sampler(config: PlatformConfig, tmp_path: Path, psql: str) -> tuple[int, list[str]]:
    sampler = tmp_path / "pgbouncer-metrics"
    sampler.write_text(_sampler(_user_data(config)))
    calls = tmp_path / "aws.args"
    env = _fake_bin(tmp_path, psql=psql,
                    aws=f'for a in "$@"; do printf "%s\\n" "$a"; done > {calls}')
    env["STATE_DIRECTORY"] = str(tmp_path)
    result = subprocess.run(["bash", str(sampler)], env=env, capture_output=True, text=True,
                            check=False, timeout=30)
    return result.returncode, (calls.read_text().splitlines() if calls.exists() else [])


def test_heartbeat_is_published_only_when_pgbouncer_answers(
        config: PlatformConfig, tmp_path: Path) -> None:
    code, aws = _run_sampler(config, tmp_path, "exit 2")
    assert code != 0 and aws == [], "no answer, no heartbeat"

    code, aws = _run_sampler(config, tmp_path, f"printf '{_POOLS}'")
    assert code == 0, aws
    assert aws[:6] == ["cloudwatch", "put-metric-data", "--region", REGION,
                       "--namespace", "VIVR/PgBouncer"]
    data = json.loads(aws[aws.index("--metric-data") + 1])
    service = [{"Name": "Service", "Value": "pgbouncer-vivr"}]
    assert data == [
        {"MetricName": "pgbouncer_up", "Value": 1, "Unit": "Count", "Dimensions": service},
        {"MetricName": "cl_waiting", "Value": 4, "Unit": "Count", "Dimensions": service},
        {"MetricName": "connection_errors", "Value": 0, "Unit": "Count",
         "Dimensions": service}]

    quiet = _with_pgbouncer(config, cloudwatch_metrics=False)
    code, aws = _run_sampler(quiet, tmp_path, f"printf '{_POOLS}'")
    assert code == 0
    assert [d["MetricName"] for d in json.loads(aws[aws.index("--metric-data") + 1])] == \
        ["pgbouncer_up"]


def test_user_data_is_valid_bash(config: PlatformConfig, tmp_path: Path) -> None:
    bash = shutil.which("bash")
    assert bash, "bash is part of every CI image"
    path = tmp_path / "user-data.sh"
    path.write_text(_user_data(config))
    result = subprocess.run([bash, "-n", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_cloudwatch_metrics_are_optional(config: PlatformConfig) -> None:
    with_metrics = _user_data(config)
    assert config.pgbouncer.cloudwatch_metrics
    assert "amazon-cloudwatch-agent" in with_metrics
    assert "--namespace VIVR/PgBouncer" in with_metrics
    assert '"MetricName":"cl_waiting"' in with_metrics
    assert '"MetricName":"connection_errors"' in with_metrics
    without = _user_data(_with_pgbouncer(config, cloudwatch_metrics=False))
    assert "amazon-cloudwatch-agent" not in without
    assert '"MetricName":"cl_waiting"' not in without
    # The heartbeat is not a metric option: it is how a failed boot becomes visible.
    assert "pgbouncer_up" in without
    assert "systemctl enable --now pgbouncer-metrics.timer" in without


def test_rendering_is_deterministic_and_tracks_every_setting(config: PlatformConfig) -> None:
    assert _user_data(config) == _user_data(config)
    changed = _user_data(_with_pgbouncer(config, default_pool_size=30))
    assert changed != _user_data(config)
    old, new = changed_ini_keys(parse_ini(ini_from_user_data(_user_data(config)) or ""),
                                parse_ini(ini_from_user_data(changed) or ""))
    assert (old, new) == ({"pgbouncer.default_pool_size": "25"},
                          {"pgbouncer.default_pool_size": "30"})
    moved = render_user_data(config, "other.rds.amazonaws.com", DB_PORT, SECRET_ARN, REGION)
    assert "host=other.rds.amazonaws.com" in moved


def test_tls_settings_follow_the_configured_modes(config: PlatformConfig) -> None:
    plain = _parse(render_ini(_with_pgbouncer(config, client_tls_sslmode="disable"),
                              DB_HOST, DB_PORT))
    assert "client_tls_key_file" not in plain["pgbouncer"]
    assert "openssl req" not in _user_data(_with_pgbouncer(config, client_tls_sslmode="disable"))
    verifying = _with_pgbouncer(config, server_tls_sslmode="verify-full")
    settings = _parse(render_ini(verifying, DB_HOST, DB_PORT))["pgbouncer"]
    assert settings["server_tls_ca_file"]
    script = _user_data(verifying)
    assert "truststore.pki.rds.amazonaws.com/us-east-1/us-east-1-bundle.pem" in script


# ----------------------------------------------------------------- timeouts against RDS's

def _production_data() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((REPO / "config" / "production.yaml").read_text())
    return data


def _rejection(data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as failure:
        parse_config(data, "production.yaml")
    return str(failure.value)


def test_production_timeouts_agree_with_rds() -> None:
    config = parse_config(_production_data(), "production.yaml")
    # RDS keeps the spec's 300 s for every session that reaches it directly
    # (vivr-db-sg admits the application on 5432 too) ...
    assert config.rds.parameter_group.parameters["idle_session_timeout"].value == "300000"
    assert config.rds.parameter_group.parameters[
        "idle_in_transaction_session_timeout"].value == "300000"
    # ... PgBouncer keeps the spec's 600 s / 3600 s and lifts the limit for its own.
    assert (config.pgbouncer.server_idle_timeout, config.pgbouncer.server_lifetime) == (600, 3600)
    assert config.pgbouncer.server_idle_session_timeout == 0
    assert pgbouncer_timeout_problems(config) == []


def test_pooled_connections_kept_idle_longer_than_rds_allows_are_rejected() -> None:
    data = _production_data()
    del data["pgbouncer"]["server_idle_session_timeout"]
    message = _rejection(data)
    assert "\n" not in message
    assert ("pgbouncer: server connections may stay idle 3600 s (min_pool_size 10 keeps "
            "them past server_idle_timeout, up to server_lifetime 3600) but "
            "rds.parameter_group idle_session_timeout closes idle sessions after 300 s") \
        in message

    # Without min_pool_size only server_idle_timeout counts: 600 s is still too long ...
    data["pgbouncer"].update(min_pool_size=0)
    assert "may stay idle 600 s (server_idle_timeout 600" in _rejection(data)
    # ... and below RDS's 300 s it is consistent.
    data["pgbouncer"].update(server_idle_timeout=240)
    assert parse_config(data, "production.yaml").pgbouncer.server_idle_timeout == 240


def test_the_opt_out_does_not_count_in_session_pools_and_rds_off_allows_anything() -> None:
    data = _production_data()
    data["pgbouncer"].update(pool_mode="session")   # DISCARD ALL resets the SET
    assert "idle_session_timeout closes idle sessions after 300 s" in _rejection(data)

    data = _production_data()
    data["pgbouncer"].update(server_idle_session_timeout=120)  # a limit of its own
    assert ("pgbouncer.server_idle_session_timeout closes idle sessions after 120 s"
            in _rejection(data))

    data = _production_data()
    del data["pgbouncer"]["server_idle_session_timeout"]
    data["rds"]["parameter_group"]["parameters"]["idle_session_timeout"]["value"] = "0"
    assert parse_config(data, "production.yaml").pgbouncer.min_pool_size == 10


def test_connect_query_follows_the_setting(config: PlatformConfig) -> None:
    line = dict(_parse(render_ini(_with_pgbouncer(config, server_idle_session_timeout=900),
                                  DB_HOST, DB_PORT))["databases"])["vivr"]
    assert line.endswith("connect_query='SET idle_session_timeout TO 900000'")   # ms
    plain = dict(_parse(render_ini(_with_pgbouncer(config, server_idle_session_timeout=None),
                                   DB_HOST, DB_PORT))["databases"])["vivr"]
    assert "connect_query" not in plain


def test_a_config_without_a_heartbeat_alarm_is_rejected() -> None:
    data = _production_data()
    data["monitoring"]["alarms"] = [a for a in data["monitoring"]["alarms"]
                                    if a.get("metric_name") != "pgbouncer_up"]
    assert ("monitoring.alarms: no alarm on VIVR/PgBouncer pgbouncer_up (resource pgbouncer) "
            "with treat_missing_data breaching") in _rejection(data)
    data = _production_data()
    for alarm in data["monitoring"]["alarms"]:
        if alarm.get("metric_name") == "pgbouncer_up":
            alarm["treat_missing_data"] = "missing"
    assert "a failed PgBouncer boot would go unnoticed" in _rejection(data)
