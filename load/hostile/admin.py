"""Hostile requests for every route but POST /v1/telemetry, and what a sound answer to each looks like.

Each route's strategy draws (method, path, query, body) as a client would send them, so a command can
draw from `requests()` in a loop (`requests().example()`, or `@given(requests())` around its sender) and
hold each answer to `problems()`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from hypothesis import strategies as st

from load.hostile import values as v
from resilience.alert_states import State
from resilience.history import Granularity
from resilience.rates import RATES_BY_METRIC
from resilience.signals import Signal


@dataclass(frozen=True)
class HostileRequest:
    """One request: `route` as template.yaml names it, query values as text, the body as raw JSON text or None."""

    route: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    body: str | None = None

    @property
    def method(self) -> str:
        return self.route.split(" ", 1)[0]

    @property
    def url_path(self) -> str:
        """The path as it goes on the wire: each segment percent-encoded."""
        return "/".join(quote(part, safe="") for part in self.path.split("/"))


# What an error may name, per route: its parameters, and body for a body that is not an object at all.
FIELDS: Mapping[str, frozenset[str]] = {
    "GET /v1/metrics": frozenset({"from", "to", "component"}),
    "GET /v1/metrics/series": frozenset({"granularity", "from", "to", "component", "signal"}),
    "GET /v1/components": frozenset({"from", "to"}),
    "GET /v1/telemetry": frozenset({"from", "to", "component", "signal", "session_id", "limit", "cursor"}),
    "GET /v1/me/telemetry": frozenset({"from", "to", "component", "signal", "session_id", "limit", "cursor", "sub"}),
    "GET /v1/alerts": frozenset({"state", "component", "limit"}),
    "GET /v1/alerts/{id}": frozenset({"id"}),
    "POST /v1/alerts/{id}/acknowledge": frozenset({"id", "body", "by", "note"}),
    "GET /v1/silences": frozenset({"active"}),
    "POST /v1/silences": frozenset({"body", "matchers", "starts_at", "ends_at", "comment", "by"}),
    "DELETE /v1/silences/{id}": frozenset({"id"}),
    "GET /v1/health": frozenset(),
    "GET /dashboard": frozenset(),
    "GET /dashboard/{name}": frozenset({"name"}),
    "GET /docs": frozenset(),
}

SIGNALS = tuple(signal.value for signal in Signal)
METRICS = tuple(RATES_BY_METRIC)

# Names no route reads: they must be ignored, not trip anything.
_unknown = st.dictionaries(v.texts().filter(bool), v.texts(), max_size=2)


def _query(**fields: st.SearchStrategy[str]) -> st.SearchStrategy[dict[str, str]]:
    """One hostile field, or any subset of them; unknown names now and then (the known ones win a clash)."""
    known = st.fixed_dictionaries({}, optional=fields)
    if fields:
        known = v.weighted((3, v.one_hostile({}, fields)), (1, known))
    return st.builds(lambda extra, given: {**extra, **given}, v.weighted((3, st.just({})), (1, _unknown)), known)


def _windows() -> st.SearchStrategy[dict[str, str]]:
    """from and to: only one, both, equal, a short span at the calendar's ends (either order)."""
    independent = st.fixed_dictionaries({}, optional={"from": v.timestamps, "to": v.timestamps})
    edges = v.edge_windows.map(lambda pair: {"from": pair[0], "to": pair[1]})
    only_to = v.edge_windows.map(lambda pair: {"to": pair[1]})
    same = v.timestamps.map(lambda moment: {"from": moment, "to": moment})
    return st.one_of(independent, edges, only_to, same)


def _with_window(query: st.SearchStrategy[dict[str, str]]) -> st.SearchStrategy[dict[str, str]]:
    """A hostile window, hostile other fields with the default window (so their checks are reached), or both."""
    both = st.builds(lambda window, rest: {**rest, **window}, _windows(), query)
    return v.weighted((2, _windows()), (3, query), (1, both))


def _get(route: str, query: st.SearchStrategy[dict[str, str]]) -> st.SearchStrategy[HostileRequest]:
    path = route.split(" ", 1)[1]
    return query.map(lambda q: HostileRequest(route, path, q))


def metrics() -> st.SearchStrategy[HostileRequest]:
    return _get("GET /v1/metrics", _with_window(_query(component=v.texts())))


def series() -> st.SearchStrategy[HostileRequest]:
    granularity = v.choices(tuple(g.value for g in Granularity))
    query = _query(granularity=granularity, component=v.texts(), signal=v.choices(SIGNALS))
    return _get("GET /v1/metrics/series", _with_window(query))


def components() -> st.SearchStrategy[HostileRequest]:
    return _get("GET /v1/components", _with_window(_query()))


def _event_filters() -> st.SearchStrategy[dict[str, str]]:
    filters = _query(
        component=v.texts(),
        signal=v.choices(SIGNALS),
        session_id=v.texts(),
        limit=v.integers_as_text(1, 1000),
        cursor=v.forged_cursors(),
    )
    # The cursor is read last, after every other check: alone, a forged one reaches its decoding.
    return v.weighted((2, _with_window(filters)), (1, _query(cursor=v.forged_cursors())))


def telemetry() -> st.SearchStrategy[HostileRequest]:
    return _get("GET /v1/telemetry", _event_filters())


def own_telemetry() -> st.SearchStrategy[HostileRequest]:
    """GET /v1/me/telemetry: the caller's token is the sender's to supply; its filters are drawn here."""
    return _get("GET /v1/me/telemetry", _event_filters())


def alerts() -> st.SearchStrategy[HostileRequest]:
    query = _query(
        state=v.choices(tuple(s.value for s in State)),
        component=v.texts(),
        limit=v.integers_as_text(1, 1000),
    )
    return _get("GET /v1/alerts", query)


