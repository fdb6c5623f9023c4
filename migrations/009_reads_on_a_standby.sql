-- Reads on a standby (an Aurora reader, a read replica: DATABASE_READER_URL / DATABASE_READER_HOST).
-- A standby cannot open unlogged tables at all, and the refresh's member sets are unlogged, so
-- resilience_rollup_additions, which reads them, must not be planned into a series query there.
-- As an SQL function it was inlined into every series query, which then failed on a standby as
-- soon as a set partition existed. In PL/pgSQL its query is planned only when it runs, and it does
-- not run on a standby: resilience_rollup_is_tracked is false there, so every dirty bucket is
-- recomputed from raw rows, as after a crash. The guard below keeps it so if it is ever called.
CREATE OR REPLACE FUNCTION resilience_rollup_additions(lo timestamptz, hi timestamptz)
RETURNS TABLE (unit text, bucket timestamptz, component text, signal text, count bigint, new_users bigint,
               new_sessions bigint)
LANGUAGE plpgsql STABLE AS $$
-- The result's column names (component, signal, ...) name the query's columns, not variables.
#variable_conflict use_column
BEGIN
    IF pg_is_in_recovery() THEN
        RETURN;
    END IF;
    RETURN QUERY
        WITH seen AS (
            SELECT p.ts, p.component, p.signal, p.user_id, p.session_id,
                   date_bin('1 hour', p.ts, timestamptz '2000-01-01 00:00+00') AS hour,
                   date_bin('1 day', p.ts, timestamptz '2000-01-01 00:00+00') AS day,
                   resilience_rollup_hour_bit(p.ts) AS bit, u.hours AS user_hours, s.hours AS session_hours
            FROM resilience_rollup_pending_rows p
            LEFT JOIN resilience_rollup_day_users u
                   ON u.component = p.component AND u.signal = p.signal AND u.user_id = p.user_id
                  AND u.day = date_bin('1 day', p.ts, timestamptz '2000-01-01 00:00+00')
            LEFT JOIN resilience_rollup_day_sessions s
                   ON s.component = p.component AND s.signal = p.signal AND s.session_id = p.session_id
                  AND s.day = date_bin('1 day', p.ts, timestamptz '2000-01-01 00:00+00')
            WHERE p.ts >= lo AND p.ts < hi
        )
        SELECT CASE WHEN GROUPING(hour) = 0 THEN 'hour' ELSE 'day' END,
               coalesce(hour, day), component, signal, count(*),
               CASE WHEN GROUPING(hour) = 0
                    THEN count(DISTINCT user_id) FILTER (WHERE coalesce(user_hours, 0) & bit = 0)
                    ELSE count(DISTINCT user_id) FILTER (WHERE user_hours IS NULL) END,
               CASE WHEN GROUPING(hour) = 0
                    THEN count(DISTINCT session_id) FILTER (WHERE coalesce(session_hours, 0) & bit = 0)
                    ELSE count(DISTINCT session_id) FILTER (WHERE session_hours IS NULL) END
        FROM seen
        GROUP BY GROUPING SETS ((hour, component, signal), (day, component, signal));
END
$$;
