"""PgBouncer on EC2: pgbouncer.ini and the first-boot script, as pure functions.

Why these are separate from the step and free of AWS calls:

* The rendered user data *is* the instance's configuration.  It is
  deterministic (no timestamps, no random values, stable key order), so the
  step can tell "config changed" from "nothing changed" by comparing the
  instance's UserData attribute with a fresh render, and replace the
  instance only when a setting really moved.
* User data is readable by anyone allowed ``ec2:DescribeInstanceAttribute``,
  so it must never carry a credential.  The script fetches the database
  credentials at boot with the instance role and writes them to a 0600 file
  owned by ``pgbouncer``; the user data only names the secret's ARN.
* Every file is written from a heredoc with a *quoted* delimiter, so the
  shell expands nothing inside it: what is rendered here is byte for byte
  what lands on disk.
"""

from __future__ import annotations

import configparser
import re
import shlex
from collections.abc import Mapping

from vivr_provision.config import PlatformConfig

#: Where the files live on the instance (paths of the distribution's package).
CONFIG_DIR = "/etc/pgbouncer"
INI_PATH = f"{CONFIG_DIR}/pgbouncer.ini"
AUTH_FILE = f"{CONFIG_DIR}/userlist.txt"
TLS_DIR = f"{CONFIG_DIR}/tls"
CLIENT_TLS_KEY = f"{TLS_DIR}/client.key"
CLIENT_TLS_CERT = f"{TLS_DIR}/client.crt"
SERVER_TLS_CA = f"{CONFIG_DIR}/rds-ca-bundle.pem"
RUN_DIR = "/run/pgbouncer"
LOG_FILE = "/var/log/pgbouncer/pgbouncer.log"
PID_FILE = f"{RUN_DIR}/pgbouncer.pid"
#: CloudWatch namespace of the pooler's metrics; the alarms read it.
METRICS_NAMESPACE = "VIVR/PgBouncer"
#: Dimension naming the pooler (its service name) on every metric it publishes:
#: staging and production share an account and region, so a metric without
#: it would mix both environments' values in one series.
METRICS_DIMENSION = "Service"
#: Published (value 1) each minute only when PgBouncer answers its admin console;
#: its absence is what the heartbeat alarm (missing data = breaching) fires on.
HEARTBEAT_METRIC = "pgbouncer_up"
#: ``pgbouncer.install_from`` -> (the AL2023 package that enables the repository,
#: the repository id its .repo file defines).  SPAL: AL2023 user guide
#: "Supplementary Packages for Amazon Linux"; pgbouncer listed since 2025-11
#: (amazonlinux/amazon-linux-2023 issue 119).
REPOSITORIES = {"spal": ("spal-release", "amazonlinux-spal")}
#: Seconds between two metric samples (the alarms use 60 s periods).
METRICS_INTERVAL_S = 60
#: EC2 refuses user data above 16 KiB (before base64).
USER_DATA_LIMIT = 16 * 1024
#: The heredoc delimiter around pgbouncer.ini (quoted, so nothing expands).
INI_DELIMITER = "VIVR_PGBOUNCER_INI"
_VERIFYING_MODES = ("verify-ca", "verify-full")


def connect_query(config: PlatformConfig) -> str | None:
    """SQL each new server connection runs first, or None.

    ``SET idle_session_timeout`` (a user-settable parameter, unit ms) lifts
    RDS's idle limit for PgBouncer's own connections only; PgBouncer's
    ``server_idle_timeout`` and ``server_lifetime`` govern them instead
    (see ``pgbouncer_timeout_problems`` in the config model).
    """
    seconds = config.pgbouncer.server_idle_session_timeout
    if seconds is None:
        return None
    return f"SET idle_session_timeout TO {seconds * 1000}"


def _database_line(config: PlatformConfig, db_host: str, db_port: int) -> str:
    db_name = config.rds.db_name
    line = f"{db_name} = host={db_host} port={db_port} dbname={db_name}"
    query = connect_query(config)
    if query is not None:
        # A connstring value in single quotes (a quote inside would be doubled).
        line += " connect_query='" + query.replace("'", "''") + "'"
    return line


