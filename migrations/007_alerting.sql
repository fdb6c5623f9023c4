-- Silences, mute times and burn-rate alerts, the alerts' timelines, grouped notifications, and
-- the heartbeats of the scheduled jobs.

-- What an evaluation remembers of a silence or mute time: what silenced the alert when it last
-- looked, and whether a notification was held back (sent once the silence ends, if still firing).
-- A burn-rate alert carries its objective; its value and threshold are burn rates.
ALTER TABLE alerts
    ADD COLUMN silenced_by text,
    ADD COLUMN notice_owed boolean NOT NULL DEFAULT false,
    ADD COLUMN objective   double precision;

-- Each alert's history as it happened: state changes, notifications sent or held, acknowledgement,
-- silences starting and ending. Deleted with its alert.
CREATE TABLE alert_events (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id bigint      NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    at       timestamptz NOT NULL,
    kind     text        NOT NULL CHECK (kind IN ('pending', 'firing', 'resolved', 'notified', 'held',
                                                  'acknowledged', 'silenced', 'unsilenced')),
    by       text,
    note     text,
    detail   text
);
CREATE INDEX alert_events_alert_idx ON alert_events (alert_id, at, id);

-- Alerts matching every given matcher notify nobody from starts_at until ends_at; expiring a
-- silence moves ends_at to the moment it was expired.
CREATE TABLE silences (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    component  text,
    metric     text,
    rule       text,
    starts_at  timestamptz NOT NULL,
    ends_at    timestamptz NOT NULL,
    comment    text        NOT NULL,
    created_by text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (component IS NOT NULL OR metric IS NOT NULL OR rule IS NOT NULL),
    CHECK (starts_at <= ends_at)
);
CREATE INDEX silences_ends_at_idx ON silences (ends_at);

-- The notifications of one evaluation go out as one message per severity: an outbox row may hold
-- a group of them (kind 'group', no single alert).
ALTER TABLE alert_outbox DROP CONSTRAINT alert_outbox_kind_check;
ALTER TABLE alert_outbox ADD CONSTRAINT alert_outbox_kind_check
    CHECK (kind IN ('firing', 'reminder', 'resolved', 'group'));

-- When each scheduled job last ran.
CREATE TABLE job_runs (
    job    text PRIMARY KEY,
    ran_at timestamptz NOT NULL
);
