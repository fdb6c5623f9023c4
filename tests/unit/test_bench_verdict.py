"""`make bench` fails when a benchmark misses its target, so a regression cannot pass unnoticed."""

from __future__ import annotations

import pytest

from bench.__main__ import verdict
from bench.harness import Row


def row(ok: bool | None, name: str = "events/s") -> Row:
    return Row(area="ingest", name=name, value=1.0, unit="x", ok=ok)


def test_a_run_whose_targets_are_all_met_exits_zero() -> None:
    assert verdict([row(True), row(None, "context only")]) == 0


def test_a_missed_target_exits_non_zero_and_names_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert verdict([row(True), row(False, "handler vs raw COPY")]) == 1
    assert "1 target(s) not met: ingest: handler vs raw COPY" in capsys.readouterr().err
