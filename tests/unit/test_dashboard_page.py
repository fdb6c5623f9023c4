"""The dashboard page carries the rates' definitions from resilience/rates.py; its script keeps no copy."""

from __future__ import annotations

import json
import re

from resilience.rates import RATES
from resilience.signals import KNOWN_SIGNALS
from resilience_lambda.api.dashboard import PAGE_DIR, page


def test_the_page_carries_each_rates_definition() -> None:
    found = re.search(r'<script type="application/json" id="rate-definitions">(.*?)</script>', page(), re.S)
    assert found is not None
    definitions = json.loads(found.group(1))
    assert [d["metric"] for d in definitions] == [r.metric for r in RATES]
    for definition, rate in zip(definitions, RATES, strict=True):
        assert set(definition["numerator"]) == set(rate.numerator)
        assert set(definition["denominator"]) == set(rate.denominator)
        assert definition["cap"] == rate.cap
        assert "threshold" not in definition, "thresholds come from the API, judged by the active rules"


def test_the_script_names_no_signal_and_no_threshold_of_its_own() -> None:
    script = (PAGE_DIR / "dashboard.js").read_text()
    assert [s for s in KNOWN_SIGNALS if f'"{s}"' in script] == []
    assert not re.search(r"threshold:\s*\d", script)
