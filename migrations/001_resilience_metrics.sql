-- Raw resilience signals, one row per signal, partitioned by day on ts.
-- Column names match the original setup so its debug SQL keeps working; the added columns
-- have defaults so a plain INSERT of the original seven columns works.

CREATE TABLE resilience_metrics (
    id          uuid        NOT NULL DEFAULT gen_random_uuid(),
    ts          timestamptz NOT NULL DEFAULT now(),
    user_id     uuid,
    session_id  text        NOT NULL,
    component   text        NOT NULL,
    signal      text        NOT NULL,
    data        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    received_at timestamptz NOT NULL DEFAULT now(),
    -- The partition key must be part of every unique constraint; ingest also checks the id
    -- alone within a window around ts, so a retried event is stored once.
    PRIMARY KEY (id, ts)
) PARTITION BY RANGE (ts);

-- Catches rows no daily partition covers yet, so an insert never fails for want of one.
CREATE TABLE resilience_metrics_default PARTITION OF resilience_metrics DEFAULT;

CREATE INDEX resilience_metrics_ts_idx ON resilience_metrics (ts DESC, id DESC);
CREATE INDEX resilience_metrics_component_ts_idx ON resilience_metrics (component, ts DESC);
CREATE INDEX resilience_metrics_session_ts_idx ON resilience_metrics (session_id, ts DESC);

-- Daily partitions are named resilience_metrics_pYYYYMMDD and cover [day, day + 1) in UTC.
CREATE FUNCTION resilience_partition_name(day date) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT 'resilience_metrics_p' || to_char(day, 'YYYYMMDD') $$;

-- Creates the daily partition for one day if it is missing, first moving out any rows of that
-- day that landed in the default partition (the new partition could not be created otherwise).
-- One day per call, so callers keep each partition change in a short transaction of its own.
CREATE FUNCTION resilience_create_partition(day date) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    part text := resilience_partition_name(day);
    lo timestamptz := day::timestamp AT TIME ZONE 'UTC';
    hi timestamptz := (day + 1)::timestamp AT TIME ZONE 'UTC';
    moved bigint;
BEGIN
    IF to_regclass(part) IS NOT NULL THEN
        RETURN false;
    END IF;
    -- Lock order: parent, then default partition (the same order ingest takes).
    LOCK TABLE resilience_metrics IN SHARE UPDATE EXCLUSIVE MODE;
    LOCK TABLE resilience_metrics_default IN ACCESS EXCLUSIVE MODE;
    CREATE TEMP TABLE IF NOT EXISTS resilience_partition_move
        (LIKE resilience_metrics INCLUDING DEFAULTS) ON COMMIT DROP;
    WITH gone AS (
        DELETE FROM resilience_metrics_default WHERE ts >= lo AND ts < hi RETURNING *
    )
    INSERT INTO resilience_partition_move SELECT * FROM gone;
    GET DIAGNOSTICS moved = ROW_COUNT;
    EXECUTE format('CREATE TABLE %I PARTITION OF resilience_metrics FOR VALUES FROM (%L) TO (%L)',
                   part, lo, hi);
    IF moved > 0 THEN
        INSERT INTO resilience_metrics SELECT * FROM resilience_partition_move;
        DELETE FROM resilience_partition_move;
    END IF;
    RETURN true;
END $$;

DO $$
BEGIN
    PERFORM resilience_create_partition(d::date)
    FROM generate_series(current_date - 1, current_date + 7, interval '1 day') AS d;
END $$;
