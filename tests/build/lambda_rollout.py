"""An expanded stack's functions, versions and aliases applied to a Lambda API as CloudFormation would.

moto's CloudFormation creates no AWS::Lambda::Alias and cannot take SAM's change set, but its
Lambda API keeps published versions as Lambda does (a version is a snapshot; publishing an unchanged
function returns the last version). This plays CloudFormation's part on that API: a function's
configuration is updated in place, a Version under a logical id not seen before is published, one
seen before is kept, and the alias moves to the version its template names.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tests.build.stack import Stack

ROLE = "arn:aws:iam::123456789012:role/resilience-telemetry-functions"


def as_text(value: Any) -> str:
    """A variable's value as Lambda holds it; a reference only AWS resolves stays readable as its JSON."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


@dataclass
class Rollout:
    """The Lambda side of one stack, deployed again and again."""

    client: Any
    stack_name: str
    # Version logical id -> the version number Lambda published for it.
    published: dict[str, str] = field(default_factory=dict)

    def name(self, function_id: str) -> str:
        return f"{self.stack_name}-{function_id}"[:64]

    def settings(self, stack: Stack, function_id: str) -> dict[str, Any]:
        props = stack.props(function_id)
        variables = props.get("Environment", {}).get("Variables", {})
        return {
            "Description": as_text(props.get("Description", "")),
            "Environment": {"Variables": {k: as_text(v) for k, v in variables.items()}},
            "MemorySize": int(props.get("MemorySize", 128)),
            "Timeout": int(props.get("Timeout", 3)),
        }

    def deploy(self, stack: Stack) -> None:
        existing = {f["FunctionName"] for f in self.client.list_functions()["Functions"]}
        for function_id, resource in stack.functions.items():
            props, name = resource["Properties"], self.name(function_id)
            if name in existing:
                self.client.update_function_configuration(FunctionName=name, **self.settings(stack, function_id))
            else:
                self.client.create_function(
                    FunctionName=name,
                    Runtime=props["Runtime"],
                    Handler=props["Handler"],
                    Role=ROLE,
                    Code={"S3Bucket": props["Code"]["S3Bucket"], "S3Key": props["Code"]["S3Key"]},
                    **self.settings(stack, function_id),
                )
        for version_id, version in stack.of_type("AWS::Lambda::Version").items():
            if version_id not in self.published:
                function = self.name(version["Properties"]["FunctionName"]["Ref"])
                self.published[version_id] = self.client.publish_version(FunctionName=function)["Version"]
        for alias in stack.of_type("AWS::Lambda::Alias").values():
            props = alias["Properties"]
            function, target = self.name(props["FunctionName"]["Ref"]), props["FunctionVersion"]["Fn::GetAtt"][0]
            aliases = {a["Name"] for a in self.client.list_aliases(FunctionName=function)["Aliases"]}
            call = self.client.update_alias if props["Name"] in aliases else self.client.create_alias
            call(FunctionName=function, Name=props["Name"], FunctionVersion=self.published[target])

    def served(self, function_id: str, alias: str | None) -> dict[str, Any]:
        """The configuration Lambda runs for a call: the alias's version, or $LATEST."""
        qualifier = {"Qualifier": alias} if alias else {}
        configuration: dict[str, Any] = self.client.get_function_configuration(
            FunctionName=self.name(function_id), **qualifier
        )
        return configuration
