"""An expanded template read as CloudFormation would create it for one set of parameters.

The expansion (tests/build/expand.py) leaves Conditions, Fn::If and references in place; here
the conditions are evaluated, the branches taken, AWS::NoValue dropped and parameters filled in,
so a test asks plain questions: which resources exist, what they hold, what depends on what.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from local.template import ROOT

TEMPLATE = ROOT / "template.yaml"
NO_VALUE = object()
# A reference the SAM CLI's processor leaves in a string it could not finish substituting.
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9]+)(?:\.[A-Za-z0-9.]+)?\}")

STACK_NAME = "resilience-telemetry"
# What the expansion is told about where it deploys, and what Ref of a pseudo parameter gives.
PSEUDO = {
    "AWS::StackName": STACK_NAME,
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
}
# Each combination names the parameters it changes from their defaults; add one to test a new setup.
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:resilience-db-AbCdEf"
SLACK = "arn:aws:secretsmanager:us-east-1:123456789012:secret:slack-webhook-AbCdEf"
INGEST_TOKEN_SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:ingest-token-AbCdEf"
READER_HOST = "resilience-db.cluster-ro-c0ffee123456.us-east-1.rds.amazonaws.com"
GIVEN_VPC = {
    "SubnetIds": "subnet-0a1b2c3d4e5f60718,subnet-0f1e2d3c4b5a69788",
    "SecurityGroupIds": "sg-0123456789abcdef0",
}
COMBINATIONS: dict[str, dict[str, str]] = {
    "defaults": {},
    "prod": {"Stage": "prod"},
    "existing database in a VPC": {"DatabaseSecretArn": SECRET, **GIVEN_VPC},
    "existing public database": {"DatabaseSecretArn": SECRET},
    "RDS Proxy on the created database": {"UseRdsProxy": "true"},
    "RDS Proxy on an existing database": {
        "DatabaseSecretArn": SECRET,
        **GIVEN_VPC,
        "UseRdsProxy": "true",
        "ProxyTargetInstance": "resilience-db",
    },
    "one alert e-mail": {"AlertEmails": "oncall@example.com"},
    "three alert e-mails and ops e-mails": {
        "AlertEmails": "oncall@example.com,lead@example.com,sre@example.org",
        "OpsEmails": "ops@example.com,sre@example.org",
    },
    "Slack on": {"SlackWebhookSecretArn": SLACK},
    "users read with JWTs of an issuer": {
        "JwtIssuer": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbCdEfGhI",
        "JwtAudience": "web-client-id,mobile-client-id",
    },
    "queued ingest in the created network": {"IngestMode": "queued", "IngestWriterConcurrency": "8"},
    "queued ingest on an existing database in a VPC, through RDS Proxy": {
        "IngestMode": "queued",
        "DatabaseSecretArn": SECRET,
        **GIVEN_VPC,
        "UseRdsProxy": "true",
        "ProxyTargetCluster": "resilience-db",
    },
    "queued ingest on an existing public database": {"IngestMode": "queued", "DatabaseSecretArn": SECRET},
    "a reader of the created database": {"UseDatabaseReader": "true"},
    "a reader of an existing database": {"DatabaseSecretArn": SECRET, **GIVEN_VPC, "DatabaseReaderHost": READER_HOST},
    "the created network in zones given by ID": {"AvailabilityZoneIds": "use1-az1,use1-az4"},
    "signed ingest tokens required, two origins, tight public throttles": {
        "IngestTokenSecretArn": INGEST_TOKEN_SECRET,
        "IngestTokenRequired": "true",
        "IngestTokenMaxLifetimeSeconds": "900",
        "AllowedOrigins": "https://app.example.com,https://www.example.com",
        "IngestThrottlingRateLimit": "25",
        "IngestThrottlingBurstLimit": "50",
        "UserTelemetryThrottlingRateLimit": "5",
        "UserTelemetryThrottlingBurstLimit": "10",
    },
    "given admin token, paused I/O-Optimized database, no ingest cap": {
        "AdminTokenSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:admin-token-AbCdEf",
        "DatabaseMinCapacity": "0",
        "DatabaseStorageType": "aurora-iopt1",
        "IngestReservedConcurrency": "0",
    },
}


@dataclass
class Stack:
    """One combination: the parameters given, and the template expanded for them."""

    name: str
    given: dict[str, str]
    template: dict[str, Any]
    _conditions: dict[str, bool] = field(default_factory=dict, repr=False)

    # -- parameters and conditions ---------------------------------------------------------------
    @cached_property
    def parameters(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, spec in self.template["Parameters"].items():
            value = str(self.given.get(name, spec.get("Default", "")))
            values[name] = value.split(",") if spec["Type"] == "CommaDelimitedList" else value
        return values

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            self._conditions[name] = bool(self.evaluate(self.template["Conditions"][name]))
        return self._conditions[name]

    def evaluate(self, node: Any) -> Any:
        """A condition expression (or a value inside one) evaluated with the parameters."""
        if isinstance(node, dict) and len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Condition":
                return self.condition(arg)
            if key == "Ref":
                return self.parameters.get(arg, arg)
            if key == "Fn::Equals":
                left, right = (self.evaluate(a) for a in arg)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self.evaluate(arg[0])
            if key == "Fn::And":
                return all(self.evaluate(a) for a in arg)
            if key == "Fn::Or":
                return any(self.evaluate(a) for a in arg)
            if key == "Fn::Join":
                return arg[0].join(self.evaluate(v) for v in self.evaluate(arg[1]))
            # Rules' functions: a list holding a value, and every member of a list equal to one.
            if key == "Fn::Contains":
                members, value = (self.evaluate(a) for a in arg)
                return str(value) in [str(m) for m in members]
            if key == "Fn::EachMemberEquals":
                members, value = (self.evaluate(a) for a in arg)
                return all(str(m) == str(value) for m in members)
        if isinstance(node, list):
            return [self.evaluate(v) for v in node]
        return node

    def broken_rules(self) -> list[str]:
        """The assertions of template.yaml's Rules these parameters fail (CloudFormation refuses them at once)."""
        broken = []
        for name, rule in self.template.get("Rules", {}).items():
            if "RuleCondition" in rule and not self.evaluate(rule["RuleCondition"]):
                continue
            broken += [
                f"{name}: {a['AssertDescription']}" for a in rule["Assertions"] if not self.evaluate(a["Assert"])
            ]
        return broken

    # -- resources as created ----------------------------------------------------------------------
    def resolve(self, node: Any) -> Any:
        """Takes Fn::If branches, drops AWS::NoValue and fills in parameters; keeps other references."""
        if isinstance(node, dict):
            if len(node) == 1:
                ((key, arg),) = node.items()
                if key == "Fn::If":
                    return self.resolve(arg[1] if self.condition(arg[0]) else arg[2])
                if key == "Ref" and arg == "AWS::NoValue":
                    return NO_VALUE
                if key == "Ref" and arg in self.parameters:
                    return self.parameters[arg]
                if key == "Ref" and arg in PSEUDO:
                    return PSEUDO[arg]
            resolved = {k: self.resolve(v) for k, v in node.items()}
            return {k: v for k, v in resolved.items() if v is not NO_VALUE}
        if isinstance(node, list):
            items = [self.resolve(v) for v in node]
            return [v for v in items if v is not NO_VALUE]
        return node

    @cached_property
    def resources(self) -> dict[str, dict[str, Any]]:
        """The resources CloudFormation would create, their properties resolved."""
        created = {}
        for logical_id, resource in self.template["Resources"].items():
            if "Condition" in resource and not self.condition(resource["Condition"]):
                continue
            created[logical_id] = self.resolve(resource)
        return created

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {k: r for k, r in self.resources.items() if r["Type"] == kind}

    def props(self, logical_id: str) -> dict[str, Any]:
        return self.resources[logical_id].get("Properties", {})

    @cached_property
    def functions(self) -> dict[str, dict[str, Any]]:
        return self.of_type("AWS::Lambda::Function")

    @cached_property
    def outputs(self) -> dict[str, Any]:
        return {
            name: self.resolve(output["Value"])
            for name, output in self.template.get("Outputs", {}).items()
            if "Condition" not in output or self.condition(output["Condition"])
        }

    # -- references and order ------------------------------------------------------------------------
    def references(self, node: Any) -> set[str]:
        """Logical ids a value refers to: Ref, Fn::GetAtt, and ${...} in strings (Fn::Sub)."""
        found: set[str] = set()
        if isinstance(node, dict):
            for key, arg in node.items():
                if key == "Ref" and isinstance(arg, str):
                    found.add(arg)
                elif key == "Fn::GetAtt":
                    found.add(arg[0] if isinstance(arg, list) else arg.split(".")[0])
                else:
                    found |= self.references(arg)
        elif isinstance(node, list):
            for item in node:
                found |= self.references(item)
        elif isinstance(node, str):
            found.update(PLACEHOLDER.findall(node))
        return found & set(self.resources)

    def direct_dependencies(self, logical_id: str) -> set[str]:
        resource = self.resources[logical_id]
        depends = resource.get("DependsOn", [])
        depends = [depends] if isinstance(depends, str) else depends
        return (self.references(resource.get("Properties", {})) | set(depends)) - {logical_id}

    def dependencies(self, logical_id: str) -> set[str]:
        """Everything CloudFormation must create before this resource."""
        seen: set[str] = set()
        todo = [logical_id]
        while todo:
            for dependency in self.direct_dependencies(todo.pop()):
                if dependency not in seen:
                    seen.add(dependency)
                    todo.append(dependency)
        return seen

    def referrers(self, logical_id: str) -> dict[str, dict[str, Any]]:
        """Resources whose properties refer to this one."""
        return {k: r for k, r in self.resources.items() if logical_id in self.references(r.get("Properties", {}))}
