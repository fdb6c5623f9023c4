-- The refresh's member sets keyed member first: (user_id | session_id, component, signal, day).
--
-- Profiled after an hour of 13,888 new rows on a tracked day of 333k rows and on one of 3.33M, the
-- writes into the sets were nine tenths of a refresh and the part that grew with the day. A day's
-- sets hold about one row per raw row; on the larger day they no longer stay in shared buffers, and
-- a member written on a page of its own reads that page in and writes a dirty one out. Keyed by
-- component and signal first, an hour's members fell anywhere in the index. A session lives minutes
-- and sends a few events to several components and signals: keyed session first, an hour's rows of
-- one session sit side by side, on one page, whatever the size of the day. Users take the same
-- order, one rule for both sets; a user active in the hour still costs a page of its own once the
-- day holds many rows per user, so the users' part still grows with the day.
--
-- The sets are a cache of raw rows: those of every day are dropped here, and the next refresh tracks
-- the recent days anew from their raw rows (as after a crash), under the new key.

SELECT resilience_rollup_lock();

DO $$
DECLARE
    part regclass;
BEGIN
    DELETE FROM resilience_rollup_tracked_days;
    FOR part IN SELECT i.inhrelid::regclass FROM pg_inherits i
                WHERE i.inhparent IN ('resilience_rollup_day_users'::regclass, 'resilience_rollup_day_sessions'::regclass)
    LOOP
        EXECUTE format('DROP TABLE %s', part);
    END LOOP;
END $$;

ALTER TABLE resilience_rollup_day_users
    DROP CONSTRAINT resilience_rollup_day_users_pkey, ADD PRIMARY KEY (user_id, component, signal, day);
ALTER TABLE resilience_rollup_day_sessions
    DROP CONSTRAINT resilience_rollup_day_sessions_pkey, ADD PRIMARY KEY (session_id, component, signal, day);

