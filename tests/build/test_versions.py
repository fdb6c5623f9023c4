"""Every change of configuration reaches every function: each parameter, changed alone, names a new
published version of each aliased function that reads it, and the other functions run $LATEST.

template.yaml is expanded once with every parameter at its default and once per parameter changed
alone, each time with the ConfigurationHash that `make deploy` computes for those values.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from deploy.configuration import PARAMETER, configuration_hash, effective
from local.template import load
from tests.build.stack import Stack
from tests.conftest import expand_stacks

TEMPLATE = load()
SPECS: dict[str, dict[str, Any]] = {name: spec for name, spec in TEMPLATE.parameters.items() if name != PARAMETER}
DEFAULTS = {name: str(spec.get("Default", "")) for name, spec in TEMPLATE.parameters.items()}
# What `sam build` left stays the same in every expansion: only the parameters change.
ARTIFACTS = "built code"
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9:]+)\}")


def altered(spec: dict[str, Any]) -> str:
    """A value the parameter accepts that differs from its default."""
    default = str(spec.get("Default", ""))
    if "AllowedValues" in spec:
        return next(str(v) for v in spec["AllowedValues"] if str(v) != default)
    if spec["Type"] == "Number":
        value = float(default) + 1
        if "MaxValue" in spec and value > float(spec["MaxValue"]):
            value = float(default) - 1
        return str(int(value)) if value.is_integer() else str(value)
    if spec["Type"] == "CommaDelimitedList":
        # Two items: lists of zones and subnets are read item by item.
        return "changed-a,changed-b" if default in ("", "*") else f"{default},changed"
    if trailing := re.search(r"(\d+)$", default):
        value_text = default[: trailing.start()] + str(int(trailing.group(1)) + 1)
    else:
        value_text = f"{default}changed" if default else "changed"
    if "AllowedPattern" in spec:
        assert re.fullmatch(spec["AllowedPattern"], value_text), (spec, value_text)
    return value_text


def hashed(given: dict[str, str]) -> dict[str, str]:
    return {**given, PARAMETER: configuration_hash(ARTIFACTS, effective(given, DEFAULTS))}


@pytest.fixture(scope="module")
def changed_alone() -> dict[str, Stack]:
    combinations = {"defaults": hashed({})} | {name: hashed({name: altered(spec)}) for name, spec in SPECS.items()}
    combinations |= {"defaults, no hash": {}, "PowertoolsLogLevel, no hash": {"PowertoolsLogLevel": "DEBUG"}}
    return expand_stacks(combinations)


def published_version(stack: Stack, function_id: str) -> str | None:
    """The logical id of the version the function's alias serves, None when it has no alias."""
    for alias in stack.of_type("AWS::Lambda::Alias").values():
        if alias["Properties"]["FunctionName"] == {"Ref": function_id}:
            version_id: str = alias["Properties"]["FunctionVersion"]["Fn::GetAtt"][0]
            return version_id
    return None


def parameters_named(node: Any) -> set[str]:
    """Parameters a value refers to, by Ref or inside a Fn::Sub string."""
    if isinstance(node, dict):
        found = {node["Ref"]} if isinstance(node.get("Ref"), str) else set()
        return found.union(*(parameters_named(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(parameters_named(v) for v in node))
    if isinstance(node, str):
        return set(PLACEHOLDER.findall(node))
    return set()


def configuration(stack: Stack, function_id: str) -> dict[str, Any]:
    """What a published version keeps of the function: its properties, the hash in its description aside."""
    return {k: v for k, v in stack.props(function_id).items() if k != "Description"}


def readers(stacks: dict[str, Stack], name: str) -> set[str]:
    """The functions whose configuration the parameter changes, as created or as written."""
    before, after = stacks["defaults"], stacks[name]
    return {
        function_id
        for function_id in before.functions
        if configuration(before, function_id) != configuration(after, function_id)
        or name in parameters_named(before.template["Resources"][function_id]["Properties"])
    }


@pytest.mark.parametrize("name", sorted(SPECS))
def test_a_parameter_changed_alone_reaches_every_function_that_reads_it(
    name: str, changed_alone: dict[str, Stack]
) -> None:
    before, after = changed_alone["defaults"], changed_alone[name]
    for function_id in readers(changed_alone, name):
        version = published_version(after, function_id)
        if version is None:
            # Unaliased, its triggers invoke the function itself, $LATEST, which CloudFormation updates in place.
            assert not [
                v
                for v in after.of_type("AWS::Lambda::Version").values()
                if v["Properties"]["FunctionName"] == {"Ref": function_id}
            ]
            continue
        assert version != published_version(before, function_id), f"{name} leaves {function_id} on its old version"
        assert version in after.resources
        assert after.resources[version]["Properties"]["FunctionName"] == {"Ref": function_id}


def test_each_function_the_api_calls_through_an_alias_reads_the_parameters_the_issue_named(
    changed_alone: dict[str, Stack],
) -> None:
    aliased = {f for f in changed_alone["defaults"].functions if published_version(changed_alone["defaults"], f)}
    assert aliased == {f for f, fn in TEMPLATE.functions.items() if fn.routes}
    read = {f: {name for name in SPECS if f in readers(changed_alone, name)} for f in aliased}
    assert {"IngestKeys", "IngestMode", "UseRdsProxy", "PowertoolsLogLevel"} <= read["IngestFunction"]
    assert {"JwtIssuer", "UseRdsProxy", "PowertoolsLogLevel"} <= read["UserTelemetryFunction"]
    assert {"AlertRules", "AdminTokenSecretArn", "UseDatabaseReader"} <= read["MetricsQueryFunction"]


def test_without_the_hash_sam_keeps_the_old_version_when_only_a_parameter_changes(
    changed_alone: dict[str, Stack],
) -> None:
    # Why ConfigurationHash exists: SAM hashes the template's text, and the log level is a Ref in Globals.
    before, after = changed_alone["defaults, no hash"], changed_alone["PowertoolsLogLevel, no hash"]
    assert after.props("IngestFunction")["Environment"]["Variables"]["POWERTOOLS_LOG_LEVEL"] == "DEBUG"
    assert published_version(after, "IngestFunction") == published_version(before, "IngestFunction")


def test_the_hash_is_the_version_and_rides_in_the_description(changed_alone: dict[str, Stack]) -> None:
    stack = changed_alone["defaults"]
    digest = stack.given[PARAMETER]
    version = published_version(stack, "IngestFunction")
    assert version == f"IngestFunctionVersion{digest[:10]}"
    # Lambda publishes no new version of an unchanged function; the description changes with the hash.
    assert stack.props("IngestFunction")["Description"].endswith(f" {digest}")
