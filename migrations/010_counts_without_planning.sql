-- resilience_signal_counts with its statements planned once per connection, and the open hour read
-- from its pending counts.
--
-- The version of 002 built one statement per call with the window's bounds as constants, so that
-- the planner pruned resilience_metrics's day partitions; planning that statement cost as much as
-- running it (about 1 ms of the 2 ms a 24-hour count took on 333k rows a day). Here the statements
-- are static: PL/pgSQL prepares each once per connection, and the generic plan is forced, because
-- the plan cache would otherwise keep choosing custom plans (a generic plan's estimate counts every
-- partition) and plan on every call again. The generic plan prunes the partitions when it starts.
--
-- That version also read the partial hour at the end of a window from raw rows unless the window
-- ended at or after the statement's now(). A window the API computes as ending now ends a moment
-- before that, so the open hour, up to an hour of raw rows, was read row by row on every call. The
-- choice is now by which side of the end holds fewer rows.
--
-- What is counted is unchanged: whole days from the daily rollup, whole hours from the hourly
-- rollup, the pending counts of rows not yet rolled up, a partial hour at either end from raw rows
-- or as the whole hour minus the raw rows outside the window, and, for all components, the partial
-- hour at the start from five-minute slices. An empty range below is [start_time, start_time).
CREATE OR REPLACE FUNCTION resilience_signal_counts(
    start_time timestamptz,
    end_time timestamptz,
    only_component text DEFAULT NULL,
    per_component boolean DEFAULT true
)
RETURNS TABLE (component text, signal text, count bigint)
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan
AS $$
-- The result's column names (component, signal, count) name the tables' columns, not variables.
#variable_conflict use_column
DECLARE
    totals boolean := only_component IS NULL AND NOT per_component;
    h0 timestamptz := date_trunc('hour', start_time, 'UTC');
    h1 timestamptz := date_trunc('hour', end_time, 'UTC');
    -- Raw rows counted (+1) over two ranges and subtracted (-1) over two ranges.
    add_lo timestamptz := start_time;
    add_hi timestamptz := start_time;
    add_end_lo timestamptz := start_time;
    add_end_hi timestamptz := start_time;
    sub_lo timestamptz := start_time;
    sub_hi timestamptz := start_time;
    sub_end_lo timestamptz := start_time;
    sub_end_hi timestamptz := start_time;
    -- Whole hours read from the hourly rollup and the pending counts, beside [h0, h1).
    whole_start timestamptz;
    whole_end timestamptz;
    -- For all components, the partial hour at the start: slices and at most five minutes of raw rows
    -- when that hour has no pending counts, else raw rows. Decided inside the statement.
    sliced_hour timestamptz;
    slice_lo timestamptz := start_time;
    slice_hi timestamptz := start_time;
    unsliced_lo timestamptz := start_time;
    unsliced_hi timestamptz := start_time;
    d0 timestamptz := start_time;
    d1 timestamptz := start_time;
    hours_lo timestamptz := start_time;
    hours_hi timestamptz := start_time;
    later_hours_lo timestamptz := start_time;
    later_hours_hi timestamptz := start_time;
