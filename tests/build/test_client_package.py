"""The npm package resilience-telemetry as `make client` builds it: its entry points, size and contract."""

from __future__ import annotations

import gzip
import json
import subprocess
from pathlib import Path

from resilience.settings import IngestLimits
from resilience.signals import KNOWN_SIGNALS
from resilience.telemetry import MAX_TEXT
from tests.conftest import CLIENT

SIZE_BUDGET = 5 * 1024  # dist/index.js, minified and gzipped


def test_the_package_has_no_runtime_dependency_and_react_is_a_peer() -> None:
    package = json.loads((CLIENT / "package.json").read_text())
    assert package["name"] == "resilience-telemetry"
    assert "dependencies" not in package
    assert set(package["peerDependencies"]) == {"react"}
    assert package["peerDependenciesMeta"]["react"]["optional"] is True
    assert package["exports"]["."]["default"] == "./dist/index.js"
    assert package["exports"]["./react"]["default"] == "./dist/react.js"
    lock = json.loads((CLIENT / "package-lock.json").read_text())
    assert lock["packages"][""]["devDependencies"] == package["devDependencies"]


def test_the_core_is_under_five_kilobytes_minified_and_gzipped(client_dist: Path) -> None:
    code = (client_dist / "index.js").read_bytes()
    assert len(gzip.compress(code, compresslevel=9)) <= SIZE_BUDGET
    assert b"\n" not in code.strip(), "minified"


def test_the_react_bindings_share_the_core_and_leave_react_to_the_application(client_dist: Path) -> None:
    react = (client_dist / "react.js").read_text()
    assert 'from"react"' in react
    assert 'from"./index.js"' in react
    assert "resilience-telemetry:queue:" not in react, "the core is imported, not copied"
    assert "useSyncExternalStore" not in react, "React itself is not bundled"
    for declarations in ("index.d.ts", "react.d.ts"):
        assert (client_dist / declarations).exists()


def test_the_client_knows_the_servers_signals_and_limits(client_dist: Path) -> None:
    script = (
        f"import('{(client_dist / 'index.js').as_uri()}')"
        ".then(m => console.log(JSON.stringify({signals: m.SIGNALS, limits: m.SERVER_LIMITS})))"
    )
    printed = subprocess.run(["node", "-e", script], check=True, capture_output=True, text=True).stdout
    client = json.loads(printed)
    settings = IngestLimits()
    assert tuple(client["signals"]) == KNOWN_SIGNALS
    assert client["limits"] == {
        "maxEvents": settings.max_events_per_request,
        "maxRequestBytes": settings.max_request_bytes,
        "maxEventBytes": settings.max_event_bytes,
        "maxText": MAX_TEXT,
    }
