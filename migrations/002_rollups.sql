-- Hourly and daily rollups of the raw signals, refreshed incrementally, and the counting and
-- rate functions built on them. Buckets are UTC hours and days.

CREATE TABLE resilience_rollup_hourly (
    bucket          timestamptz NOT NULL,
    component       text        NOT NULL,
    signal          text        NOT NULL,
    count           bigint      NOT NULL,
    unique_users    bigint      NOT NULL,
    unique_sessions bigint      NOT NULL,
    PRIMARY KEY (bucket, component, signal)
);

CREATE TABLE resilience_rollup_daily (LIKE resilience_rollup_hourly INCLUDING ALL);

CREATE INDEX resilience_rollup_hourly_component_idx ON resilience_rollup_hourly (component, bucket);
CREATE INDEX resilience_rollup_daily_component_idx ON resilience_rollup_daily (component, bucket);

-- Hours that received raw rows since the refresh last rolled them up. Append-only with no
-- unique key, so concurrent ingests never wait on each other; duplicates are harmless.
CREATE TABLE resilience_rollup_pending (
    hour timestamptz NOT NULL
);
CREATE INDEX resilience_rollup_pending_hour_idx ON resilience_rollup_pending (hour);

-- A statement trigger sees exactly the rows an INSERT stored (ON CONFLICT skips excluded), so
-- every path into the table, plain SQL included, marks its hours. Deletes and partition drops
-- mark nothing: rollups outlive raw retention.
CREATE FUNCTION resilience_rollup_mark_pending() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO resilience_rollup_pending (hour)
    SELECT DISTINCT date_trunc('hour', ts, 'UTC') FROM inserted;
    RETURN NULL;
END $$;

CREATE TRIGGER resilience_metrics_mark_pending
    AFTER INSERT ON resilience_metrics
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION resilience_rollup_mark_pending();

-- Rows stored before this migration are rolled up by the first refresh.
INSERT INTO resilience_rollup_pending (hour)
SELECT DISTINCT date_trunc('hour', ts, 'UTC') FROM resilience_metrics;

-- The original setup's names, as plain views of the rollups.
CREATE VIEW resilience_metrics_hourly AS
SELECT bucket AS hour, component, signal, count, unique_users, unique_sessions
FROM resilience_rollup_hourly;

CREATE VIEW resilience_metrics_daily AS
SELECT bucket AS day, component, signal, count, unique_users, unique_sessions
FROM resilience_rollup_daily;

-- Signal counts per component over [start_time, end_time), exact as of the statement's snapshot:
-- whole clean days from the daily rollup, whole clean hours from the hourly rollup, and raw rows
-- for the partial hours at both ends and for hours still pending a refresh.
CREATE FUNCTION resilience_signal_counts(
    start_time timestamptz,
    end_time timestamptz,
    only_component text DEFAULT NULL
)
RETURNS TABLE (component text, signal text, count bigint)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    h0 timestamptz := date_trunc('hour', start_time, 'UTC');
    h1 timestamptz := date_trunc('hour', end_time, 'UTC');
    d0 timestamptz;
    d1 timestamptz;
