"""Hostile input for every route: generators of requests, and the invariants their answers keep."""