def ini_values(config: PlatformConfig) -> dict[str, str]:
    """Every ``[pgbouncer]`` setting, in file order: the config's, then the fixed ones.

    The fixed ones (paths, listen address) are not config because they follow
    from the distribution's package and the script below; keeping them here
    means the ini and the script can never disagree about a path.
    """
    pgb = config.pgbouncer
    values = dict(pgb.ini_settings())
    values.update({
        "listen_addr": "0.0.0.0",
        "unix_socket_dir": RUN_DIR,
        "auth_file": AUTH_FILE,
        "logfile": LOG_FILE,
        "pidfile": PID_FILE,
        # The admin console, for the metrics sampler: user pgbouncer over the
        # Unix socket from the same OS user needs no password.
        "admin_users": "pgbouncer",
        "stats_users": "pgbouncer",
    })
    if pgb.client_tls_sslmode != "disable":
        values["client_tls_key_file"] = CLIENT_TLS_KEY
        values["client_tls_cert_file"] = CLIENT_TLS_CERT
    if pgb.server_tls_sslmode in _VERIFYING_MODES:
        values["server_tls_ca_file"] = SERVER_TLS_CA
    return values


def render_ini(config: PlatformConfig, db_host: str, db_port: int) -> str:
    """pgbouncer.ini pointing the configured database at the RDS primary."""
    lines = [
        f"; {config.pgbouncer.service_name}: rendered by vivr-provision, do not edit by hand",
        "[databases]",
        _database_line(config, db_host, db_port),
        "",
        "[pgbouncer]",
        *(f"{key} = {value}" for key, value in ini_values(config).items()),
    ]
    return "\n".join(lines) + "\n"


def parse_ini(text: str) -> dict[str, dict[str, str]]:
    """pgbouncer.ini as ``{section: {key: value}}`` (how tests and diffs read it back)."""
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.read_string(text)
    return {section: dict(parser.items(section)) for section in parser.sections()}


def ini_from_user_data(script: str) -> str | None:
    """The pgbouncer.ini embedded in a rendered user-data script, or None if absent."""
    match = re.search(
        rf"<<'{INI_DELIMITER}'\n(.*?\n){INI_DELIMITER}\n", script, flags=re.DOTALL
    )
    return match.group(1) if match else None


def _heredoc(path: str, body: str, delimiter: str, *, owner: str, mode: str) -> str:
    """Shell that writes ``body`` to ``path`` verbatim (quoted delimiter: no expansion)."""
    if not body.endswith("\n"):
        body += "\n"
    if f"\n{delimiter}\n" in f"\n{body}":
        raise ValueError(f"{path}: content contains its heredoc delimiter {delimiter}")
    return (
        f"cat > {path} <<'{delimiter}'\n{body}{delimiter}\n"
        f"chown {owner} {path}\nchmod {mode} {path}\n"
    )


# A tiny program run by python3 (part of Amazon Linux 2023) that turns the
# secret's JSON into one userlist.txt line; pgbouncer escapes " by doubling it.
_USERLIST_PY = (
    "import json, sys; s = json.load(sys.stdin); "
    "q = lambda v: chr(34) + str(v).replace(chr(34), 2 * chr(34)) + chr(34); "
    'print(q(s["username"]), q(s["password"]))'
)


def _credentials(secret_arn: str, region: str) -> str:
    """Fetch the credentials with the instance role, retrying while IAM propagates.

    Nothing is echoed (no ``set -x``), the value only travels through a pipe
    into a 0600 temporary file that is renamed into place.
    """
    fetch = (
        f"aws secretsmanager get-secret-value --region {shlex.quote(region)} "
        f"--secret-id {shlex.quote(secret_arn)} --query SecretString --output text"
    )
    return f"""\
# Database credentials: read at boot with the instance role, never in user data.
fetch_userlist() {{
  {fetch} \\
    | python3 -c {shlex.quote(_USERLIST_PY)} > {AUTH_FILE}.new
}}
umask 077
for attempt in $(seq 1 30); do
  if fetch_userlist; then break; fi
  if [ "$attempt" -eq 30 ]; then echo "cannot read the database secret" >&2; exit 1; fi
  sleep 10
done
chown pgbouncer:pgbouncer {AUTH_FILE}.new
chmod 0600 {AUTH_FILE}.new
mv -f {AUTH_FILE}.new {AUTH_FILE}
umask 022
"""


