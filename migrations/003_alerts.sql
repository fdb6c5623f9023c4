-- Alerts raised by rule evaluation, the outbox of their notifications, and the lease that keeps
-- overlapping evaluations from both acting.

-- One row per alert. An alert is pending while its rule breaches but the pending period has not
-- passed, firing once it has, and resolved when the rate is healthy again. A pending alert whose
-- breach clears before it fires is deleted: nobody was told about it.
CREATE TABLE alerts (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rule                text             NOT NULL,
    metric              text             NOT NULL,
    -- NULL for a rule over all components.
    component           text,
    state               text             NOT NULL CHECK (state IN ('pending', 'firing', 'resolved')),
    severity            text             NOT NULL CHECK (severity IN ('warning', 'critical')),
    operator            text             NOT NULL CHECK (operator IN ('gt', 'lt')),
    value               double precision NOT NULL,
    threshold           double precision NOT NULL,
    numerator           integer          NOT NULL,
    denominator         integer          NOT NULL,
    window_minutes      integer          NOT NULL,
    started_at          timestamptz      NOT NULL,
    fired_at            timestamptz,
    resolved_at         timestamptz,
    evaluated_at        timestamptz      NOT NULL,
    last_notified_at    timestamptz,
    acknowledged_at     timestamptz,
    acknowledged_by     text,
    acknowledge_note    text,
    CHECK (state = 'pending' OR fired_at IS NOT NULL),
    CHECK (state <> 'resolved' OR resolved_at IS NOT NULL)
);

-- At most one open alert per rule and component: a second evaluation cannot open another.
CREATE UNIQUE INDEX alerts_open_idx ON alerts (rule, COALESCE(component, '')) WHERE state <> 'resolved';
CREATE INDEX alerts_state_started_idx ON alerts (state, started_at DESC);
CREATE INDEX alerts_resolved_at_idx ON alerts (resolved_at) WHERE state = 'resolved';

-- Notifications written in the same transaction as the state change that causes them, and
-- published afterwards; a row stays unsent until the topic has accepted it.
CREATE TABLE alert_outbox (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id        bigint      REFERENCES alerts (id) ON DELETE SET NULL,
    kind            text        NOT NULL CHECK (kind IN ('firing', 'reminder', 'resolved')),
    payload         jsonb       NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    attempts        integer     NOT NULL DEFAULT 0,
    last_error      text
);

CREATE INDEX alert_outbox_unsent_idx ON alert_outbox (id) WHERE sent_at IS NULL;

-- The evaluation lease. An evaluation holds a transaction-level advisory lock for its whole
-- transaction (an overlapping one skips its turn) and records here the time it acted as of,
-- so a late retry of an older run cannot move alerts back in time.
CREATE TABLE alert_evaluation_lease (
    id           integer PRIMARY KEY CHECK (id = 1),
    evaluated_at timestamptz
);

INSERT INTO alert_evaluation_lease (id) VALUES (1);
