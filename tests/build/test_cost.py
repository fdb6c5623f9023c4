"""docs/COST.md recounted from the stack at its defaults: alarm metrics, endpoints, SnapStart, the bill's sums."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from tests.build.stack import Stack
from tests.conftest import ROOT

COST = (ROOT / "docs" / "COST.md").read_text()


@pytest.fixture
def defaults(stacks: dict[str, Stack]) -> Stack:
    return stacks["defaults"]


def price(name: str) -> Decimal:
    """A dollar figure of the prices table, by its row's name."""
    found = re.search(rf"^\| {re.escape(name)} \| \$([\d.]+) per", COST, re.MULTILINE)
    assert found, f"COST.md lists no price for {name}"
    return Decimal(found.group(1))


def bill_line(name: str) -> list[Decimal]:
    """The three monthly figures (1 million, 30 million, 1 billion events) of one line of the bill."""
    found = re.search(rf"^\| {re.escape(name)}[^|]*\|(.*)\|$", COST, re.MULTILINE)
    assert found, f"the bill has no line {name}"
    return [Decimal(cell.strip(" *$").replace(",", "")) for cell in found.group(1).split("|")]


def hours_a_month() -> Decimal:
    found = re.search(r"([\d.]+) hours a month", COST)
    assert found
    return Decimal(found.group(1))


def alarm_metrics(stack: Stack) -> int:
    """What CloudWatch bills: one per alarm on a metric, one per metric an alarm's math reads."""
    return sum(
        1 if "MetricName" in alarm["Properties"] else sum("MetricStat" in m for m in alarm["Properties"]["Metrics"])
        for alarm in stack.of_type("AWS::CloudWatch::Alarm").values()
    )


def test_the_alarm_metrics_and_dashboards_are_counted_and_billed_as_the_template_has_them(defaults: Stack) -> None:
    counted = alarm_metrics(defaults)
    dashboards = len(defaults.of_type("AWS::CloudWatch::Dashboard"))
    assert f"{counted} alarm metrics" in COST
    assert ("one dashboard" in COST) == (dashboards == 1)
    expected = counted * price("CloudWatch alarm") + dashboards * price("CloudWatch dashboard")
    assert bill_line("CloudWatch alarms and dashboard") == [expected] * 3


def test_the_interface_endpoints_are_counted_and_billed_per_zone(defaults: Stack) -> None:
    endpoints = [e["Properties"] for e in defaults.of_type("AWS::EC2::VPCEndpoint").values()]
    interfaces = [e for e in endpoints if e["VpcEndpointType"] == "Interface"]
    (zones,) = {len(e["SubnetIds"]) for e in interfaces}
    assert f"({len(interfaces)} endpoints x {zones} zones)" in COST
    monthly = len(interfaces) * zones * price("VPC interface endpoint") * hours_a_month()
    assert bill_line("VPC interface endpoints") == [monthly.quantize(Decimal("0.01"))] * 3


def test_snapstart_is_billed_for_each_function_that_takes_it(defaults: Stack) -> None:
    snapstart = [f for f, props in defaults.functions.items() if "SnapStart" in props["Properties"]]
    memory = sum(Decimal(defaults.props(f)["MemorySize"]) for f in snapstart) / 1024
    monthly = memory * price("Lambda SnapStart, cache") * hours_a_month() * 3600
    assert f"each of the {len(snapstart)} API functions" in COST
    assert f"${monthly.quantize(Decimal('0.01'))} a month" in COST
    assert price("Lambda SnapStart, restore") > 0


def test_each_column_of_the_bill_adds_up_to_its_total() -> None:
    table = COST.split("## The bill, line by line", 1)[1].split("\n\n", 2)[1]
    rows = [r for r in table.splitlines() if r.startswith("| ") and not r.startswith(("| line", "| **"))]
    lines = [[Decimal(c.strip(" $").replace(",", "")) for c in r.strip("|").split("|")[1:]] for r in rows]
    totals = bill_line("**total per month**")
    assert [sum(column) for column in zip(*lines, strict=True)] == totals
    per_million = bill_line("**per million events**")
    for total, events, figure in zip(totals, (1, 30, 1000), per_million, strict=True):
        assert (total / events).quantize(Decimal("0.01")) == figure