def _client_tls(config: PlatformConfig) -> str:
    """A self-signed certificate made on the instance: the private key never leaves it."""
    if config.pgbouncer.client_tls_sslmode == "disable":
        return ""
    subject = shlex.quote(f"/CN={config.pgbouncer.service_name}")
    return f"""\
# Client TLS: self-signed, generated here so no key travels in user data.
install -d -m 0750 -o root -g pgbouncer {TLS_DIR}
if [ ! -s {CLIENT_TLS_KEY} ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj {subject} \\
    -keyout {CLIENT_TLS_KEY} -out {CLIENT_TLS_CERT}
fi
chown pgbouncer:pgbouncer {CLIENT_TLS_KEY} {CLIENT_TLS_CERT}
chmod 0600 {CLIENT_TLS_KEY}
chmod 0644 {CLIENT_TLS_CERT}
"""


def _server_ca(config: PlatformConfig, region: str) -> str:
    """The RDS CA bundle, only when the server TLS mode verifies certificates."""
    if config.pgbouncer.server_tls_sslmode not in _VERIFYING_MODES:
        return ""
    url = f"https://truststore.pki.rds.amazonaws.com/{region}/{region}-bundle.pem"
    return f"curl -fsSL --retry 5 -o {SERVER_TLS_CA} {shlex.quote(url)}\n" \
           f"chmod 0644 {SERVER_TLS_CA}\n"


def _admin_psql(config: PlatformConfig) -> str:
    """psql on PgBouncer's admin console over its Unix socket.

    PgBouncer lets user ``pgbouncer`` in without a password only over the
    socket and from the OS user it runs as, so callers run as ``pgbouncer``.
    """
    return (f"psql -X -h {RUN_DIR} -p {config.pgbouncer.listen_port} -U pgbouncer "
            "-d pgbouncer")


def _metric_json(name: str, value: str, dimensions: str) -> str:
    """One MetricDatum of ``put-metric-data --metric-data``: JSON in single quotes,
    with ``value`` and ``dimensions`` (shell expansions) spliced in double quotes."""
    quote = "'"
    return (quote + '{"MetricName":"' + name + '","Value":' + quote + f'"{value}"' + quote
            + ',"Unit":"Count","Dimensions":' + quote + f'"{dimensions}"' + quote + "}" + quote)


def _sampler_script(config: PlatformConfig, region: str) -> str:
    """Every minute: the heartbeat, and (with ``cloudwatch_metrics``) queue depth and errors.

    The heartbeat is published only after ``SHOW POOLS`` answered (``set -e``
    stops the script at a failed psql), so a pooler that never started, died
    or hangs publishes nothing and the heartbeat alarm, which treats missing
    data as breaching, fires.  ``cl_waiting`` is summed over all pools
    (column found by name, so a pgbouncer upgrade that adds columns does not
    break it); ``connection_errors`` counts the "pooler error" lines logged
    since the previous sample.  Every metric carries the pooler's service
    name as its only dimension.
    """
    pgb = config.pgbouncer
    dims = f'[{{"Name":"{METRICS_DIMENSION}","Value":"{pgb.service_name}"}}]'
    script = f"""\
#!/bin/bash
set -euo pipefail
pools=$({_admin_psql(config)} -A -F '|' -P footer=off -c 'SHOW POOLS')
dims={shlex.quote(dims)}
metrics={_metric_json(HEARTBEAT_METRIC, "1", "$dims")}
"""
    if pgb.cloudwatch_metrics:
        script += f"""\
waiting=$(printf '%s\\n' "$pools" | awk -F'|' '
    NR == 1 {{ for (i = 1; i <= NF; i++) if ($i == "cl_waiting") c = i; next }}
    c && $c ~ /^[0-9]+$/ {{ s += $c }}
    END {{ print s + 0 }}')
mark="${{STATE_DIRECTORY:-/var/lib/pgbouncer-metrics}}/offset"
size=$(stat -c %s {LOG_FILE} 2>/dev/null || echo 0)
last=$(cat "$mark" 2>/dev/null || echo 0)
if [ "$size" -lt "$last" ]; then last=0; fi
errors=$(tail -c +$((last + 1)) {LOG_FILE} 2>/dev/null | grep -c 'pooler error' || true)
echo "$size" > "$mark"
metrics="$metrics",{_metric_json("cl_waiting", "${waiting:-0}", "$dims")}
metrics="$metrics",{_metric_json("connection_errors", "${errors:-0}", "$dims")}
"""
    script += f"""\
aws cloudwatch put-metric-data --region {shlex.quote(region)} --namespace {METRICS_NAMESPACE} \\
  --metric-data "[$metrics]"
"""
    return script


