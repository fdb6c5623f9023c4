"""checkov, an infrastructure-as-code scanner, finds nothing unexplained in the template or what it expands to.

A check that does not apply is skipped in the resource's Metadata with its reason, so the skip
travels with the resource; cfn-lint runs in tests/test_template.py.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from tests.build.stack import Stack
from tests.conftest import ROOT, TOOL_ENV

CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"


def checkov(directory: Path) -> dict[str, Any]:
    result = subprocess.run(
        [CHECKOV, "--directory", str(directory), "--framework", "cloudformation", "--output", "json"],
        env={**TOOL_ENV, "BC_SKIP_MAPPING": "TRUE"},
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.stdout.strip(), result.stderr[-3000:]
    report = json.loads(result.stdout)
    return report if isinstance(report, dict) else report[0]


def test_checkov_fails_no_check_on_the_template_or_any_expansion(stacks: dict[str, Stack], tmp_path: Path) -> None:
    shutil.copy(ROOT / "template.yaml", tmp_path / "template.yaml")
    for number, stack in enumerate(stacks.values()):
        (tmp_path / f"expanded-{number}.json").write_text(json.dumps(stack.template))
    report = checkov(tmp_path)
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}"
        for c in report["results"]["failed_checks"]
    ]
    assert not failed, "\n".join(failed)
    assert report["summary"]["passed"] > 100
    skipped = report["results"]["skipped_checks"]
    assert skipped, "the template's skips are read"
    assert all(c["check_result"].get("suppress_comment", "").strip() for c in skipped), "every skip has its reason"