BEGIN
    IF h0 < start_time THEN
        h0 := h0 + interval '1 hour';
    END IF;
    IF h0 >= h1 THEN
        RETURN QUERY
        SELECT m.component, m.signal, count(*)
        FROM resilience_metrics m
        WHERE m.ts >= start_time AND m.ts < end_time
          AND (only_component IS NULL OR m.component = only_component)
        GROUP BY m.component, m.signal;
        RETURN;
    END IF;
    d0 := date_trunc('day', h0, 'UTC');
    IF d0 < h0 THEN
        d0 := d0 + interval '1 day';
    END IF;
    d1 := date_trunc('day', h1, 'UTC');
    IF d0 >= d1 THEN
        -- No whole day inside: the hourly ranges [h0, d0) and [d1, h1) become [h0, h1).
        d0 := h1;
        d1 := h1;
    END IF;
    RETURN QUERY
    WITH dirty AS MATERIALIZED (
        SELECT DISTINCT p.hour FROM resilience_rollup_pending p WHERE p.hour >= h0 AND p.hour < h1
    ),
    dirty_day AS MATERIALIZED (
        SELECT DISTINCT date_trunc('day', dirty.hour, 'UTC') AS day FROM dirty
    ),
    parts AS (
        SELECT r.component, r.signal, r.count AS n
        FROM resilience_rollup_daily r
        WHERE r.bucket >= d0 AND r.bucket < d1
          AND r.bucket NOT IN (SELECT day FROM dirty_day)
          AND (only_component IS NULL OR r.component = only_component)
        UNION ALL
        SELECT r.component, r.signal, r.count
        FROM resilience_rollup_hourly r
        WHERE r.bucket >= h0 AND r.bucket < d0
          AND r.bucket NOT IN (SELECT hour FROM dirty)
          AND (only_component IS NULL OR r.component = only_component)
        UNION ALL
        SELECT r.component, r.signal, r.count
        FROM resilience_rollup_hourly r
        WHERE r.bucket >= d1 AND r.bucket < h1
          AND r.bucket NOT IN (SELECT hour FROM dirty)
          AND (only_component IS NULL OR r.component = only_component)
        UNION ALL
        -- Clean hours of a day the daily rollup cannot answer for because another hour is dirty.
        SELECT r.component, r.signal, r.count
        FROM dirty_day dd
        JOIN resilience_rollup_hourly r ON r.bucket >= dd.day AND r.bucket < dd.day + interval '1 day'
        WHERE dd.day >= d0 AND dd.day < d1
          AND r.bucket NOT IN (SELECT hour FROM dirty)
          AND (only_component IS NULL OR r.component = only_component)
        UNION ALL
        SELECT m.component, m.signal, 1
        FROM resilience_metrics m
        WHERE m.ts >= start_time AND m.ts < h0
          AND (only_component IS NULL OR m.component = only_component)
        UNION ALL
        SELECT m.component, m.signal, 1
        FROM resilience_metrics m
        WHERE m.ts >= h1 AND m.ts < end_time
          AND (only_component IS NULL OR m.component = only_component)
        UNION ALL
        SELECT m.component, m.signal, 1
        FROM dirty
        JOIN resilience_metrics m ON m.ts >= dirty.hour AND m.ts < dirty.hour + interval '1 hour'
        WHERE (only_component IS NULL OR m.component = only_component)
    )
    SELECT parts.component, parts.signal, sum(parts.n)::bigint
    FROM parts
    GROUP BY parts.component, parts.signal;
END $$;

-- The original function's signature and columns with the corrected definitions of
-- resilience/rates.py (kept in step by tests): [start, end), success + rollback as the rollback
-- denominator, recovery capped at 100, "lt" thresholds for the two success rates, and no_data
-- (value NULL when nothing to divide by) below 10 samples instead of a division by zero.
CREATE FUNCTION get_resilience_metrics(
    start_time timestamptz DEFAULT now() - interval '24 hours',
    end_time timestamptz DEFAULT now()
)
RETURNS TABLE (metric_name text, metric_value numeric, threshold numeric, status text)
LANGUAGE sql STABLE AS $$
    WITH c AS (
        SELECT
            coalesce(sum(s.count) FILTER (WHERE s.signal = 'optimistic_action_rollback'), 0) AS rollbacks,
            coalesce(sum(s.count) FILTER (WHERE s.signal = 'optimistic_action_success'), 0) AS successes,
            coalesce(sum(s.count) FILTER (WHERE s.signal = 'retry_success'), 0) AS retry_successes,
            coalesce(sum(s.count) FILTER (WHERE s.signal = 'retry_failure'), 0) AS retry_failures,
            coalesce(sum(s.count) FILTER (WHERE s.signal = 'error_boundary_recovered'), 0) AS recovered,
            coalesce(sum(s.count) FILTER (WHERE s.signal = 'error_boundary_triggered'), 0) AS triggered
        FROM resilience_signal_counts(start_time, end_time) s
    ),
    rates (ord, metric_name, num, den, operator, threshold, cap) AS (
        SELECT 1, 'rollback_rate', rollbacks, successes + rollbacks, 'gt', 5.0, NULL::numeric FROM c
        UNION ALL
        SELECT 2, 'retry_success_rate', retry_successes, retry_successes + retry_failures, 'lt', 80.0, NULL FROM c
        UNION ALL
        SELECT 3, 'error_recovery_rate', recovered, triggered, 'lt', 95.0, 100.0 FROM c
    ),
    valued AS (
        SELECT r.*,
               CASE WHEN r.den > 0 THEN round(least(100.0 * r.num / r.den, coalesce(r.cap, 'Infinity')), 4) END
                   AS value
        FROM rates r
    )
    SELECT v.metric_name,
           v.value,
           v.threshold,
           CASE
               WHEN v.value IS NULL OR v.den < 10 THEN 'no_data'
               WHEN v.operator = 'gt' AND v.value > v.threshold THEN 'alert'
               WHEN v.operator = 'lt' AND v.value < v.threshold THEN 'alert'
               ELSE 'healthy'
           END
    FROM valued v
    ORDER BY v.ord
$$;
