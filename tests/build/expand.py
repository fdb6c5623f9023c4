"""Expands template.yaml as CloudFormation would, for parameter sets read as JSON from stdin.

Runs in the SAM toolchain's environment (.venv-sam), not the application's: SAM CLI's
language-extension processor (Fn::ForEach, Fn::ToJsonString, ...) first, then the SAM translator.
Input: {"pseudo": {"AWS::StackName": ..., "AWS::Region": ..., "AWS::AccountId": ...},
        "combinations": {"name": {"Parameter": "value", ...}, ...},
        "template": optional, a template `sam package` left (its code already in S3) instead of template.yaml}.
Output: {"name": expanded template, ...}.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from samcli.lib.cfn_language_extensions.api import process_template
from samcli.lib.cfn_language_extensions.models import PseudoParameterValues
from samcli.yamlhelper import yaml_parse
from samtranslator.translator.transform import transform

ROOT = Path(__file__).resolve().parents[2]


class NoManagedPolicies:
    """The translator asks IAM for managed policy names only when a function names one by name."""

    def load(self) -> dict[str, str]:
        return {}


def packaged(template: dict[str, Any]) -> dict[str, Any]:
    """What `sam package` leaves: code and layer content as S3 URIs."""
    for logical_id, resource in template["Resources"].items():
        if not isinstance(resource, dict):
            continue
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if key in props:
                props[key] = f"s3://deployment-artifacts/{logical_id}.zip"
    return template


def expand(
    source: str, pseudo: PseudoParameterValues, parameters: dict[str, str], *, uploaded: bool = False
) -> dict[str, Any]:
    template = yaml_parse(source)
    # Only the AWS::LanguageExtensions transform is done here; the SAM one follows.
    processed = process_template(
        template,
        parameter_values=parameters,
        pseudo_parameters=pseudo,
    )
    processed["Transform"] = "AWS::Serverless-2016-10-31"
    return transform(processed if uploaded else packaged(processed), parameters, NoManagedPolicies())


def main() -> int:
    request = json.load(sys.stdin)
    known = request["pseudo"]
    # The translator reads the region from the environment.
    os.environ["AWS_DEFAULT_REGION"] = known["AWS::Region"]
    pseudo = PseudoParameterValues(
        region=known["AWS::Region"], account_id=known["AWS::AccountId"], stack_name=known["AWS::StackName"]
    )
    uploaded = "template" in request
    source = request["template"] if uploaded else (ROOT / "template.yaml").read_text()
    expanded = {
        name: expand(source, pseudo, given, uploaded=uploaded) for name, given in request["combinations"].items()
    }
    json.dump(expanded, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
