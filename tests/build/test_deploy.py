"""`make deploy` from a clone, as a new user runs it, against moto's server standing in for AWS.

It builds, answers the guided questions (Enter to each, "y" where SAM asks whether a route
without an authorizer is fine), packages and uploads, and goes as far as moto allows: moto
cannot create the stack itself (no API Gateway v2, no Lambda-backed custom resources without
Docker), so the run ends at CloudFormation's change set. What got uploaded is checked. A second
`make deploy` changes parameters only; the packaged template, expanded with each deploy's values,
is then rolled out on moto's Lambda API (tests/build/lambda_rollout.py) and each function's
configuration read back as its alias serves it.

One step is done beforehand: moto gives a stack created through a change set no outputs, so
SAM's own bucket stack (aws-sam-cli-managed-default, which `sam deploy --guided` creates in a
new account) is created directly, with the tag and output SAM looks for.
"""

from __future__ import annotations

import io
import json
import os
import re
import select
import shutil
import subprocess
import time
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from deploy.configuration import PARAMETER
from local.template import Template
from tests.build.lambda_rollout import ROLE, Rollout
from tests.build.stack import Stack
from tests.conftest import ROOT, expand_stacks, free_port

# What `sam deploy --guided` may ask, and the answer a new user accepting the defaults gives.
NO_AUTHORIZER = "has no authentication. Is this okay? [y/N]: "
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": "/nonexistent",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
    "SAM_CLI_TELEMETRY": "0",
}


@dataclass
class Deployment:
    clone: Path
    output: str
    returncode: int
    s3: Any
    answered: list[str]


class CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation's short forms (!Ref, !If, ...) as plain {"Fn::...": ...} mappings."""


