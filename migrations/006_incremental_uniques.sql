-- Unique users and sessions kept up to date from the rows stored since the last refresh, so an
-- hourly refresh costs the new rows, not the day they land in.
--
-- How the refresh sees each day that received rows (all in UTC):
--   tracked  the last three days keep the set of users and sessions seen per component and signal,
--            with the hours each was seen in. A refresh adds the new rows' counts and writes their
--            users and sessions into the sets; that one write per member also tells whether it is
--            new to the hour and to the day. Exact, and its cost follows the new rows.
--   track    a day inside that window without sets yet (a new day, or the first refresh after
--            this migration): rolled up from its raw rows, and its sets filled from the same
--            snapshot, so the rollups and the sets agree.
--   rebuild  an older day (late events, or a first refresh over existing data): its dirty hours
--            and the day recomputed from raw rows, as before. These are independent reads, so
--            the refresh may run them on other connections at once (rollups.py does).
-- Sets of days that leave the window are dropped whole, a partition at a time; retention of raw
-- rows stays a partition drop too. The sets are unlogged, rebuilt from raw rows after a crash.
--
-- Every pending count and pending row carries the transaction that stored it. A rebuild reads
-- raw rows under one snapshot and takes exactly the pending counts and rows of the transactions
-- that snapshot saw (pg_visible_in_snapshot); rows committed after it stay pending for the next
-- refresh. So readers, which add pending counts to the rollups, never see a row twice or miss one.

ALTER TABLE resilience_rollup_pending ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id();
ALTER TABLE resilience_rollup_pending_signal ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id();

-- The rows of recent days stored since the last refresh: the columns the unique counts need.
-- Append-only, no index: the refresh takes them all, a few days' worth at most.
CREATE TABLE resilience_rollup_pending_rows (
    ts         timestamptz NOT NULL,
    component  text        NOT NULL,
    signal     text        NOT NULL,
    user_id    uuid,
    session_id text        NOT NULL,
    xid        xid8        NOT NULL DEFAULT pg_current_xact_id()
);

-- Queues that every refresh empties: vacuumed soon after, so the refresh's scans of them stay short.
ALTER TABLE resilience_rollup_pending SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000);
ALTER TABLE resilience_rollup_pending_signal SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000);
ALTER TABLE resilience_rollup_pending_rows SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000);

-- The users and sessions seen per day, component and signal; bit h of hours is set when the member
-- was seen in hour h (UTC) of that day. One partition per tracked day.
CREATE TABLE resilience_rollup_day_users (
    day       timestamptz NOT NULL,
    component text        NOT NULL,
    signal    text        NOT NULL,
    user_id   uuid        NOT NULL,
    hours     integer     NOT NULL,
    PRIMARY KEY (component, signal, user_id, day)
) PARTITION BY RANGE (day);

CREATE TABLE resilience_rollup_day_sessions (
    day        timestamptz NOT NULL,
    component  text        NOT NULL,
    signal     text        NOT NULL,
    session_id text        NOT NULL,
    hours      integer     NOT NULL,
    PRIMARY KEY (component, signal, session_id, day)
) PARTITION BY RANGE (day);

-- The days whose sets are complete (a partition of each set table exists for them).
CREATE TABLE resilience_rollup_tracked_days (
    day timestamptz PRIMARY KEY
);

-- Where the tracked window starts: midnight UTC two days before now's day.
CREATE FUNCTION resilience_rollup_tracked_since() RETURNS timestamptz
LANGUAGE sql STABLE AS $$ SELECT date_trunc('day', now(), 'UTC') - interval '2 days' $$;

-- The bit of a timestamp's hour within its UTC day.
CREATE FUNCTION resilience_rollup_hour_bit(ts timestamptz) RETURNS integer
LANGUAGE sql IMMUTABLE AS $$ SELECT 1 << extract(hour FROM ts AT TIME ZONE 'UTC')::integer $$;

