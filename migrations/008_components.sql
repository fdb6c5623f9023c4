-- The components the system knows. An event of a component not listed here is stored only while
-- fewer components than the configured limit (MAX_COMPONENTS) are known, so a client inventing
-- names cannot grow the rollups, the components list, the per-component rules or the dashboard.
CREATE TABLE resilience_components (
    component text PRIMARY KEY,
    first_seen timestamptz NOT NULL DEFAULT now()
);

-- What is already stored is known: existing components keep flowing whatever the limit.
INSERT INTO resilience_components (component, first_seen)
SELECT component, min(ts) FROM resilience_metrics GROUP BY component;
