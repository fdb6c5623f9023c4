"""env.json serves `sam local invoke --env-vars env.json`, which passes only variables the template declares."""

from __future__ import annotations

import json
from urllib.parse import urlparse

from local.template import ROOT, Template

ENV_JSON = json.loads((ROOT / "env.json").read_text())


def test_every_variable_in_env_json_is_declared_by_the_template_for_that_function(template: Template) -> None:
    for function_id, variables in ENV_JSON.items():
        assert function_id in template.functions, f"env.json names {function_id}, which template.yaml does not have"
        undeclared = set(variables) - set(template.functions[function_id].environment)
        assert not undeclared, f"sam local invoke would drop {undeclared} for {function_id}: declare them"


def test_every_function_that_uses_the_database_can_reach_make_runs_database(template: Template) -> None:
    using_the_database = {fn for fn, f in template.functions.items() if "DATABASE_SECRET_ARN" in f.environment}
    using_the_database -= {"SlackNotifierFunction"}
    assert using_the_database <= set(ENV_JSON)
    for function_id in using_the_database:
        url = urlparse(ENV_JSON[function_id]["DATABASE_URL"])
        # The function runs in a container: the host's database is host.docker.internal, not localhost.
        assert url.scheme == "postgresql"
        assert url.hostname == "host.docker.internal"


def test_the_admin_api_gets_a_token_locally(template: Template) -> None:
    assert ENV_JSON["MetricsQueryFunction"]["ADMIN_TOKEN"]
    assert template.functions["MetricsQueryFunction"].environment["ADMIN_TOKEN"] == ""
    assert template.functions["IngestFunction"].environment["DATABASE_URL"] == ""
