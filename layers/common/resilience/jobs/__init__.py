"""The jobs, scheduled or fed by the ingest queue: each a story over the store and the domain, in transactions."""
