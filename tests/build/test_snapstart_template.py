"""The SnapStart parameter: the API functions resume from a snapshot of a published version when it is on."""

from __future__ import annotations

from local.template import Template


def test_the_snapstart_parameter_is_off_by_default_and_turns_it_on_for_published_versions(template: Template) -> None:
    parameter = template.parameters["SnapStart"]
    assert parameter["Default"] == "None"
    assert sorted(parameter["AllowedValues"]) == ["None", "PublishedVersions"]


def test_both_api_functions_take_it_and_are_called_through_a_published_alias(template: Template) -> None:
    api_functions = sorted(fn.logical_id for fn in template.functions.values() if fn.routes)
    assert api_functions == ["IngestFunction", "MetricsQueryFunction", "UserTelemetryFunction"]
    for logical_id in api_functions:
        properties = template.resources[logical_id]["Properties"]
        assert properties["SnapStart"] == {"ApplyOn": {"Ref": "SnapStart"}}, logical_id
        assert properties["AutoPublishAlias"], logical_id