def alert(known: st.SearchStrategy[int] | None = None) -> st.SearchStrategy[HostileRequest]:
    return v.ids(known).map(lambda id_: HostileRequest("GET /v1/alerts/{id}", f"/v1/alerts/{id_}"))


def _text_field() -> st.SearchStrategy[Any]:
    return st.one_of(v.texts(surrogates=True), v.texts(surrogates=True), v.wrong_types())


def acknowledge(known: st.SearchStrategy[int] | None = None) -> st.SearchStrategy[HostileRequest]:
    hostile = {"by": _text_field(), "note": _text_field()}
    shape = st.one_of(
        v.one_hostile({"by": st.just("Dana (on call)")}, hostile),
        st.fixed_dictionaries({}, optional=hostile),
    )
    return st.builds(
        lambda id_, text: HostileRequest("POST /v1/alerts/{id}/acknowledge", f"/v1/alerts/{id_}/acknowledge", {}, text),
        v.ids(known),
        v.bodies(shape),
    )


def silences() -> st.SearchStrategy[HostileRequest]:
    return _get("GET /v1/silences", _query(active=v.choices(("true", "false", "1", "0", "yes", "no", "on", "off"))))


def _matchers() -> st.SearchStrategy[Any]:
    """A silence's matchers: one valid name with another hostile, any hostile mix, or no object at all."""
    hostile = {
        "component": _text_field(),
        "metric": st.one_of(st.sampled_from(METRICS), v.texts(surrogates=True), v.wrong_types()),
        "rule": _text_field(),
    }
    return v.weighted(
        (2, v.one_hostile({"component": st.just("CheckoutForm")}, hostile)),
        (2, v.one_hostile({"rule": st.just("rollback_rate_by_component")}, hostile)),
        (1, st.fixed_dictionaries({}, optional=hostile)),
        (1, v.wrong_types()),
    )


def new_silence() -> st.SearchStrategy[HostileRequest]:
    times = v.body_times()
    valid = {
        "matchers": st.just({"component": "CheckoutForm"}),
        "ends_at": v.future(),
        "comment": st.just("deploying a fix"),
        "by": st.just("Dana (on call)"),
    }
    hostile = {
        "matchers": _matchers(),
        "starts_at": st.one_of(v.future(1), times),
        "ends_at": times,
        "comment": _text_field(),
        "by": _text_field(),
    }
    shape = v.weighted((4, v.one_hostile(valid, hostile)), (1, st.fixed_dictionaries(hostile)))
    return v.bodies(shape).map(lambda text: HostileRequest("POST /v1/silences", "/v1/silences", {}, text))


def expire_silence(known: st.SearchStrategy[int] | None = None) -> st.SearchStrategy[HostileRequest]:
    return v.ids(known).map(lambda id_: HostileRequest("DELETE /v1/silences/{id}", f"/v1/silences/{id_}"))


def pages() -> st.SearchStrategy[HostileRequest]:
    """The routes without input of their own (health, dashboard, docs), given query strings and names anyway."""
    names = st.one_of(st.sampled_from(("dashboard.js", "dashboard.css", "DASHBOARD.JS", "..", "index.html")), v.ids())
    return st.one_of(
        _get("GET /v1/health", _query()),
        _get("GET /dashboard", _query(v=v.texts())),
        _get("GET /docs", _query(format=v.choices(("json",)))),
        st.builds(
            lambda name, q: HostileRequest("GET /dashboard/{name}", f"/dashboard/{name}", q),
            names,
            _query(v=v.texts()),
        ),
    )


# Each route's strategy by route; the {id} routes take ids of existing rows to mix in.
ROUTES: Mapping[str, Callable[[], st.SearchStrategy[HostileRequest]]] = {
    "GET /v1/metrics": metrics,
    "GET /v1/metrics/series": series,
    "GET /v1/components": components,
    "GET /v1/telemetry": telemetry,
    "GET /v1/me/telemetry": own_telemetry,
    "GET /v1/alerts": alerts,
    "GET /v1/alerts/{id}": alert,
    "POST /v1/alerts/{id}/acknowledge": acknowledge,
    "GET /v1/silences": silences,
    "POST /v1/silences": new_silence,
    "DELETE /v1/silences/{id}": expire_silence,
    "GET /v1/health": pages,
}


def requests() -> st.SearchStrategy[HostileRequest]:
    """A hostile request to any of these routes."""
    return st.one_of([strategy() for strategy in dict.fromkeys(ROUTES.values())])


def _body_fields(body: str | None) -> frozenset[str]:
    """The top-level names of a JSON object body: an unknown one is a field an error may name too."""
    try:
        parsed = json.loads(body) if body else None
    except (ValueError, RecursionError):
        return frozenset()
    return frozenset(parsed) if isinstance(parsed, dict) else frozenset()


def problems(request: HostileRequest, status: int, body: Any) -> list[str]:
    """What is wrong with an answer: a server error, or a refusal that does not say which field and why."""
    if status >= 500:
        return [f"{request.route} answered {status}"]
    if status < 400:
        return []
    errors = body.get("errors") if isinstance(body, dict) else None
    if not errors:
        return [f"{request.route} answered {status} naming no field: {str(body)[:200]}"]
    named = FIELDS[request.route] | _body_fields(request.body)
    found = []
    for error in errors:
        name, why = error.get("field"), error.get("reason")
        if not (isinstance(name, str) and isinstance(why, str) and name and why):
            found.append(f"{request.route} answered {status} with an error lacking its field or reason: {error}")
        # A path into the body ("matchers.rule") names its top field; an unknown key is named whole ("a.b").
        elif name not in named and name.split(".", 1)[0] not in named:
            found.append(f"{request.route} answered {status} naming {name!r}, not one of its fields")
    return found