CREATE OR REPLACE FUNCTION resilience_rollup_mark_pending() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    -- One day earlier than the tracked window: a refresh that began before midnight and takes
    -- these rows after it still finds every row of the days it tracks.
    since timestamptz := resilience_rollup_tracked_since() - interval '1 day';
BEGIN
    INSERT INTO resilience_rollup_pending (hour, component, signal, count)
    SELECT date_trunc('hour', ts, 'UTC'), component, signal, count(*)
    FROM inserted
    GROUP BY 1, 2, 3;
    INSERT INTO resilience_rollup_pending_signal (hour, signal, count)
    SELECT date_trunc('hour', ts, 'UTC'), signal, count(*)
    FROM inserted
    GROUP BY 1, 2;
    INSERT INTO resilience_rollup_pending_rows (ts, component, signal, user_id, session_id)
    SELECT ts, component, signal, user_id, session_id
    FROM inserted
    WHERE ts >= since;
    RETURN NULL;
END $$;

-- Counts and unique users and sessions per bucket (step: an hour or a day) over [lo, hi), from raw
-- rows: the one definition the rebuilds and the fresh series points share. One pass that hashes
-- (bucket, component, signal, user) and (bucket, component, signal, session) at once; in the
-- grouping set by user, session_id is NULL (it never is in a row).
CREATE FUNCTION resilience_rollup_recompute(step interval, lo timestamptz, hi timestamptz)
RETURNS TABLE (bucket timestamptz, component text, signal text, count bigint, unique_users bigint,
               unique_sessions bigint)
LANGUAGE sql STABLE AS $$
    SELECT g.bucket, g.component, g.signal,
           sum(g.n) FILTER (WHERE g.session_id IS NULL)::bigint, count(g.user_id), count(g.session_id)
    FROM (
        SELECT date_bin(step, m.ts, timestamptz '2000-01-01 00:00+00') AS bucket, m.component, m.signal,
               m.user_id, m.session_id, count(*) AS n
        FROM resilience_metrics m
        WHERE m.ts >= lo AND m.ts < hi
        GROUP BY GROUPING SETS ((1, 2, 3, 4), (1, 2, 3, 5))
    ) g
    GROUP BY 1, 2, 3
$$;

-- What the pending rows in [lo, hi) add to the hour and day buckets of tracked days: their count,
-- and the users and sessions among them that the sets do not hold for that hour or day yet.
-- unit is 'hour' or 'day'. One probe of each set per row decides both.
CREATE FUNCTION resilience_rollup_additions(lo timestamptz, hi timestamptz)
RETURNS TABLE (unit text, bucket timestamptz, component text, signal text, count bigint, new_users bigint,
               new_sessions bigint)
LANGUAGE sql STABLE AS $$
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
    GROUP BY GROUPING SETS ((hour, component, signal), (day, component, signal))
$$;

-- One day rebuilt from raw rows under one snapshot, which it returns (unit 'snapshot'): the day,
-- and those of its hours that have pending counts, with their five-minute slices. Read-only, so
-- it may run on any connection, several days at once.
CREATE FUNCTION resilience_rollup_rebuild(day timestamptz)
RETURNS TABLE (snapshot pg_snapshot, unit text, bucket timestamptz, component text, signal text, count bigint,
               unique_users bigint, unique_sessions bigint)
