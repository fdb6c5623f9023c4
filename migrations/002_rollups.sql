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

-- The same counts summed over components: the all-components rates read a few rows per bucket
-- (one per signal) instead of one per component and signal.
CREATE TABLE resilience_rollup_signal_hourly (
    bucket timestamptz NOT NULL,
    signal text        NOT NULL,
    count  bigint      NOT NULL,
    PRIMARY KEY (bucket, signal)
);
CREATE TABLE resilience_rollup_signal_daily (LIKE resilience_rollup_signal_hourly INCLUDING ALL);
-- Five-minute totals, so the partial hour at the start of an all-components window costs at
-- most five minutes of raw rows.
CREATE TABLE resilience_rollup_signal_slices (LIKE resilience_rollup_signal_hourly INCLUDING ALL);

-- Counts of the rows stored since the refresh last rolled their hour up, one row per insert
-- statement, hour, component and signal. Append-only with no unique key, so concurrent ingests
-- never wait on each other. The rollup of an hour plus its pending counts is the hour's exact
-- count at any moment; the refresh folds them in and deletes them in one snapshot.
CREATE TABLE resilience_rollup_pending (
    hour      timestamptz NOT NULL,
    component text        NOT NULL,
    signal    text        NOT NULL,
    count     bigint      NOT NULL
);
CREATE INDEX resilience_rollup_pending_hour_idx ON resilience_rollup_pending (hour);

-- The same pending counts summed over components, for the all-components rates.
CREATE TABLE resilience_rollup_pending_signal (
    hour   timestamptz NOT NULL,
    signal text        NOT NULL,
    count  bigint      NOT NULL
);
CREATE INDEX resilience_rollup_pending_signal_hour_idx ON resilience_rollup_pending_signal (hour);

-- A statement trigger sees exactly the rows an INSERT stored (ON CONFLICT skips excluded), so
-- every path into the table, plain SQL included, is counted. Deletes and partition drops count
-- nothing: rollups outlive raw retention.
CREATE FUNCTION resilience_rollup_mark_pending() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO resilience_rollup_pending (hour, component, signal, count)
    SELECT date_trunc('hour', ts, 'UTC'), component, signal, count(*)
    FROM inserted
    GROUP BY 1, 2, 3;
    INSERT INTO resilience_rollup_pending_signal (hour, signal, count)
    SELECT date_trunc('hour', ts, 'UTC'), signal, count(*)
    FROM inserted
    GROUP BY 1, 2;
    RETURN NULL;
END $$;

CREATE TRIGGER resilience_metrics_mark_pending
    AFTER INSERT ON resilience_metrics
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION resilience_rollup_mark_pending();

-- Rows stored before this migration are rolled up by the first refresh.
INSERT INTO resilience_rollup_pending (hour, component, signal, count)
SELECT date_trunc('hour', ts, 'UTC'), component, signal, count(*)
FROM resilience_metrics
GROUP BY 1, 2, 3;
INSERT INTO resilience_rollup_pending_signal (hour, signal, count)
SELECT date_trunc('hour', ts, 'UTC'), signal, count(*)
FROM resilience_metrics
GROUP BY 1, 2;

-- The original setup's names, as plain views of the rollups.
CREATE VIEW resilience_metrics_hourly AS
SELECT bucket AS hour, component, signal, count, unique_users, unique_sessions
FROM resilience_rollup_hourly;

CREATE VIEW resilience_metrics_daily AS
SELECT bucket AS day, component, signal, count, unique_users, unique_sessions
FROM resilience_rollup_daily;

-- Signal counts over [start_time, end_time), exact as of the call, in one statement (one
-- snapshot): whole days from the daily rollup, whole hours from the hourly rollup, plus the
-- pending counts of rows not yet rolled up. A partial hour at either end is read from raw rows,
-- or as the whole hour minus the raw rows outside the window when that is fewer rows (more
-- than half the hour inside, or an end at or after now, beyond which only clock-skewed rows lie);
-- for all components, the partial hour at the start is read from five-minute slices.
-- Per component (component set), or for all components together (component NULL) when
-- per_component is false and no component is asked for.
-- The statement is built with the boundaries as constants: the planner then prunes the daily
-- partitions of resilience_metrics at plan time instead of planning every one of them.
CREATE FUNCTION resilience_signal_counts(
    start_time timestamptz,
    end_time timestamptz,
    only_component text DEFAULT NULL,
    per_component boolean DEFAULT true
)
RETURNS TABLE (component text, signal text, count bigint)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    totals boolean := only_component IS NULL AND NOT per_component;
    cols text := CASE WHEN totals THEN 'NULL::text, signal' ELSE 'component, signal' END;
    hourly text := CASE WHEN totals THEN 'resilience_rollup_signal_hourly' ELSE 'resilience_rollup_hourly' END;
    daily text := CASE WHEN totals THEN 'resilience_rollup_signal_daily' ELSE 'resilience_rollup_daily' END;
    pending text := CASE WHEN totals THEN 'resilience_rollup_pending_signal' ELSE 'resilience_rollup_pending' END;
    slice_start timestamptz;
    no_pending text;
    comp_filter text := CASE WHEN only_component IS NULL THEN '' ELSE format(' AND component = %L', only_component) END;
    h0 timestamptz := date_trunc('hour', start_time, 'UTC');
    h1 timestamptz := date_trunc('hour', end_time, 'UTC');
    d0 timestamptz;
    d1 timestamptz;
    parts text[] := '{}';
