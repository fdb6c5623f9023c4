"""Whose events a verified token opens: its subject, when the subject is a UUID as user_id is."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from resilience.telemetry import SubjectError, owner_of


@given(st.uuids())
def test_a_uuid_subject_owns_the_events_of_that_user_id_however_it_is_spelled(user: uuid.UUID) -> None:
    for spelling in (str(user), str(user).upper(), user.hex, user.hex.upper()):
        assert owner_of(spelling) == str(user)


@pytest.mark.parametrize(
    "subject",
    [
        "auth0|5f7c8ec7c33c6c004bbafe82",
        "google-oauth2|104711",
        "1234567890",
        "",
        "{0b6f3c1e-2f0e-4a51-9d0c-6a3f3f2b8e11}",
        "urn:uuid:0b6f3c1e-2f0e-4a51-9d0c-6a3f3f2b8e11",
        "0b6f3c1e-2f0e-4a51-9d0c-6a3f3f2b8e11\n",
    ],
)
def test_any_other_subject_is_refused_with_the_reason(subject: str) -> None:
    with pytest.raises(SubjectError, match="is not a UUID"):
        owner_of(subject)
