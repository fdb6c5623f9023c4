-- Partition creation that never takes an ACCESS EXCLUSIVE lock on resilience_metrics.
--
-- The version in 001 used CREATE TABLE ... PARTITION OF, which upgrades its lock on the parent
-- to ACCESS EXCLUSIVE while it already holds the default partition: that blocks every reader
-- and can deadlock with an ingest that holds the parent and waits for the default partition.
-- This one builds the partition as a plain table (indexes included, while it is still empty
-- and private) and then ATTACHes it, which needs only SHARE UPDATE EXCLUSIVE on the parent
-- (ingest and queries keep running) and ACCESS EXCLUSIVE on the default partition for as long
-- as it takes to move that day's stray rows and check the rest.
--
-- Lock order, the same everywhere (ingest, creation, dropping): the parent, then the day's
-- partition, then the default partition. Callers set a short lock_timeout and retry, and run
-- one day per transaction.

CREATE OR REPLACE FUNCTION resilience_create_partition(day date) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    part text := resilience_partition_name(day);
    lo timestamptz := day::timestamp AT TIME ZONE 'UTC';
    hi timestamptz := (day + 1)::timestamp AT TIME ZONE 'UTC';
BEGIN
    -- Serialises creators and droppers; compatible with ingest's and readers' locks.
    LOCK TABLE resilience_metrics IN SHARE UPDATE EXCLUSIVE MODE;
    -- Checked under the lock, so a concurrent creator that won the race is seen here.
    IF to_regclass(part) IS NOT NULL THEN
        RETURN false;
    END IF;
    EXECUTE format('CREATE TABLE %I (LIKE resilience_metrics INCLUDING ALL)', part);
    LOCK TABLE resilience_metrics_default IN ACCESS EXCLUSIVE MODE;
    EXECUTE format(
        'WITH gone AS (DELETE FROM resilience_metrics_default WHERE ts >= $1 AND ts < $2 RETURNING *) '
        'INSERT INTO %I SELECT * FROM gone', part) USING lo, hi;
    EXECUTE format('ALTER TABLE resilience_metrics ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                   part, lo, hi);
    RETURN true;
END $$;
