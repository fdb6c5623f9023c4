"""template.yaml as the local runner reads it: functions, routes, schedules, subscriptions, parameters."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from cfnlint.decode import decode

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
# Local state (embedded Postgres data, the generated admin token); LOCAL_DIR moves it elsewhere.
LOCAL_DIR = Path(os.environ.get("LOCAL_DIR") or ROOT / ".local")


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    function: str
    # The name of the HttpApi's authorizer that guards it, if one does.
    authorizer: str | None = None

    @property
    def pattern(self) -> re.Pattern[str]:
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.path))
        return re.compile(f"^{regex}$")


@dataclass(frozen=True)
class Schedule:
    function: str
    name: str
    expression: str
    input: str | None = None


@dataclass(frozen=True)
class QueueSource:
    """An SQS event source of a function: its queue's logical id and the mapping's settings (parameters unresolved)."""

    function: str
    queue: str
    batch_size: int
    window_seconds: int
    maximum_concurrency: Any


@dataclass
class Function:
    logical_id: str
    code_uri: Path
    handler: str
    environment: dict[str, Any] = field(default_factory=dict)
    routes: list[Route] = field(default_factory=list)
    schedules: list[Schedule] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)
    queues: list[QueueSource] = field(default_factory=list)


@dataclass(frozen=True)
class Authorizer:
    """A JWT authorizer of the HttpApi: its token's header, and the parameters of its issuer and audience."""

    name: str
    header: str
    issuer_parameter: str | None
    audience_parameter: str | None


@dataclass
class Template:
    parameters: dict[str, dict[str, Any]]
    functions: dict[str, Function]
    resources: dict[str, Any]
    authorizers: dict[str, Authorizer] = field(default_factory=dict)

    @property
    def routes(self) -> list[Route]:
        return [route for fn in self.functions.values() for route in fn.routes]

    @property
    def schedules(self) -> list[Schedule]:
        return [s for fn in self.functions.values() for s in fn.schedules]


def env_name(parameter: str) -> str:
    """RetentionDays -> RETENTION_DAYS: the variable a parameter is passed to the functions as."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", parameter).upper()


def resolve(value: Any, parameters: dict[str, str]) -> Any:
    """Resolves a !Ref to a parameter; other intrinsics have no local meaning and resolve to None."""
    if isinstance(value, dict) and list(value) == ["Ref"]:
        return parameters.get(value["Ref"])
    if isinstance(value, dict):
        return None
    return value


def parameter_values(template: Template, environ: dict[str, str]) -> dict[str, str]:
    """Each parameter's value locally: its UPPER_SNAKE_CASE variable if set, else its default."""
    values = {}
    for name, spec in template.parameters.items():
        given = environ.get(env_name(name))
        if given is not None:
            values[name] = given
        elif "Default" in spec:
            values[name] = str(spec["Default"])
    return values


def _parameter_in(value: Any, parameters: dict[str, Any]) -> str | None:
    """The first template parameter a value refers to (inside Fn::If and the like), if any."""
    if isinstance(value, dict):
        if list(value) == ["Ref"] and value["Ref"] in parameters:
            return str(value["Ref"])
        value = list(value.values())
    if isinstance(value, list):
        for item in value:
            found = _parameter_in(item, parameters)
            if found:
                return found
    return None


def _authorizers(document: dict[str, Any]) -> dict[str, Authorizer]:
    """The JWT authorizers of the template's HTTP APIs, by name."""
    parameters = document.get("Parameters", {})
    found = {}
    for resource in document["Resources"].values():
        if not isinstance(resource, dict) or resource.get("Type") != "AWS::Serverless::HttpApi":
            continue
        for name, spec in resource.get("Properties", {}).get("Auth", {}).get("Authorizers", {}).items():
            configuration = spec.get("JwtConfiguration")
            if configuration is None:
                continue
            source = str(spec.get("IdentitySource", "$request.header.Authorization"))
            found[name] = Authorizer(
                name,
                source.removeprefix("$request.header.").lower(),
                _parameter_in(configuration.get("issuer"), parameters),
                _parameter_in(configuration.get("audience"), parameters),
            )
    return found


@cache
def load(path: Path = TEMPLATE) -> Template:
    document, problems = decode(str(path))
    if problems or document is None:
        raise ValueError(f"cannot read {path}: {problems}")
    defaults = document.get("Globals", {}).get("Function", {})
    functions: dict[str, Function] = {}
    for logical_id, resource in document["Resources"].items():
        # Fn::ForEach entries (lists) expand only in CloudFormation; none of them is a function.
        if not isinstance(resource, dict) or resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        environment = dict(defaults.get("Environment", {}).get("Variables", {}))
        environment.update(props.get("Environment", {}).get("Variables", {}))
        fn = Function(
            logical_id=logical_id,
            code_uri=ROOT / props["CodeUri"],
            handler=props.get("Handler", defaults.get("Handler", "app.lambda_handler")),
            environment=environment,
        )
        for name, event in props.get("Events", {}).items():
            kind, eprops = event["Type"], event.get("Properties", {})
            if kind == "HttpApi":
                authorizer = eprops.get("Auth", {}).get("Authorizer")
                fn.routes.append(Route(eprops["Method"].upper(), eprops["Path"], logical_id, authorizer))
            elif kind in ("Schedule", "ScheduleV2"):
                expression = eprops.get("Schedule") or eprops.get("ScheduleExpression")
                fn.schedules.append(Schedule(logical_id, name, expression, eprops.get("Input")))
            elif kind == "SQS":
                queue = eprops["Queue"]
                fn.queues.append(
                    QueueSource(
                        logical_id,
                        queue["Fn::GetAtt"][0] if isinstance(queue, dict) else str(queue),
                        int(eprops.get("BatchSize", 10)),
                        int(eprops.get("MaximumBatchingWindowInSeconds", 0)),
                        eprops.get("ScalingConfig", {}).get("MaximumConcurrency", 1000),
                    )
                )
            elif kind == "SNS":
                topic = eprops["Topic"]
                fn.topics.append(topic["Ref"] if isinstance(topic, dict) else topic)
        functions[logical_id] = fn
    return Template(document.get("Parameters", {}), functions, document["Resources"], _authorizers(document))