-- A day entering the tracked window: its sets built aside from the raw rows, in the same statement
-- (one snapshot) as its rebuild, then indexed and attached; the day is tracked from then on.
CREATE OR REPLACE FUNCTION resilience_rollup_track(day timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    users text := resilience_rollup_set_partition('users', day);
    sessions text := resilience_rollup_set_partition('sessions', day);
    fill text := 'INSERT INTO %I (day, component, signal, %s, hours) '
                 'SELECT $1, component, signal, %s, bit_or(resilience_rollup_hour_bit(ts)) FROM resilience_metrics '
                 'WHERE ts >= $1 AND ts < $1 + interval ''1 day'' %s GROUP BY 2, 3, 4';
    bounds text := 'FOR VALUES FROM (%L) TO (%L)';
BEGIN
    -- Sets of a day that is not tracked are stale (its tracking was undone): replaced whole.
    IF to_regclass(users) IS NOT NULL OR to_regclass(sessions) IS NOT NULL THEN
        EXECUTE format('DROP TABLE IF EXISTS %I, %I', users, sessions);
    END IF;
    EXECUTE format('CREATE UNLOGGED TABLE %I (LIKE resilience_rollup_day_users)', users);
    EXECUTE format('CREATE UNLOGGED TABLE %I (LIKE resilience_rollup_day_sessions)', sessions);
    EXECUTE format('WITH u AS (' || fill || '), s AS (' || fill || ') '
                   'INSERT INTO rollup_rebuilt SELECT $1, r.* FROM resilience_rollup_rebuild($1) r',
                   users, 'user_id', 'user_id', 'AND user_id IS NOT NULL', sessions, 'session_id', 'session_id', '')
    USING day;
    EXECUTE format('ALTER TABLE %I ADD PRIMARY KEY (user_id, component, signal, day)', users);
    EXECUTE format('ALTER TABLE %I ADD PRIMARY KEY (session_id, component, signal, day)', sessions);
    EXECUTE format('ALTER TABLE resilience_rollup_day_users ATTACH PARTITION %I ' || bounds,
                   users, day, day + interval '1 day');
    EXECUTE format('ALTER TABLE resilience_rollup_day_sessions ATTACH PARTITION %I ' || bounds,
                   sessions, day, day + interval '1 day');
    INSERT INTO resilience_rollup_tracked_days (day) VALUES (day);
END $$;


-- The last part of a refresh: rebuilds the days no other connection did, tracks the days entering
-- the window if nobody did yet, applies both, adds the pending rows of tracked days, and updates the all-components
-- totals. Returns how many hour and day buckets changed and how many rollup rows were written.
CREATE OR REPLACE FUNCTION resilience_rollup_refresh_finish()
RETURNS TABLE (hours bigint, days bigint, hourly_rows bigint, daily_rows bigint)
LANGUAGE plpgsql AS $$
DECLARE
    d timestamptz;
    h timestamptz;
    n bigint;
    hourly bigint := 0;
    daily bigint := 0;
    members record;
BEGIN
    IF to_regclass('pg_temp.rollup_refresh_days') IS NULL THEN
        RAISE EXCEPTION 'resilience_rollup_refresh_start() must run first, in the same transaction';
    END IF;
    PERFORM resilience_rollup_refresh_track();
    FOR d IN SELECT r.day FROM rollup_refresh_days r
             WHERE r.path = 'rebuild' AND NOT EXISTS (SELECT 1 FROM rollup_rebuilt b WHERE b.day = r.day)
             ORDER BY 1 LOOP
        INSERT INTO rollup_rebuilt SELECT d, r.* FROM resilience_rollup_rebuild(d) r;
    END LOOP;

    -- Rebuilt days: take what each snapshot saw, and replace the buckets it recomputed. Buckets
    -- without raw rows left (their partition already dropped) keep their history.
    INSERT INTO rollup_rebuilt_days SELECT r.day, r.snapshot FROM rollup_rebuilt r WHERE r.unit = 'snapshot';
    DELETE FROM resilience_rollup_pending p USING rollup_rebuilt_days b
    WHERE date_bin('1 day', p.hour, timestamptz '2000-01-01 00:00+00') = b.day
      AND pg_visible_in_snapshot(p.xid, b.snapshot);
    DELETE FROM resilience_rollup_pending_signal p USING rollup_rebuilt_days b
    WHERE date_bin('1 day', p.hour, timestamptz '2000-01-01 00:00+00') = b.day
      AND pg_visible_in_snapshot(p.xid, b.snapshot);
    DELETE FROM resilience_rollup_pending_rows p USING rollup_rebuilt_days b
    WHERE date_bin('1 day', p.ts, timestamptz '2000-01-01 00:00+00') = b.day
      AND pg_visible_in_snapshot(p.xid, b.snapshot);
    DELETE FROM resilience_rollup_hourly WHERE bucket IN (SELECT bucket FROM rollup_rebuilt WHERE unit = 'hour');
    INSERT INTO resilience_rollup_hourly (bucket, component, signal, count, unique_users, unique_sessions)
    SELECT bucket, component, signal, count, unique_users, unique_sessions FROM rollup_rebuilt WHERE unit = 'hour';
    GET DIAGNOSTICS n = ROW_COUNT;
    hourly := hourly + n;
    DELETE FROM resilience_rollup_daily WHERE bucket IN (SELECT bucket FROM rollup_rebuilt WHERE unit = 'day');
    INSERT INTO resilience_rollup_daily (bucket, component, signal, count, unique_users, unique_sessions)
    SELECT bucket, component, signal, count, unique_users, unique_sessions FROM rollup_rebuilt WHERE unit = 'day';
    GET DIAGNOSTICS n = ROW_COUNT;
    daily := daily + n;
    -- Slices of a rebuilt hour replace all of that hour's slices.
    DELETE FROM resilience_rollup_signal_slices
    WHERE date_bin('1 hour', bucket, timestamptz '2000-01-01 00:00+00')
          IN (SELECT bucket FROM rollup_rebuilt WHERE unit = 'hour');
    INSERT INTO resilience_rollup_signal_slices (bucket, signal, count)
    SELECT bucket, signal, count FROM rollup_rebuilt WHERE unit = 'slice';

    -- Tracked days: take their pending rows and counts in one statement (one snapshot), and add
    -- the rows' counts.
    WITH taken_counts AS (
        DELETE FROM resilience_rollup_pending p USING rollup_refresh_days t
        WHERE t.path = 'tracked' AND p.hour >= t.day AND p.hour < t.day + interval '1 day'
    ),
    taken_totals AS (
        DELETE FROM resilience_rollup_pending_signal p USING rollup_refresh_days t
        WHERE t.path = 'tracked' AND p.hour >= t.day AND p.hour < t.day + interval '1 day'
    ),
    taken AS (
        DELETE FROM resilience_rollup_pending_rows p USING rollup_refresh_days t
        WHERE t.path = 'tracked' AND p.ts >= t.day AND p.ts < t.day + interval '1 day'
        RETURNING p.*
    )
    INSERT INTO rollup_taken SELECT * FROM taken;
    INSERT INTO rollup_added (unit, bucket, component, signal, count, new_users, new_sessions)
    SELECT CASE WHEN GROUPING(hour) = 0 THEN 'hour' ELSE 'day' END, coalesce(hour, day), component, signal,
           count(*), 0, 0
    FROM (SELECT date_bin('1 hour', ts, timestamptz '2000-01-01 00:00+00') AS hour,
                 date_bin('1 day', ts, timestamptz '2000-01-01 00:00+00') AS day, component, signal
          FROM rollup_taken) r
    GROUP BY GROUPING SETS ((hour, component, signal), (day, component, signal));
    -- Their users and sessions go into the sets one hour at a time (usually one). A member written
    -- for hour h did not have h's bit yet: new to the hour. If its hours are then h's bit alone, the
    -- row was just inserted: new to the day. The one write per member both records and counts it;
    -- written in index order (member first), a member's rows share the pages they touch.
    FOR h IN SELECT DISTINCT date_bin('1 hour', ts, timestamptz '2000-01-01 00:00+00') FROM rollup_taken LOOP
        FOR members IN SELECT * FROM (VALUES ('resilience_rollup_day_users', 'user_id', 'new_users'),
                                             ('resilience_rollup_day_sessions', 'session_id', 'new_sessions'))
                                     AS m (tbl, col, added)
        LOOP
            EXECUTE format(
                'WITH written AS ('
                '    INSERT INTO %1$I AS s (day, component, signal, %2$I, hours)'
                '    SELECT DISTINCT date_bin(''1 day'', $1, timestamptz ''2000-01-01 00:00+00''), component, signal,'
                '           %2$I, resilience_rollup_hour_bit($1)'
                '    FROM rollup_taken WHERE ts >= $1 AND ts < $1 + interval ''1 hour'' AND %2$I IS NOT NULL'
                '    ORDER BY %2$I, component, signal'
                '    ON CONFLICT (%2$I, component, signal, day) DO UPDATE SET hours = s.hours | excluded.hours'
                '    WHERE s.hours & excluded.hours = 0'
                '    RETURNING day, component, signal, hours = resilience_rollup_hour_bit($1) AS new_to_day'
                ') '
                'INSERT INTO rollup_added (unit, bucket, component, signal, count, %3$I) '
                'SELECT ''hour'', $1, component, signal, 0, count(*) FROM written GROUP BY 3, 4 '
                'UNION ALL '
                'SELECT ''day'', day, component, signal, 0, count(*) FILTER (WHERE new_to_day) FROM written GROUP BY 2, 3, 4',
                members.tbl, members.col, members.added)
            USING h;
        END LOOP;
    END LOOP;
    INSERT INTO resilience_rollup_hourly AS r (bucket, component, signal, count, unique_users, unique_sessions)
    SELECT bucket, component, signal, sum(count), sum(new_users), sum(new_sessions) FROM rollup_added
    WHERE unit = 'hour' GROUP BY 1, 2, 3
    ON CONFLICT (bucket, component, signal) DO UPDATE
    SET count = r.count + excluded.count, unique_users = r.unique_users + excluded.unique_users,
        unique_sessions = r.unique_sessions + excluded.unique_sessions;
    GET DIAGNOSTICS n = ROW_COUNT;
    hourly := hourly + n;
    INSERT INTO resilience_rollup_daily AS r (bucket, component, signal, count, unique_users, unique_sessions)
    SELECT bucket, component, signal, sum(count), sum(new_users), sum(new_sessions) FROM rollup_added
    WHERE unit = 'day' GROUP BY 1, 2, 3
    ON CONFLICT (bucket, component, signal) DO UPDATE
    SET count = r.count + excluded.count, unique_users = r.unique_users + excluded.unique_users,
        unique_sessions = r.unique_sessions + excluded.unique_sessions;
    GET DIAGNOSTICS n = ROW_COUNT;
    daily := daily + n;
    INSERT INTO resilience_rollup_signal_slices AS r (bucket, signal, count)
    SELECT date_bin('5 minutes', ts, timestamptz '2000-01-01 00:00+00'), signal, count(*) FROM rollup_taken GROUP BY 1, 2
    ON CONFLICT (bucket, signal) DO UPDATE SET count = r.count + excluded.count;

    -- The all-components totals of every changed bucket follow from its per-component rows.
    INSERT INTO rollup_changed
    SELECT unit, bucket FROM rollup_rebuilt WHERE unit IN ('hour', 'day')
    UNION
    SELECT unit, bucket FROM rollup_added;
    DELETE FROM resilience_rollup_signal_hourly WHERE bucket IN (SELECT bucket FROM rollup_changed WHERE unit = 'hour');
    INSERT INTO resilience_rollup_signal_hourly (bucket, signal, count)
    SELECT bucket, signal, sum(count) FROM resilience_rollup_hourly
    WHERE bucket IN (SELECT bucket FROM rollup_changed WHERE unit = 'hour') GROUP BY 1, 2;
    DELETE FROM resilience_rollup_signal_daily WHERE bucket IN (SELECT bucket FROM rollup_changed WHERE unit = 'day');
    INSERT INTO resilience_rollup_signal_daily (bucket, signal, count)
    SELECT bucket, signal, sum(count) FROM resilience_rollup_daily
    WHERE bucket IN (SELECT bucket FROM rollup_changed WHERE unit = 'day') GROUP BY 1, 2;

    RETURN QUERY
    SELECT count(*) FILTER (WHERE c.unit = 'hour'), count(*) FILTER (WHERE c.unit = 'day'), hourly, daily
    FROM rollup_changed c;
END $$;

