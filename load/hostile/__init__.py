"""Hostile input for every route, as hypothesis strategies the suite and load commands draw from alike."""
