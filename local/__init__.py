"""The local runner: the SAM application in one process, without Docker."""
