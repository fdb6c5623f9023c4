-- A signed-in user reads their own events, newest first (GET /v1/me/telemetry): this index finds
-- them without reading everyone's events of the window, and pages by (ts, id) like the admin read.
-- Partial: events reported without a user cost nothing more to ingest.
-- Built in the migration's transaction (a partitioned table cannot be indexed CONCURRENTLY), so
-- ingest waits for it once, on the deploy that adds it.
CREATE INDEX resilience_metrics_user_ts_idx ON resilience_metrics (user_id, ts DESC, id DESC)
    WHERE user_id IS NOT NULL;
