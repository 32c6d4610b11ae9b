"""Sandbox fix for Lambda: Python functions run from their zip, against the sandbox.

Registered by :func:`vivr_sandbox.fixes.apply_moto_fixes` (see that module
for the rules).  Each fix's docstring says what moto 5.2.5 does, what AWS
does and why the tool needs it; its first paragraph is the line
``apply_moto_fixes`` returns.  moto is imported inside the fixes.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from typing import Any

from vivr_sandbox.fixes.patching import wrap

#: Where the function's AWS calls go: the sandbox's own URL, set by the server
#: (:meth:`vivr_sandbox.server.SandboxServer.__init__`) once it is bound.
_endpoint: list[str] = []

#: Runs in the child: reads the event on stdin, calls ``<module>.<function>`` with a
#: context that knows the time left, writes
#: the result (or Lambda's error document) as the last line of stdout.  Logs go to
#: stderr, as the function's log lines.
BOOTSTRAP = """
import importlib, json, logging, os, sys, time, traceback
logging.basicConfig(level=logging.INFO, stream=sys.stderr)
module, function = sys.argv[1], sys.argv[2]
event = json.loads(sys.stdin.read() or "{}")
deadline = time.monotonic() + float(os.environ["AWS_LAMBDA_FUNCTION_TIMEOUT"])

class Context:  # the part of Lambda's context object handlers use
    function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]

    def get_remaining_time_in_millis(self):
        return max(0, int((deadline - time.monotonic()) * 1000))

try:
    result = getattr(importlib.import_module(module), function)(event, Context())
except Exception as error:
    traceback.print_exc()
    print(json.dumps({"errorMessage": str(error), "errorType": type(error).__name__}))
    sys.exit(1)
print(json.dumps(result))
"""


def serve_functions_at(url: str) -> None:
    """Tell the fix the sandbox's URL (the endpoint a running function calls)."""
    _endpoint[:] = [url]


def run_python_function(function: Any, event: Any) -> tuple[str, bool, str]:
    """Run ``function``'s handler from its zip in a child Python; moto's
    ``(payload, errored, logs)``.

    The child gets the function's environment variables, the account's
    sandbox credentials (an access key ending in the account id, as the
    sandbox routes them), the endpoint and the region, and nothing of this
    process's environment but ``PATH``: only the zip's own modules and the
    Python the sandbox runs with (boto3 included, as in Lambda's runtimes).
    """
    module, _, name = str(function.handler).rpartition(".")
    with tempfile.TemporaryDirectory(prefix="vivr-lambda-") as workdir:
        with zipfile.ZipFile(io.BytesIO(function.code_bytes)) as archive:
            archive.extractall(workdir)
        env = {"PATH": os.environ.get("PATH", ""), **dict(function.environment_vars or {}),
               "PYTHONPATH": workdir, "AWS_ACCESS_KEY_ID": f"sandbox{function.account_id}",
               "AWS_SECRET_ACCESS_KEY": "sandbox", "AWS_ENDPOINT_URL": _endpoint[0],
               "AWS_REGION": function.region, "AWS_DEFAULT_REGION": function.region,
               "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
               "AWS_LAMBDA_FUNCTION_NAME": function.function_name,
               "AWS_LAMBDA_FUNCTION_TIMEOUT": str(function.timeout)}
        try:
            done = subprocess.run([sys.executable, "-c", BOOTSTRAP, module, name],
                                  input=json.dumps(event), env=env, cwd=workdir,
                                  capture_output=True, text=True, check=False,
                                  timeout=float(function.timeout))
        except subprocess.TimeoutExpired:
            message = f"Task timed out after {function.timeout} seconds"
            return json.dumps({"errorMessage": message, "errorType": "Timeout"}), True, message
    lines = done.stdout.splitlines()
    payload = lines[-1] if lines else "null"
    return payload, done.returncode != 0, done.stderr


def _fix_python_functions_run_without_docker() -> None:
    """Lambda: a zip-packaged Python function's handler runs in a child process
    against the sandbox, not in Docker.

    moto 5.2.5 runs every invocation in a Docker container (the lambci
    images); without Docker (this machine, CI) the invocation fails with
    "error running docker", so nothing that invokes a function (Secrets
    Manager rotation, ``Invoke``) can be tried locally.  AWS runs the
    handler with the function's environment and role.  The fix extracts
    the zip and runs ``handler(event, None)`` in a child Python with the
    function's environment, the account's sandbox credentials and the
    sandbox as endpoint (:func:`run_python_function`); the function's
    output goes to its log group as moto does.  The role is not assumed:
    the sandbox evaluates no IAM policy.  A function invoked synchronously
    (``Invoke``) must not call the same account back, since the sandbox
    serves one account's requests one at a time; services that invoke
    after answering (Secrets Manager rotation) may.  Other runtimes and
    image functions keep moto's behaviour.
    """
    from moto.awslambda.models import LambdaFunction

    @wrap(LambdaFunction, "_invoke_lambda")
    def invoke(original: Any, self: Any, event: Any = None) -> tuple[str, bool, str]:
        if not (str(self.run_time or "").startswith("python") and self.code_bytes
                and _endpoint):
            return original(self, event)  # type: ignore[no-any-return]
        payload, errored, logs = run_python_function(self, event or {})
        self.logs_backend.ensure_log_group(self.logs_group_name)  # Lambda makes it if missing
        self.save_logs(logs + payload)
        return payload, errored, logs


#: The fixes of this module, in application order (``apply_moto_fixes`` runs them).
FIXES: list[Callable[[], None]] = [_fix_python_functions_run_without_docker]