def _intrinsic(loader: CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


CfnLoader.add_multi_constructor("!", _intrinsic)


def clone_of_the_working_tree(destination: Path) -> Path:
    """The files a clone would have (tracked, plus new ones not ignored), with the SAM toolchain linked in."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            # copy2 keeps modification times, so make sees the linked toolchain as up to date.
            shutil.copy2(source, destination / name)
    (destination / ".venv-sam").symlink_to(ROOT / ".venv-sam")
    return destination


@pytest.fixture(scope="module")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("w")
    server = subprocess.Popen(
        [ROOT / ".venv" / "bin" / "moto_server", "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            boto3.client("s3", endpoint_url=url, **_credentials()).list_buckets()
            break
        except Exception:
            assert time.monotonic() < deadline, "moto_server did not start"
            time.sleep(0.2)
    boto3.client("cloudformation", endpoint_url=url, **_credentials()).create_stack(
        StackName="aws-sam-cli-managed-default",
        TemplateBody=json.dumps(
            {
                "Resources": {"SamCliSourceBucket": {"Type": "AWS::S3::Bucket"}},
                "Outputs": {"SourceBucket": {"Value": {"Ref": "SamCliSourceBucket"}}},
            }
        ),
        Tags=[{"Key": "ManagedStackSource", "Value": "AwsSamCli"}],
    )
    yield url
    server.terminate()
    server.wait(timeout=10)
    log.close()


def _credentials() -> dict[str, str]:
    return {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}


def run_answering(command: list[str], cwd: Path, env: dict[str, str], timeout: float) -> tuple[int, str, list[str]]:
    """Runs an interactive command, answering each prompt as a user accepting the defaults would."""
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert process.stdin is not None
    assert process.stdout is not None
    output = io.StringIO()
    pending = ""
    answered: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        assert time.monotonic() < deadline, f"no end after {timeout} s:\n{output.getvalue()[-3000:]}"
        ready, _, _ = select.select([process.stdout], [], [], 0.5)
        if ready:
            chunk = os.read(process.stdout.fileno(), 65536).decode(errors="replace")
            if not chunk:
                break
            output.write(chunk)
            pending += chunk
            line = pending.rsplit("\n", 1)[-1]
            if line.endswith(": "):
                answer = "y" if line.endswith(NO_AUTHORIZER) else ""
                answered.append(f"{line.strip()} {answer}")
                process.stdin.write(f"{answer}\n".encode())
                process.stdin.flush()
                pending = ""
        elif process.poll() is not None:
            break
    return process.wait(timeout=30), output.getvalue(), answered


@pytest.fixture(scope="module")
def deployment(moto_server: str, tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    clone = clone_of_the_working_tree(tmp_path_factory.mktemp("clone"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MAKE"))}
    env.update(FAKE_AWS, AWS_ENDPOINT_URL=moto_server, HOME=str(clone))
    returncode, output, answered = run_answering(["make", "deploy"], clone, env, timeout=900)
    return Deployment(
        clone, output, returncode, boto3.client("s3", endpoint_url=moto_server, **_credentials()), answered
    )


def uploaded(deployment: Deployment) -> dict[str, bytes]:
    (bucket,) = [b["Name"] for b in deployment.s3.list_buckets()["Buckets"] if "samclisourcebucket" in b["Name"]]
    objects = deployment.s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {o["Key"]: deployment.s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in objects}


def test_make_deploy_gets_through_build_package_and_upload_without_crashing(deployment: Deployment) -> None:
    assert "Traceback" not in deployment.output, deployment.output[-4000:]
    assert "AttributeError" not in deployment.output
    assert "Build Succeeded" in deployment.output
    assert "Uploading to" in deployment.output
    assert "Initiating deployment" in deployment.output
    # The end of the road offline: moto's CloudFormation cannot take the change set.
    assert "Failed to create changeset" in deployment.output
    assert deployment.returncode != 0


def test_the_guided_questions_take_every_default(deployment: Deployment, template: Template) -> None:
    asked = "\n".join(deployment.answered)
    assert "Stack Name [resilience-telemetry]:" in asked
    assert "Parameter DatabaseSecretArn []:" in asked
    assert "Parameter Stage [dev]:" in asked
    # SAM asks once per route of an API that declares no authorizer. The HttpApi declares UserJwt (the
    # users' route), so it asks nothing: the admin routes check their bearer token in code, ingest is public.
    assert template.authorizers
    assert sum(NO_AUTHORIZER.strip() in a for a in deployment.answered) == 0
    # The answers were saved for the next `sam deploy`, language extensions kept on.
    saved = tomllib.loads((deployment.clone / "samconfig.toml").read_text())["default"]
    assert saved["global"]["parameters"]["stack_name"] == "resilience-telemetry"
    assert 'Stage="dev"' in saved["deploy"]["parameters"]["parameter_overrides"]
    assert saved["deploy"]["parameters"]["language_extensions"] is True


def test_the_code_of_every_function_and_the_layer_is_uploaded(deployment: Deployment, template: Template) -> None:
    objects = uploaded(deployment)
    templates = [key for key in objects if key.endswith(".template")]
    assert templates, f"no packaged template among {sorted(objects)}"
    packaged = yaml.load(objects[templates[-1]], Loader=CfnLoader)  # noqa: S506 - a safe loader with tags
    resources = packaged["Resources"]
    # The template CloudFormation gets still loops with Fn::ForEach: its own transform expands it.
    assert any(key.startswith("Fn::ForEach::") for key in resources)
    code = {
        logical_id: resource["Properties"]["CodeUri"]
        for logical_id, resource in resources.items()
        if isinstance(resource, dict) and resource.get("Type") == "AWS::Serverless::Function"
    }
    assert set(code) == set(template.functions)
    for logical_id, uri in code.items():
        key = uri.split("/", 3)[3]
        with zipfile.ZipFile(io.BytesIO(objects[key])) as archive:
            assert "app.py" in archive.namelist(), logical_id
    layer_key = resources["CommonLayer"]["Properties"]["ContentUri"].split("/", 3)[3]
    with zipfile.ZipFile(io.BytesIO(objects[layer_key])) as layer:
        names = set(layer.namelist())
    assert "python/resilience/store/database.py" in names
    assert any(n.startswith("python/resilience/sql/") and n.endswith(".sql") for n in names)
    assert any(n.startswith("python/psycopg_binary/") and "aarch64" in n for n in names)


def test_prod_is_its_own_stack_with_its_own_stage() -> None:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    assert (
        config["prod"]["global"]["parameters"]["stack_name"] != config["default"]["global"]["parameters"]["stack_name"]
    )
    assert 'Stage="prod"' in config["prod"]["deploy"]["parameters"]["parameter_overrides"]
    for env in ("default", "prod"):
        for command in ("build", "package", "deploy"):
            assert config[env][command]["parameters"]["language_extensions"] is True, (env, command)


def test_make_leaves_the_region_to_the_users_profile_outside_the_offline_targets() -> None:
    # `sam deploy --guided` offers the profile's region unless the environment names one.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MAKE"))}
    show = 'show-region: ; @printf "[%s]" "$$AWS_DEFAULT_REGION"'
    seen = subprocess.run(
        ["make", "-s", "--eval", show, "show-region"], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert seen.stdout == "[]"


# The second deploy of the rehearsal changes parameters only: the ingest keys rotated, and the log
# level, which the functions read through Globals.
ROTATED = {"IngestKeys": "pk_rotated", "PowertoolsLogLevel": "DEBUG"}
GUIDED_PARAMETER = re.compile(r"^Parameter (\w+) \[(.*)\]:")


@pytest.fixture(scope="module")
def second_deployment(deployment: Deployment, moto_server: str) -> Deployment:
    """`make deploy` again in the same clone, changing only parameters (PARAMS), every question answered Enter."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MAKE"))}
    env.update(FAKE_AWS, AWS_ENDPOINT_URL=moto_server, HOME=str(deployment.clone))
    params = " ".join(f'{name}="{value}"' for name, value in ROTATED.items())
    returncode, output, answered = run_answering(
        ["make", "deploy", f"PARAMS={params}"], deployment.clone, env, timeout=900
    )
    return Deployment(deployment.clone, output, returncode, deployment.s3, answered)