def _cloudwatch_agent_config(config: PlatformConfig) -> str:
    """Host metrics of the pooler instance in the same namespace (memory, disk, process)."""
    interval = METRICS_INTERVAL_S
    return (
        '{"agent": {"metrics_collection_interval": ' + str(interval) + ', "run_as_user": "root"},\n'
        ' "metrics": {"namespace": "' + METRICS_NAMESPACE + '",\n'
        '  "metrics_collected": {\n'
        '   "mem": {"measurement": ["mem_used_percent"]},\n'
        '   "disk": {"measurement": ["used_percent"], "resources": ["/"]},\n'
        '   "procstat": [{"exe": "pgbouncer", "measurement": ["cpu_usage", "memory_rss"]}]}}}\n'
    )


def _cloudwatch_agent(config: PlatformConfig) -> str:
    if not config.pgbouncer.cloudwatch_metrics:
        return ""
    agent_json = "/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json"
    return (
        f"# Host metrics: namespace {METRICS_NAMESPACE} (memory, disk, the pgbouncer process).\n"
        + _heredoc(agent_json, _cloudwatch_agent_config(config), "VIVR_CW_AGENT",
                   owner="root:root", mode="0644")
        + "/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl -a fetch-config "
        f"-m ec2 -s -c file:{agent_json}\n"
    )


def _sampler(config: PlatformConfig, region: str) -> str:
    """The heartbeat (always) and pool metrics sampler as a systemd timer, every minute."""
    unit = (
        "[Unit]\nDescription=Publish the PgBouncer heartbeat and metrics to CloudWatch\n"
        "After=pgbouncer.service\n\n"
        "[Service]\nType=oneshot\nUser=pgbouncer\nStateDirectory=pgbouncer-metrics\n"
        "ExecStart=/usr/local/bin/pgbouncer-metrics\n"
    )
    timer = (
        "[Unit]\nDescription=Sample PgBouncer every minute\n\n"
        f"[Timer]\nOnBootSec={METRICS_INTERVAL_S}\nOnUnitActiveSec={METRICS_INTERVAL_S}\n\n"
        "[Install]\nWantedBy=timers.target\n"
    )
    return (
        f"# Heartbeat {METRICS_NAMESPACE}/{HEARTBEAT_METRIC}: published only while PgBouncer "
        "answers.\n"
        + _heredoc("/usr/local/bin/pgbouncer-metrics", _sampler_script(config, region),
                   "VIVR_METRICS_SH", owner="root:root", mode="0755")
        + _heredoc("/etc/systemd/system/pgbouncer-metrics.service", unit, "VIVR_METRICS_UNIT",
                   owner="root:root", mode="0644")
        + _heredoc("/etc/systemd/system/pgbouncer-metrics.timer", timer, "VIVR_METRICS_TIMER",
                   owner="root:root", mode="0644")
        + "systemctl daemon-reload\nsystemctl enable --now pgbouncer-metrics.timer\n"
    )


def packages(config: PlatformConfig) -> list[str]:
    """What ``dnf`` installs after enabling SPAL, all from the AMI's release of AL2023.

    ``pgbouncer`` comes from SPAL, the rest from AL2023's core repositories:
    ``awscli-2`` (the secret, the metrics; on the standard AMI already),
    ``openssl`` (the self-signed client certificate), ``postgresql<major>``
    (``psql`` for the admin console: readiness and heartbeat) and, with
    metrics, ``amazon-cloudwatch-agent``.  python3 (the secret's JSON) is
    part of every AL2023 image because dnf needs it; jq is not used.
    """
    major = config.rds.engine_version.split(".", maxsplit=1)[0]
    names = ["pgbouncer", "openssl", "awscli-2", f"postgresql{major}"]
    if config.pgbouncer.cloudwatch_metrics:
        names.append("amazon-cloudwatch-agent")
    return names


def _install(config: PlatformConfig) -> str:
    """Enable SPAL and install, refusing unsigned packages.

    AL2023 locks dnf to the AMI's release version (deterministic upgrades),
    so one AMI always installs the same builds; the image is resolved once
    at create and recorded on the instance.  ``spal-release`` is an AL2023
    core package signed by Amazon and drops the SPAL repository file; the
    ``gpgcheck`` override makes dnf verify every SPAL package's signature
    even if that file ever said otherwise.
    """
    release, repo_id = REPOSITORIES[config.pgbouncer.install_from]
    return (
        "# PgBouncer is not in AL2023's core repositories; it is in Amazon's SPAL repository.\n"
        f"dnf install -y {release}\n"
        f"dnf install -y --setopt={repo_id}.gpgcheck=1 {' '.join(packages(config))}\n"
        "rpm -q pgbouncer\n"
    )


