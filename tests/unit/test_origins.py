"""Which Origin headers may report signals: the same list API Gateway's CORS configuration reads."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from resilience.origins import origin_allowed

APP = "https://app.example.com"
origins = st.from_regex(r"https?://[a-z0-9.-]{1,40}(:[0-9]{1,5})?", fullmatch=True)


@given(origin=origins)
def test_without_a_list_or_with_a_wildcard_every_origin_is_allowed(origin: str) -> None:
    assert origin_allowed(origin, ())
    assert origin_allowed(origin, ("*",))
    assert origin_allowed(origin, (APP, "*"))


@given(origin=origins)
def test_with_a_list_only_its_origins_are_allowed(origin: str) -> None:
    assert origin_allowed(origin, (APP,)) == (origin == APP)
    assert origin_allowed(APP, (origin, APP))


@given(origin=origins)
def test_a_scheme_wildcard_allows_every_origin_of_that_scheme_only(origin: str) -> None:
    assert origin_allowed(origin, ("https://*",)) == origin.startswith("https://")


def test_a_request_without_origin_is_never_refused_and_null_is_refused_by_a_list() -> None:
    assert origin_allowed(None, (APP,))
    assert not origin_allowed("null", (APP, "https://*"))
    assert not origin_allowed("", (APP,))