BEGIN
    IF end_time <= start_time THEN
        RETURN;
    END IF;
    IF h0 = h1 THEN
        add_lo := start_time;
        add_hi := end_time;
        h0 := h1 + interval '1 hour';  -- no whole hours
    ELSE
        -- The partial hour at the start.
        IF h0 < start_time AND totals THEN
            sliced_hour := h0;
            slice_lo := date_bin('5 minutes', start_time, timestamptz '2000-01-01 00:00+00');
            IF slice_lo < start_time THEN
                slice_lo := slice_lo + interval '5 minutes';
            END IF;
            slice_hi := h0 + interval '1 hour';
            unsliced_lo := start_time;
            unsliced_hi := slice_lo;
            add_lo := start_time;  -- counted only if the hour has pending counts
            add_hi := slice_hi;
            h0 := slice_hi;
        ELSIF h0 < start_time THEN
            IF start_time - h0 <= interval '30 minutes' THEN
                whole_start := h0;
                sub_lo := h0;
                sub_hi := start_time;
            ELSE
                add_lo := start_time;
                add_hi := h0 + interval '1 hour';
            END IF;
            h0 := h0 + interval '1 hour';
        END IF;
        -- The partial hour at the end. Rows after the end exist up to now (clock-skewed ones aside):
        -- subtract them when they are fewer than the rows before it.
        IF h1 < end_time AND h0 <= h1 THEN
            IF least(now(), h1 + interval '1 hour') - end_time < end_time - h1 THEN
                whole_end := h1;
                sub_end_lo := end_time;
                sub_end_hi := h1 + interval '1 hour';
            ELSE
                add_end_lo := h1;
                add_end_hi := end_time;
            END IF;
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
        hours_lo := h0;
        hours_hi := d0;
        later_hours_lo := d1;
        later_hours_hi := h1;
    ELSE
        h0 := start_time;
        h1 := start_time;
        d0 := start_time;
        d1 := start_time;
    END IF;

    IF totals THEN
        RETURN QUERY
        SELECT NULL::text, parts.signal, sum(parts.count)::bigint
        FROM (
            SELECT r.signal, r.count FROM resilience_rollup_signal_daily r
            WHERE r.bucket >= d0 AND r.bucket < d1
            UNION ALL
            SELECT r.signal, r.count FROM resilience_rollup_signal_hourly r
            WHERE (r.bucket >= hours_lo AND r.bucket < hours_hi)
               OR (r.bucket >= later_hours_lo AND r.bucket < later_hours_hi)
               OR r.bucket = whole_end
            UNION ALL
            SELECT p.signal, p.count FROM resilience_rollup_pending_signal p
            WHERE (p.hour >= h0 AND p.hour < h1) OR p.hour = whole_end
            UNION ALL
            SELECT s.signal, s.count FROM resilience_rollup_signal_slices s
            WHERE s.bucket >= slice_lo AND s.bucket < slice_hi
              AND NOT EXISTS (SELECT 1 FROM resilience_rollup_pending_signal q WHERE q.hour = sliced_hour)
            UNION ALL
            SELECT m.signal, 1 FROM resilience_metrics m
            WHERE m.ts >= unsliced_lo AND m.ts < unsliced_hi
              AND NOT EXISTS (SELECT 1 FROM resilience_rollup_pending_signal q WHERE q.hour = sliced_hour)
            UNION ALL
            SELECT m.signal, 1 FROM resilience_metrics m
            WHERE m.ts >= add_lo AND m.ts < add_hi
              AND (sliced_hour IS NULL
                   OR EXISTS (SELECT 1 FROM resilience_rollup_pending_signal q WHERE q.hour = sliced_hour))
            UNION ALL
            SELECT m.signal, 1 FROM resilience_metrics m WHERE m.ts >= add_end_lo AND m.ts < add_end_hi
            UNION ALL
            SELECT m.signal, -1 FROM resilience_metrics m WHERE m.ts >= sub_end_lo AND m.ts < sub_end_hi
        ) AS parts (signal, count)
        GROUP BY parts.signal
        HAVING sum(parts.count) <> 0;
    ELSE
        RETURN QUERY
        SELECT parts.component, parts.signal, sum(parts.count)::bigint
        FROM (
            SELECT r.component, r.signal, r.count FROM resilience_rollup_daily r
            WHERE r.bucket >= d0 AND r.bucket < d1
              AND (only_component IS NULL OR r.component = only_component)
            UNION ALL
            SELECT r.component, r.signal, r.count FROM resilience_rollup_hourly r
            WHERE ((r.bucket >= hours_lo AND r.bucket < hours_hi)
                   OR (r.bucket >= later_hours_lo AND r.bucket < later_hours_hi)
                   OR r.bucket = whole_start OR r.bucket = whole_end)
              AND (only_component IS NULL OR r.component = only_component)
            UNION ALL
            SELECT p.component, p.signal, p.count FROM resilience_rollup_pending p
            WHERE ((p.hour >= h0 AND p.hour < h1) OR p.hour = whole_start OR p.hour = whole_end)
              AND (only_component IS NULL OR p.component = only_component)
            UNION ALL
            SELECT m.component, m.signal, 1 FROM resilience_metrics m
            WHERE m.ts >= add_lo AND m.ts < add_hi
              AND (only_component IS NULL OR m.component = only_component)
            UNION ALL
            SELECT m.component, m.signal, 1 FROM resilience_metrics m
            WHERE m.ts >= add_end_lo AND m.ts < add_end_hi
              AND (only_component IS NULL OR m.component = only_component)
            UNION ALL
            SELECT m.component, m.signal, -1 FROM resilience_metrics m
            WHERE m.ts >= sub_lo AND m.ts < sub_hi
              AND (only_component IS NULL OR m.component = only_component)
            UNION ALL
            SELECT m.component, m.signal, -1 FROM resilience_metrics m
            WHERE m.ts >= sub_end_lo AND m.ts < sub_end_hi
              AND (only_component IS NULL OR m.component = only_component)
        ) AS parts (component, signal, count)
        GROUP BY parts.component, parts.signal
        HAVING sum(parts.count) <> 0;
    END IF;
END $$;