BEGIN
    IF end_time <= start_time THEN
        RETURN;
    END IF;
    IF h0 = h1 THEN
        RETURN QUERY EXECUTE format(
            'SELECT %s, count(*) FROM resilience_metrics WHERE ts >= %L AND ts < %L%s GROUP BY 1, 2',
            cols, start_time, end_time, comp_filter);
        RETURN;
    END IF;

    -- The partial hour at the start.
    IF h0 < start_time AND totals THEN
        -- Whole five-minute slices plus at most five minutes of raw rows, unless rows arrived for
        -- that hour since its slices were made: then raw rows. Decided inside the statement.
        slice_start := date_bin('5 minutes', start_time, timestamptz '2000-01-01 00:00+00');
        IF slice_start < start_time THEN
            slice_start := slice_start + interval '5 minutes';
        END IF;
        no_pending := format('NOT EXISTS (SELECT 1 FROM resilience_rollup_pending_signal WHERE hour = %L)', h0);
        parts := parts
            || format('SELECT %s, count FROM resilience_rollup_signal_slices WHERE bucket >= %L AND bucket < %L AND %s',
                      cols, slice_start, h0 + interval '1 hour', no_pending)
            || format('SELECT %s, 1 FROM resilience_metrics WHERE ts >= %L AND ts < %L AND %s',
                      cols, start_time, slice_start, no_pending)
            || format('SELECT %s, 1 FROM resilience_metrics WHERE ts >= %L AND ts < %L AND NOT %s',
                      cols, start_time, h0 + interval '1 hour', no_pending);
        h0 := h0 + interval '1 hour';
    ELSIF h0 < start_time THEN
        IF start_time - h0 <= interval '30 minutes' THEN
            parts := parts
                || format('SELECT %s, count FROM %I WHERE bucket = %L%s', cols, hourly, h0, comp_filter)
                || format('SELECT %s, count FROM %I WHERE hour = %L%s', cols, pending, h0, comp_filter)
                || format('SELECT %s, -1 FROM resilience_metrics WHERE ts >= %L AND ts < %L%s',
                          cols, h0, start_time, comp_filter);
        ELSE
            parts := parts || format('SELECT %s, 1 FROM resilience_metrics WHERE ts >= %L AND ts < %L%s',
                                     cols, start_time, h0 + interval '1 hour', comp_filter);
        END IF;
        h0 := h0 + interval '1 hour';
    END IF;
    -- The partial hour at the end.
    IF h1 < end_time AND h0 <= h1 THEN
        IF end_time - h1 >= interval '30 minutes' OR end_time >= now() THEN
            parts := parts
                || format('SELECT %s, count FROM %I WHERE bucket = %L%s', cols, hourly, h1, comp_filter)
                || format('SELECT %s, count FROM %I WHERE hour = %L%s', cols, pending, h1, comp_filter)
                || format('SELECT %s, -1 FROM resilience_metrics WHERE ts >= %L AND ts < %L%s',
                          cols, end_time, h1 + interval '1 hour', comp_filter);
        ELSE
            parts := parts || format('SELECT %s, 1 FROM resilience_metrics WHERE ts >= %L AND ts < %L%s',
                                     cols, h1, end_time, comp_filter);
        END IF;
    END IF;

    -- The whole hours [h0, h1), with the whole days [d0, d1) among them from the daily rollup.
    IF h0 < h1 THEN
        d0 := date_trunc('day', h0, 'UTC');
        IF d0 < h0 THEN
            d0 := d0 + interval '1 day';
        END IF;
        d1 := date_trunc('day', h1, 'UTC');
        IF d0 >= d1 THEN
            d0 := h1;
            d1 := h1;
        END IF;
        IF d0 < d1 THEN
            parts := parts || format('SELECT %s, count FROM %I WHERE bucket >= %L AND bucket < %L%s',
                                     cols, daily, d0, d1, comp_filter);
        END IF;
        parts := parts
            || format('SELECT %s, count FROM %I WHERE ((bucket >= %L AND bucket < %L) OR (bucket >= %L AND bucket < %L))%s',
                      cols, hourly, h0, d0, d1, h1, comp_filter)
            || format('SELECT %s, count FROM %I WHERE hour >= %L AND hour < %L%s',
                      cols, pending, h0, h1, comp_filter);
    END IF;
    RETURN QUERY EXECUTE
        'SELECT component, signal, sum(count)::bigint FROM ('
        || array_to_string(parts, ' UNION ALL ')
        || ') AS parts (component, signal, count) GROUP BY component, signal HAVING sum(count) <> 0';
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
        FROM resilience_signal_counts(start_time, end_time, NULL, false) s
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