LANGUAGE sql STABLE AS $$
    WITH hours AS MATERIALIZED (
        SELECT DISTINCT p.hour FROM resilience_rollup_pending p
        WHERE p.hour >= day AND p.hour < day + interval '1 day'
    )
    SELECT pg_current_snapshot(), 'snapshot', day, NULL, NULL, 0::bigint, 0::bigint, 0::bigint
    UNION ALL
    SELECT pg_current_snapshot(), 'day', r.* FROM resilience_rollup_recompute(interval '1 day', day, day + interval '1 day') r
    UNION ALL
    SELECT pg_current_snapshot(), 'hour', r.* FROM resilience_rollup_recompute(interval '1 hour', day, day + interval '1 day') r
    WHERE r.bucket IN (SELECT hour FROM hours)
    UNION ALL
    SELECT pg_current_snapshot(), 'slice', s.bucket, NULL, s.signal, count(*), 0, 0
    FROM (
        SELECT date_bin('5 minutes', m.ts, timestamptz '2000-01-01 00:00+00') AS bucket, m.signal
        FROM resilience_metrics m
        WHERE m.ts >= day AND m.ts < day + interval '1 day'
          AND date_bin('1 hour', m.ts, timestamptz '2000-01-01 00:00+00') IN (SELECT hour FROM hours)
    ) s
    GROUP BY s.bucket, s.signal
$$;

-- The lock that serialises refreshes and trims, held until the transaction ends. A refresh waiting
-- for it then finds only what arrived after the one before it.
CREATE FUNCTION resilience_rollup_lock() RETURNS void
LANGUAGE sql AS $$ SELECT pg_advisory_xact_lock(2119245841) $$;

-- The partition names of a day's sets.
CREATE FUNCTION resilience_rollup_set_partition(kind text, day timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT format('resilience_rollup_day_%s_p%s', kind, to_char(day AT TIME ZONE 'UTC', 'YYYYMMDD'))
$$;

-- Whether a day's sets can be used: the day is tracked, and its sets survived. They are unlogged
-- (a refresh writes no WAL for them, no full-page images of a big index): a crash empties them,
-- and a failover or a replica never has them. Such a day is tracked anew from raw rows; a tracked
-- day always has a session, so an empty sessions partition means lost sets.
CREATE FUNCTION resilience_rollup_is_tracked(day timestamptz) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM resilience_rollup_tracked_days t WHERE t.day = $1)
       AND NOT pg_is_in_recovery()
       AND coalesce(pg_relation_size(to_regclass(resilience_rollup_set_partition('sessions', $1))), 0) > 0
$$;

-- The first part of a refresh: takes the refresh lock (until the transaction ends), drops the sets
-- of days that left the tracked window, sorts the days with pending counts into tracked, track and
-- rebuild, and returns the rebuild days. A caller may rebuild those on other connections (and run
-- resilience_rollup_refresh_track() meanwhile) and load the results into rollup_rebuilt before
-- resilience_rollup_refresh_finish(), which does whatever is left.
CREATE FUNCTION resilience_rollup_refresh_start() RETURNS SETOF timestamptz
LANGUAGE plpgsql AS $$
DECLARE
    since timestamptz := resilience_rollup_tracked_since();
    gone timestamptz;
