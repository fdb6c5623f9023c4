-- The refresh's member sets split in two, so that an hourly refresh touches only what stays small:
--   hour sets  (hour, user_id | session_id, component, signal): the members seen in each hour of a
--              tracked day, keyed hour first. A refresh inserts its hour's members there; those
--              inserted are new to the hour. The hour's part of the index is all the insert touches.
--   day bitmaps (user_id | session_id, day, pairs): one row per member and day; bit n of pairs is
--              set when the member was seen that day with the component and signal numbered n
--              (resilience_rollup_pairs). A member new to the hour is new to the day when its bit
--              is not set yet. A row is a few bytes per component, whatever the member's rows.
--
-- Keyed (member, component, signal, day) with a map of hours, a day's sets held a row per member,
-- component and signal, and an hourly refresh read and rewrote one for every member, component and
-- signal of the hour. On a day of ten times the rows those rows no longer stayed in memory (918 MB
-- with their indexes at the benchmark's 3.33M rows a day, against 128 MB of shared buffers), and
-- the refresh cost about half as much again as on the usual day. Here an hour's writes go to the
-- hour's own part of the hour sets and to day bitmaps of about 100 bytes per member.
--
-- The sets are a cache of raw rows: those of every day are dropped here, and the next refresh tracks
-- the recent days anew from their raw rows (as after a crash), in the new shape.

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

DROP TABLE resilience_rollup_day_users, resilience_rollup_day_sessions;

-- Every component and signal the sets have met, numbered from 0: the number is the pair's bit in the
-- day bitmaps. Rows are only added, by the refresh under its lock (resilience_rollup_number_pairs).
CREATE TABLE resilience_rollup_pairs (
    pair      integer PRIMARY KEY,
    component text    NOT NULL,
    signal    text    NOT NULL,
    UNIQUE (component, signal)
);

CREATE TABLE resilience_rollup_hour_users (
    hour      timestamptz NOT NULL,
    user_id   uuid        NOT NULL,
    component text        NOT NULL,
    signal    text        NOT NULL,
    PRIMARY KEY (hour, user_id, component, signal)
) PARTITION BY RANGE (hour);

CREATE TABLE resilience_rollup_hour_sessions (
    hour       timestamptz NOT NULL,
    session_id text        NOT NULL,
    component  text        NOT NULL,
    signal     text        NOT NULL,
    PRIMARY KEY (hour, session_id, component, signal)
) PARTITION BY RANGE (hour);

CREATE TABLE resilience_rollup_day_users (
    user_id uuid        NOT NULL,
    day     timestamptz NOT NULL,
    pairs   varbit      NOT NULL,
    PRIMARY KEY (user_id, day)
) PARTITION BY RANGE (day);

CREATE TABLE resilience_rollup_day_sessions (
    session_id text        NOT NULL,
    day        timestamptz NOT NULL,
    pairs      varbit      NOT NULL,
    PRIMARY KEY (session_id, day)
) PARTITION BY RANGE (day);

-- The partition names of a day's hour sets (its day bitmaps are resilience_rollup_set_partition's).
CREATE FUNCTION resilience_rollup_hour_set_partition(kind text, day timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT format('resilience_rollup_hour_%s_p%s', kind, to_char(day AT TIME ZONE 'UTC', 'YYYYMMDD'))
$$;

-- Whether a day bitmap has the pair's bit; a bitmap is as wide as the pairs numbered when it was
-- last written, so a later pair's bit is beyond its end, and not set.
CREATE FUNCTION resilience_rollup_has_pair(pairs varbit, pair integer) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(CASE WHEN pair < length(pairs) THEN get_bit(pairs, pair) = 1 END, false)
$$;

-- A bitmap of the given width with the pair's bit alone set.
CREATE FUNCTION resilience_rollup_pair_bit(pair integer, width integer) RETURNS varbit
LANGUAGE sql IMMUTABLE AS $$ SELECT set_bit(repeat('0', width)::varbit, pair, 1) $$;

-- A bitmap padded with unset bits to the given width, so it can be or-ed with one of that width.
CREATE FUNCTION resilience_rollup_widen(pairs varbit, width integer) RETURNS varbit
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN length(pairs) >= width THEN pairs ELSE pairs || repeat('0', width - length(pairs))::varbit END
$$;

-- Numbers the components and signals of the rows taken and of the days rebuilt in this refresh that
-- have no number yet (the refresh's temporary tables; only the refresh writes here, under its
-- lock); returns the width of a bitmap holding every number.
CREATE FUNCTION resilience_rollup_number_pairs() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    width integer;
BEGIN
    INSERT INTO resilience_rollup_pairs (pair, component, signal)
    SELECT coalesce((SELECT max(pair) FROM resilience_rollup_pairs), -1)
           + row_number() OVER (ORDER BY n.component, n.signal), n.component, n.signal
    FROM (SELECT component, signal FROM rollup_taken
          UNION
          SELECT component, signal FROM rollup_rebuilt WHERE unit = 'day') n
    WHERE NOT EXISTS (SELECT 1 FROM resilience_rollup_pairs p WHERE p.component = n.component AND p.signal = n.signal);
    SELECT max(pair) + 1 INTO width FROM resilience_rollup_pairs;
    RETURN width;
END $$;

-- The first part of a refresh, as in 006, dropping the hour sets with the day bitmaps of a day
-- that left the tracked window.
CREATE OR REPLACE FUNCTION resilience_rollup_refresh_start() RETURNS SETOF timestamptz
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
        PERFORM resilience_rollup_drop_sets(gone);
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

-- Drops a day's sets: its hour sets and its day bitmaps.
CREATE FUNCTION resilience_rollup_drop_sets(day timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('DROP TABLE IF EXISTS %I, %I, %I, %I',
                   resilience_rollup_hour_set_partition('users', day), resilience_rollup_hour_set_partition('sessions', day),
                   resilience_rollup_set_partition('users', day), resilience_rollup_set_partition('sessions', day));
END $$;

-- A day entering the tracked window: its hour sets built aside from the raw rows, in the same
-- statement (one snapshot) as its rebuild, its day bitmaps from its hour sets, then indexed and
-- attached; the day is tracked from then on.
CREATE OR REPLACE FUNCTION resilience_rollup_track(day timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    hour_users text := resilience_rollup_hour_set_partition('users', day);
    hour_sessions text := resilience_rollup_hour_set_partition('sessions', day);
    day_users text := resilience_rollup_set_partition('users', day);
    day_sessions text := resilience_rollup_set_partition('sessions', day);
    hours text := 'INSERT INTO %1$I (hour, %2$I, component, signal) '
                  'SELECT DISTINCT date_bin(''1 hour'', ts, timestamptz ''2000-01-01 00:00+00''), %2$I, component, signal '
                  'FROM resilience_metrics WHERE ts >= $1 AND ts < $1 + interval ''1 day'' AND %2$I IS NOT NULL '
                  'ORDER BY 1, 2, 3, 4';
    days text := 'INSERT INTO %1$I (%2$I, day, pairs) '
                 'SELECT h.%2$I, $1, bit_or(resilience_rollup_pair_bit(p.pair, $2)) '
                 'FROM %3$I h JOIN resilience_rollup_pairs p USING (component, signal) GROUP BY 1 ORDER BY 1';
    bounds text := 'FOR VALUES FROM (%L) TO (%L)';
    width integer;
BEGIN
    -- Sets of a day that is not tracked are stale (its tracking was undone): replaced whole.
    PERFORM resilience_rollup_drop_sets(day);
    EXECUTE format('CREATE UNLOGGED TABLE %I (LIKE resilience_rollup_hour_users)', hour_users);
    EXECUTE format('CREATE UNLOGGED TABLE %I (LIKE resilience_rollup_hour_sessions)', hour_sessions);
    EXECUTE format('CREATE UNLOGGED TABLE %I (LIKE resilience_rollup_day_users)', day_users);
    EXECUTE format('CREATE UNLOGGED TABLE %I (LIKE resilience_rollup_day_sessions)', day_sessions);
    EXECUTE 'WITH u AS (' || format(hours, hour_users, 'user_id') || '), '
            's AS (' || format(hours, hour_sessions, 'session_id') || ') '
            'INSERT INTO rollup_rebuilt SELECT $1, r.* FROM resilience_rollup_rebuild($1) r'
    USING day;
    width := resilience_rollup_number_pairs();
    EXECUTE format(days, day_users, 'user_id', hour_users) USING day, width;
    EXECUTE format(days, day_sessions, 'session_id', hour_sessions) USING day, width;
    EXECUTE format('ALTER TABLE %I ADD PRIMARY KEY (hour, user_id, component, signal)', hour_users);
    EXECUTE format('ALTER TABLE %I ADD PRIMARY KEY (hour, session_id, component, signal)', hour_sessions);
    EXECUTE format('ALTER TABLE %I ADD PRIMARY KEY (user_id, day)', day_users);
    EXECUTE format('ALTER TABLE %I ADD PRIMARY KEY (session_id, day)', day_sessions);
    EXECUTE format('ALTER TABLE resilience_rollup_hour_users ATTACH PARTITION %I ' || bounds,
                   hour_users, day, day + interval '1 day');
    EXECUTE format('ALTER TABLE resilience_rollup_hour_sessions ATTACH PARTITION %I ' || bounds,
                   hour_sessions, day, day + interval '1 day');
    EXECUTE format('ALTER TABLE resilience_rollup_day_users ATTACH PARTITION %I ' || bounds,
                   day_users, day, day + interval '1 day');
    EXECUTE format('ALTER TABLE resilience_rollup_day_sessions ATTACH PARTITION %I ' || bounds,
                   day_sessions, day, day + interval '1 day');
    INSERT INTO resilience_rollup_tracked_days (day) VALUES (day);
END $$;

-- The users and sessions of one hour of the taken rows (rollup_taken) written into their day's
-- sets, and counted into rollup_added per component and signal: those the hour set did not hold
-- (new to the hour), and of those, the ones whose bit the day bitmap did not have (new to the day).
-- One insert per member, component and signal into the hour's part of the hour set; one write of
-- the day bitmap per member new to the day with any of them. The pairs must be numbered first;
-- width is what resilience_rollup_number_pairs returned.
CREATE FUNCTION resilience_rollup_write_members(taken_hour timestamptz, width integer) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    members record;
BEGIN
    FOR members IN SELECT * FROM (VALUES ('resilience_rollup_hour_users', 'resilience_rollup_day_users', 'user_id', 'new_users'),
                                         ('resilience_rollup_hour_sessions', 'resilience_rollup_day_sessions', 'session_id', 'new_sessions'))
                                 AS m (hour_set, day_set, col, added)
    LOOP
        EXECUTE format(
            'WITH new_to_hour AS ('
            '    INSERT INTO %1$I (hour, %3$I, component, signal)'
            '    SELECT DISTINCT $1, %3$I, component, signal FROM rollup_taken'
            '    WHERE ts >= $1 AND ts < $1 + interval ''1 hour'' AND %3$I IS NOT NULL ORDER BY 2, 3, 4'
            '    ON CONFLICT DO NOTHING'
            '    RETURNING %3$I AS member, component, signal'
            '), '
            'probed AS MATERIALIZED ('
            '    SELECT n.member, n.component, n.signal, p.pair, resilience_rollup_has_pair(d.pairs, p.pair) AS in_day'
            '    FROM new_to_hour n JOIN resilience_rollup_pairs p ON p.component = n.component AND p.signal = n.signal'
            '    LEFT JOIN %2$I d ON d.%3$I = n.member AND d.day = $2'
            '), '
            'written AS ('
            '    INSERT INTO %2$I AS d (%3$I, day, pairs)'
            '    SELECT member, $2, bit_or(resilience_rollup_pair_bit(pair, $3)) FROM probed WHERE NOT in_day'
            '    GROUP BY member ORDER BY member'
            '    ON CONFLICT (%3$I, day) DO UPDATE SET pairs = resilience_rollup_widen(d.pairs, $3) | excluded.pairs'
            ') '
            'INSERT INTO rollup_added (unit, bucket, component, signal, count, %4$I) '
            'SELECT ''hour'', $1, component, signal, 0, count(*) FROM probed GROUP BY 3, 4 '
            'UNION ALL '
            'SELECT ''day'', $2, component, signal, 0, count(*) FILTER (WHERE NOT in_day) FROM probed GROUP BY 3, 4',
            members.hour_set, members.day_set, members.col, members.added)
        USING taken_hour, date_bin('1 day', taken_hour, timestamptz '2000-01-01 00:00+00'), width;
    END LOOP;
END $$;

-- As in 011, the members' writes aside (resilience_rollup_write_members).
CREATE OR REPLACE FUNCTION resilience_rollup_refresh_finish()
RETURNS TABLE (hours bigint, days bigint, hourly_rows bigint, daily_rows bigint)
LANGUAGE plpgsql AS $$
DECLARE
    d timestamptz;
    h timestamptz;
    n bigint;
    hourly bigint := 0;
    daily bigint := 0;
    width integer;
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
    -- Their users and sessions go into the sets one hour at a time (usually one).
    IF EXISTS (SELECT 1 FROM rollup_taken) THEN
        width := resilience_rollup_number_pairs();
        FOR h IN SELECT DISTINCT date_bin('1 hour', ts, timestamptz '2000-01-01 00:00+00') FROM rollup_taken LOOP
            PERFORM resilience_rollup_write_members(h, width);
        END LOOP;
    END IF;
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


-- As in 009, probing the sets' new shape: a row's member is new to its hour when the hour set does
-- not hold it with the row's component and signal, and new to its day when its day bitmap lacks the
-- pair's bit (a pair without a number yet is in no bitmap).
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
        WITH pending AS (
            SELECT p.ts, p.component, p.signal, p.user_id, p.session_id,
                   date_bin('1 hour', p.ts, timestamptz '2000-01-01 00:00+00') AS hour,
                   date_bin('1 day', p.ts, timestamptz '2000-01-01 00:00+00') AS day
            FROM resilience_rollup_pending_rows p
            WHERE p.ts >= lo AND p.ts < hi
        ),
        seen AS (
            SELECT r.*,
                   EXISTS (SELECT 1 FROM resilience_rollup_hour_users h
                           WHERE h.hour = r.hour AND h.user_id = r.user_id
                             AND h.component = r.component AND h.signal = r.signal) AS user_in_hour,
                   resilience_rollup_has_pair(du.pairs, pr.pair) AS user_in_day,
                   EXISTS (SELECT 1 FROM resilience_rollup_hour_sessions h
                           WHERE h.hour = r.hour AND h.session_id = r.session_id
                             AND h.component = r.component AND h.signal = r.signal) AS session_in_hour,
                   resilience_rollup_has_pair(ds.pairs, pr.pair) AS session_in_day
            FROM pending r
            LEFT JOIN resilience_rollup_pairs pr ON pr.component = r.component AND pr.signal = r.signal
            LEFT JOIN resilience_rollup_day_users du ON du.user_id = r.user_id AND du.day = r.day
            LEFT JOIN resilience_rollup_day_sessions ds ON ds.session_id = r.session_id AND ds.day = r.day
        )
        SELECT CASE WHEN GROUPING(hour) = 0 THEN 'hour' ELSE 'day' END,
               coalesce(hour, day), component, signal, count(*),
               CASE WHEN GROUPING(hour) = 0
                    THEN count(DISTINCT user_id) FILTER (WHERE NOT user_in_hour)
                    ELSE count(DISTINCT user_id) FILTER (WHERE NOT user_in_day) END,
               CASE WHEN GROUPING(hour) = 0
                    THEN count(DISTINCT session_id) FILTER (WHERE NOT session_in_hour)
                    ELSE count(DISTINCT session_id) FILTER (WHERE NOT session_in_day) END
        FROM seen
        GROUP BY GROUPING SETS ((hour, component, signal), (day, component, signal));
END
$$;
