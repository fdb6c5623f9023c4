"""The configuration hash: one digest of the built code and every parameter value a deploy gives.

SAM publishes a new version of a function with AutoPublishAlias only when the hash of its code,
or its environment as written in the template, changes: a parameter-only update leaves the alias
on a version with the old settings. template.yaml passes ConfigurationHash to AutoPublishCodeSha256,
so any change of code or of a parameter's value names a new version (the first ten characters
of this digest are its logical id).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

PARAMETER = "ConfigurationHash"


def artifacts_digest(build_dir: Path) -> str:
    """A digest of every file `sam build` left (the built template, each function's code, the layer)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in build_dir.rglob("*") if p.is_file()):
        digest.update(path.relative_to(build_dir).as_posix().encode())
        digest.update(b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def effective(overrides: Mapping[str, str], defaults: Mapping[str, str]) -> dict[str, str]:
    """Every parameter's value as the stack gets it: the override, else the template's default."""
    values = {name: overrides.get(name, default) for name, default in defaults.items()}
    values.pop(PARAMETER, None)
    return values


def configuration_hash(artifacts: str, values: Mapping[str, str]) -> str:
    """The value of ConfigurationHash for this code and these parameter values."""
    digest = hashlib.sha256(artifacts.encode())
    for name in sorted(values):
        if name != PARAMETER:
            digest.update(f"\0{name}={values[name]}".encode())
    return digest.hexdigest()
