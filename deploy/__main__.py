"""`make deploy`: sam deploy --guided, given the configuration hash of what it deploys.

Runs in the SAM toolchain's environment (.venv-sam), whose parser reads parameter overrides
exactly as `sam deploy` does. The hash is computed from the saved and given values before the
guided questions; if an answer changed a value, a second, unguided deploy follows with the hash
of the answers, so the aliases move to versions that carry them.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

from deploy.configuration import PARAMETER, artifacts_digest, configuration_hash, effective

BUILD = Path(".aws-sam") / "build"
SAMCONFIG = Path("samconfig.toml")


def parse(overrides: Any) -> dict[str, str]:
    """Parameter overrides read as `sam deploy` reads them (a string of Key="value" pairs, or a list)."""
    from samcli.cli.types import CfnParameterOverridesType

    if not overrides:
        return {}
    items = tuple(overrides) if isinstance(overrides, list) else (overrides,)
    return {str(k): str(v) for k, v in CfnParameterOverridesType().convert(items, None, None).items()}


def written(values: dict[str, str]) -> str:
    """Overrides as one string that `parse` reads back to the same values."""
    text = " ".join(f'{name}="{value.replace(chr(34), chr(92) + chr(34))}"' for name, value in values.items())
    if parse(text) != values:
        raise SystemExit(f"a parameter value cannot be passed to sam deploy as written: {text}")
    return text


def saved(config_env: str) -> dict[str, str]:
    if not SAMCONFIG.exists():
        return {}
    config = tomllib.loads(SAMCONFIG.read_text())
    return parse(config.get(config_env, {}).get("deploy", {}).get("parameters", {}).get("parameter_overrides"))


def defaults() -> dict[str, str]:
    """Every parameter of the built template, with its default ("" when it has none)."""
    from samcli.yamlhelper import yaml_parse

    template = yaml_parse((BUILD / "template.yaml").read_text())
    return {name: str(spec.get("Default", "")) for name, spec in template.get("Parameters", {}).items()}


def sam_deploy(config_env: str, values: dict[str, str], *, guided: bool) -> int:
    artifacts = artifacts_digest(BUILD)
    given = {**values, PARAMETER: configuration_hash(artifacts, effective(values, defaults()))}
    command = [str(Path(sys.executable).parent / "sam"), "deploy", "--language-extensions"]
    command += ["--guided"] if guided else []
    command += ["--config-env", config_env, "--parameter-overrides", written(given)]
    return subprocess.run(command, check=False).returncode  # noqa: S603 - our own sam, our own arguments


def main() -> int:
    arguments = argparse.ArgumentParser(description=__doc__)
    arguments.add_argument("--config-env", default="default")
    arguments.add_argument("--parameters", default="", help='overrides, as sam takes them: Name="value" ...')
    options = arguments.parse_args()
    values = {k: v for k, v in {**saved(options.config_env), **parse(options.parameters)}.items() if k != PARAMETER}
    returncode = sam_deploy(options.config_env, values, guided=True)
    if returncode != 0:
        return returncode
    answered = {k: v for k, v in saved(options.config_env).items() if k != PARAMETER}
    if effective(answered, defaults()) != effective(values, defaults()):
        print("A guided answer changed a parameter: deploying again with the hash of the answers.", flush=True)
        return sam_deploy(options.config_env, answered, guided=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
