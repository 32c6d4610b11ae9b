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

import pytest

from vivr_provision.config import PlatformConfig, load_config
from vivr_provision.config.data import GeneratedSecretConfig
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
    assert dict(parser["databases"]) == {
        "vivr": f"host={DB_HOST} port={DB_PORT} dbname=vivr"
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
    assert "MetricName=cl_waiting" in with_metrics
    assert "MetricName=connection_errors" in with_metrics
    without = _user_data(_with_pgbouncer(config, cloudwatch_metrics=False))
    assert "amazon-cloudwatch-agent" not in without
    assert "put-metric-data" not in without
    assert "pgbouncer-metrics" not in without


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