BEGIN
    PERFORM resilience_rollup_lock();
    -- Sorting a day's distinct users and sessions in memory rather than on disk.
    SET LOCAL work_mem = '64MB';
    FOR gone IN DELETE FROM resilience_rollup_tracked_days t
                WHERE t.day < since OR NOT resilience_rollup_is_tracked(t.day) RETURNING t.day LOOP
        EXECUTE format('DROP TABLE IF EXISTS %I, %I',
                       resilience_rollup_set_partition('users', gone), resilience_rollup_set_partition('sessions', gone));
    END LOOP;
    IF to_regclass('pg_temp.rollup_refresh_days') IS NULL THEN
        CREATE TEMP TABLE rollup_refresh_days (day timestamptz PRIMARY KEY, path text NOT NULL) ON COMMIT DROP;
        CREATE TEMP TABLE rollup_rebuilt (
            day timestamptz NOT NULL, snapshot pg_snapshot NOT NULL, unit text NOT NULL, bucket timestamptz NOT NULL,
            component text, signal text, count bigint NOT NULL, unique_users bigint NOT NULL,
            unique_sessions bigint NOT NULL
        ) ON COMMIT DROP;
        CREATE TEMP TABLE rollup_taken (LIKE resilience_rollup_pending_rows) ON COMMIT DROP;
        CREATE TEMP TABLE rollup_added (
            unit text NOT NULL, bucket timestamptz NOT NULL, component text NOT NULL, signal text NOT NULL,
            count bigint NOT NULL, new_users bigint NOT NULL DEFAULT 0, new_sessions bigint NOT NULL DEFAULT 0
        ) ON COMMIT DROP;
        CREATE TEMP TABLE rollup_rebuilt_days (day timestamptz PRIMARY KEY, snapshot pg_snapshot NOT NULL)
            ON COMMIT DROP;
        CREATE TEMP TABLE rollup_changed (unit text, bucket timestamptz, PRIMARY KEY (unit, bucket))
            ON COMMIT DROP;
    END IF;
    -- Rows are left over only when an earlier refresh in this same transaction failed and was caught.
    DELETE FROM rollup_refresh_days;
    DELETE FROM rollup_rebuilt;
    DELETE FROM rollup_rebuilt_days;
    DELETE FROM rollup_taken;
    DELETE FROM rollup_added;
    DELETE FROM rollup_changed;
    INSERT INTO rollup_refresh_days (day, path)
    SELECT d.day, CASE WHEN t.day IS NOT NULL THEN 'tracked' WHEN d.day >= since THEN 'track' ELSE 'rebuild' END
    FROM (SELECT DISTINCT date_bin('1 day', hour, timestamptz '2000-01-01 00:00+00') AS day
          FROM resilience_rollup_pending) d
    LEFT JOIN resilience_rollup_tracked_days t USING (day);
    RETURN QUERY SELECT day FROM rollup_refresh_days WHERE path = 'rebuild' ORDER BY day;
END $$;

-- A day entering the tracked window: its sets built aside from the raw rows, in the same statement
-- (one snapshot) as its rebuild, then indexed and attached; the day is tracked from then on.
CREATE FUNCTION resilience_rollup_track(day timestamptz) RETURNS void
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
    EXECUTE format('ALTER TABLE %I ADD PRIMARY KEY (component, signal, user_id, day)', users);
    EXECUTE format('ALTER TABLE %I ADD PRIMARY KEY (component, signal, session_id, day)', sessions);
    EXECUTE format('ALTER TABLE resilience_rollup_day_users ATTACH PARTITION %I ' || bounds,
                   users, day, day + interval '1 day');
    EXECUTE format('ALTER TABLE resilience_rollup_day_sessions ATTACH PARTITION %I ' || bounds,
                   sessions, day, day + interval '1 day');
    INSERT INTO resilience_rollup_tracked_days (day) VALUES (day);
END $$;

-- Tracks the days entering the window (rollup_refresh_days path 'track'); their rebuilds join the
-- others in rollup_rebuilt. A caller may run this while other connections rebuild older days.
CREATE FUNCTION resilience_rollup_refresh_track() RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    d timestamptz;
BEGIN
    FOR d IN UPDATE rollup_refresh_days SET path = 'rebuild' WHERE path = 'track' RETURNING day LOOP
        PERFORM resilience_rollup_track(d);
    END LOOP;
END $$;

-- The last part of a refresh: rebuilds the days no other connection did, tracks the days entering
-- the window if nobody did yet, applies both, adds the pending rows of tracked days, and updates the all-components
-- totals. Returns how many hour and day buckets changed and how many rollup rows were written.
CREATE FUNCTION resilience_rollup_refresh_finish()
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
    -- written in index order, neighbouring members share the pages they touch.
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
                '    ORDER BY component, signal, %2$I'
                '    ON CONFLICT (component, signal, %2$I, day) DO UPDATE SET hours = s.hours | excluded.hours'
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

-- The original setup's refresh function, under its name and signature: the incremental refresh,
-- so its hourly cron script keeps working.
CREATE FUNCTION refresh_resilience_metrics_views() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM resilience_rollup_refresh_start();
    PERFORM resilience_rollup_refresh_finish();
END $$;
