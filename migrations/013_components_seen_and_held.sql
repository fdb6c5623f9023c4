-- When each known component last reported, by day: the cleanup forgets components unseen for the
-- retention period, so names a client invented once stop counting against MAX_COMPONENTS.
ALTER TABLE resilience_components ADD COLUMN last_seen date NOT NULL DEFAULT current_date;

UPDATE resilience_components c SET last_seen = seen.day
FROM (SELECT component, max(ts)::date AS day FROM resilience_metrics GROUP BY component) seen
WHERE seen.component = c.component;

CREATE INDEX resilience_components_last_seen ON resilience_components (last_seen);

-- Queued events of a new component that arrived while the registry was full. The ingest had
-- answered 202 for them (it has no database to ask), so they are kept here, not dropped, and the
-- cleanup stores them once the registry has room again, or lets them go after the retention period.
CREATE TABLE resilience_held_events (
    id          uuid        NOT NULL,
    ts          timestamptz NOT NULL,
    user_id     uuid,
    session_id  text        NOT NULL,
    component   text        NOT NULL,
    signal      text        NOT NULL,
    data        jsonb       NOT NULL,
    held_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id, ts)
);
CREATE INDEX resilience_held_events_component ON resilience_held_events (component);