def parameters_given(deployment: Deployment) -> dict[str, str]:
    """The parameter values the guided deploy went on with: each question's default, as Enter keeps it."""
    return {m.group(1): m.group(2) for a in deployment.answered if (m := GUIDED_PARAMETER.match(a))}


def packaged_template(deployment: Deployment) -> str:
    (bucket,) = [b["Name"] for b in deployment.s3.list_buckets()["Buckets"] if "samclisourcebucket" in b["Name"]]
    listed = deployment.s3.list_objects_v2(Bucket=bucket)["Contents"]
    newest = max((o for o in listed if o["Key"].endswith(".template")), key=lambda o: o["LastModified"])
    body: bytes = deployment.s3.get_object(Bucket=bucket, Key=newest["Key"])["Body"].read()
    return body.decode()


def test_a_parameter_only_deploy_passes_a_new_configuration_hash(
    deployment: Deployment, second_deployment: Deployment
) -> None:
    assert "Traceback" not in second_deployment.output, second_deployment.output[-4000:]
    first, second = parameters_given(deployment), parameters_given(second_deployment)
    assert second["IngestKeys"] == ROTATED["IngestKeys"] != first["IngestKeys"]
    assert {k: v for k, v in second.items() if k not in {*ROTATED, PARAMETER}} == {
        k: v for k, v in first.items() if k not in {*ROTATED, PARAMETER}
    }
    assert re.fullmatch("[0-9a-f]{64}", first[PARAMETER])
    assert re.fullmatch("[0-9a-f]{64}", second[PARAMETER])
    assert first[PARAMETER] != second[PARAMETER]


def rolled_out(moto_server: str, stacks: list[Stack], stack_name: str) -> Rollout:
    client = boto3.client("lambda", endpoint_url=moto_server, **_credentials())
    rollout = Rollout(client, stack_name)
    for stack in stacks:
        rollout.deploy(stack)
    return rollout


def test_after_a_parameter_only_deploy_each_function_serves_the_new_configuration(
    deployment: Deployment, second_deployment: Deployment, moto_server: str
) -> None:
    boto3.client("iam", endpoint_url=moto_server, **_credentials()).create_role(
        RoleName=ROLE.rsplit("/", 1)[1],
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )
    given = {"first": parameters_given(deployment), "second": parameters_given(second_deployment)}
    # Without the hash (what `sam deploy` alone gives CloudFormation), the log level changed alone.
    unhashed = {k: v for k, v in given["first"].items() if k != PARAMETER}
    given |= {"first, no hash": unhashed, "log level, no hash": {**unhashed, "PowertoolsLogLevel": "DEBUG"}}
    stacks = expand_stacks(given, packaged=packaged_template(second_deployment))
    rollout = rolled_out(moto_server, [stacks["first"], stacks["second"]], "rehearsal")
    for function_id in stacks["second"].functions:
        aliases = stacks["second"].of_type("AWS::Lambda::Alias").values()
        alias = next(
            (a["Properties"]["Name"] for a in aliases if a["Properties"]["FunctionName"] == {"Ref": function_id}), None
        )
        served = rollout.served(function_id, alias)
        wanted = rollout.settings(stacks["second"], function_id)
        assert served["Environment"] == wanted["Environment"], function_id
        assert served["Description"] == wanted["Description"], function_id
    live = rollout.served("IngestFunction", "live")["Environment"]["Variables"]
    assert (live["INGEST_KEYS"], live["POWERTOOLS_LOG_LEVEL"]) == ("pk_rotated", "DEBUG")
    # Without the hash SAM sees the Globals' text unchanged: the version stays, and with it the old level.
    without = rolled_out(moto_server, [stacks["first, no hash"], stacks["log level, no hash"]], "unhashed")
    assert without.served("IngestFunction", None)["Environment"]["Variables"]["POWERTOOLS_LOG_LEVEL"] == "DEBUG"
    assert without.served("IngestFunction", "live")["Environment"]["Variables"]["POWERTOOLS_LOG_LEVEL"] == "INFO"