def _readiness(config: PlatformConfig) -> str:
    """Wait until PgBouncer answers; otherwise fail the boot loudly (console log, no heartbeat)."""
    return f"""\
# The boot is done only when PgBouncer answers its admin console.
for attempt in $(seq 1 30); do
  if runuser -u pgbouncer -- {_admin_psql(config)} -c 'SHOW VERSION' >/dev/null; then break; fi
  if [ "$attempt" -eq 30 ]; then
    echo "pgbouncer does not answer on {RUN_DIR}" >&2
    systemctl status pgbouncer --no-pager >&2 || true
    exit 1
  fi
  sleep 2
done
"""


def render_user_data(config: PlatformConfig, db_host: str, db_port: int,
                     secret_arn: str, region: str) -> str:
    """The cloud-init shell script that turns a fresh Amazon Linux 2023 into the pooler.

    Deterministic for a given input, so comparing it with the instance's
    UserData detects any config change; contains the secret's ARN, never
    its value.
    """
    pgb = config.pgbouncer
    ini = render_ini(config, db_host, db_port)
    # File descriptors: every client and server connection is one, plus headroom.
    nofile = max(65536, 2 * (pgb.max_client_conn + pgb.max_db_connections))
    limits = f"[Service]\nLimitNOFILE={nofile}\n"
    tmpfiles = f"d {RUN_DIR} 0755 pgbouncer pgbouncer -\n"
    script = (
        "#!/bin/bash\n"
        f"# {pgb.service_name}: PgBouncer {pgb.pool_mode} pooler in front of "
        f"{config.rds.identifier}, rendered by vivr-provision.\n"
        "# Contains no credential: the database password is read at boot from\n"
        f"# {secret_arn} with the instance role.\n"
        "set -euo pipefail\n"
        "# A failed command stops the boot; say which one on the console (get-console-output).\n"
        "trap 'echo \"vivr-provision: pgbouncer boot failed at line $LINENO\" >&2' ERR\n\n"
        + _install(config)
        + f"install -d -m 0750 -o root -g pgbouncer {CONFIG_DIR}\n"
        + "install -d -m 0750 -o pgbouncer -g pgbouncer /var/log/pgbouncer\n"
        + _heredoc("/etc/tmpfiles.d/pgbouncer-vivr.conf", tmpfiles, "VIVR_TMPFILES",
                   owner="root:root", mode="0644")
        + "systemd-tmpfiles --create /etc/tmpfiles.d/pgbouncer-vivr.conf\n"
        + "install -d -m 0755 /etc/systemd/system/pgbouncer.service.d\n"
        + _heredoc("/etc/systemd/system/pgbouncer.service.d/vivr.conf", limits,
                   "VIVR_UNIT_LIMITS", owner="root:root", mode="0644")
        + "\n"
        + _heredoc(INI_PATH, ini, INI_DELIMITER, owner="root:pgbouncer", mode="0640")
        + "\n"
        + _credentials(secret_arn, region)
        + "\n"
        + _client_tls(config)
        + _server_ca(config, region)
        + "\nsystemctl daemon-reload\n"
        + "systemctl enable --now pgbouncer\n"
        + _readiness(config)
        + "\n"
        + _sampler(config, region)
        + _cloudwatch_agent(config)
    )
    size = len(script.encode())
    if size > USER_DATA_LIMIT:
        raise ValueError(f"pgbouncer user data is {size} bytes; EC2 accepts {USER_DATA_LIMIT}")
    return script


def changed_ini_keys(current: Mapping[str, Mapping[str, str]],
                     desired: Mapping[str, Mapping[str, str]]) -> tuple[dict[str, str | None],
                                                                       dict[str, str | None]]:
    """The ini settings that differ, as ``({section.key: old}, {section.key: new})``.

    What ``plan`` shows for a user-data change, instead of two opaque scripts.
    """
    old: dict[str, str | None] = {}
    new: dict[str, str | None] = {}
    for section in sorted(set(current) | set(desired)):
        have, want = current.get(section, {}), desired.get(section, {})
        for key in sorted(set(have) | set(want)):
            if have.get(key) != want.get(key):
                old[f"{section}.{key}"] = have.get(key)
                new[f"{section}.{key}"] = want.get(key)
    return old, new
