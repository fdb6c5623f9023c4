"""The layers' one direction: domain <- store <- jobs <- the Lambda edge, and the driver only in the store."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "layers" / "common" / "resilience"
# Outside systems and the edge: none of them belongs in the domain.
DRIVER = ("psycopg",)
EDGE = ("resilience_lambda", "aws_lambda_powertools", "boto3", "botocore", "slack_sdk", "urllib.request")


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def reaching(path: Path, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(name for name in imports(path) if any(name == f or name.startswith(f + ".") for f in forbidden))


def modules(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.py") if p.name != "__init__.py")


@pytest.mark.parametrize("module", modules(PACKAGE), ids=lambda p: p.name)
def test_the_domain_imports_neither_the_driver_nor_the_store_nor_the_edge(module: Path) -> None:
    assert reaching(module, (*DRIVER, "resilience.store", "resilience.jobs", *EDGE)) == []


@pytest.mark.parametrize("module", modules(PACKAGE / "store"), ids=lambda p: p.name)
def test_the_store_knows_the_domain_but_not_the_jobs_or_the_edge(module: Path) -> None:
    assert reaching(module, ("resilience.jobs", *EDGE)) == []


@pytest.mark.parametrize("module", modules(PACKAGE / "jobs"), ids=lambda p: p.name)
def test_jobs_reach_the_database_only_through_the_store(module: Path) -> None:
    assert reaching(module, (*DRIVER, *EDGE)) == []


def test_only_the_store_imports_the_driver() -> None:
    outside = [
        path.relative_to(ROOT)
        for folder in (ROOT / "layers" / "common", ROOT / "functions")
        for path in folder.rglob("*.py")
        if PACKAGE / "store" not in path.parents and reaching(path, DRIVER)
    ]
    assert outside == []
