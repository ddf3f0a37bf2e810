-- Orders: one row per (external_id, user_id), holding the state the worker
-- last produced and the sequence number of the latest accepted event.
CREATE TABLE orders (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    external_id      text        NOT NULL CHECK (char_length(external_id) BETWEEN 1 AND 255),
    user_id          uuid        NOT NULL,
    status           text        NOT NULL CHECK (status IN ('NEW', 'PROCESSING', 'DONE', 'CANCELLED', 'FAILED')),
    event_id         integer     NOT NULL DEFAULT 0 CHECK (event_id >= 0),
    applied_event_id integer     NOT NULL DEFAULT -1 CHECK (applied_event_id >= -1 AND applied_event_id <= event_id),
    last_event_type  text        NOT NULL CHECK (last_event_type IN ('create', 'update', 'cancel')),
    items            jsonb       NOT NULL,
    total            numeric(20, 2) NOT NULL CHECK (total >= 0),
    cancel_reason    text        NOT NULL DEFAULT '',
    failure_reason   text        NOT NULL DEFAULT '',
    cancelled_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- The lookup key and the guard of idempotent creation.
CREATE UNIQUE INDEX orders_external_id_user_id_key ON orders (external_id, user_id);

-- Every accepted event, in the order's sequence. The worker applies pending
-- events from here in event_id order, so a late or lost Kafka message can
-- never reorder or skip one; the outcome is kept so a redelivered event is
-- answered exactly as the first time.
CREATE TABLE order_events (
    order_id       bigint      NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    event_id       integer     NOT NULL CHECK (event_id >= 0),
    type           text        NOT NULL CHECK (type IN ('create', 'update', 'cancel')),
    payload        jsonb       NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    applied_at     timestamptz,
    outcome_code   text        NOT NULL DEFAULT '',
    outcome_reason text        NOT NULL DEFAULT '',
    PRIMARY KEY (order_id, event_id)
);

-- Events not applied yet, oldest first: what a recovery loop republishes.
CREATE INDEX order_events_pending_idx ON order_events (created_at) WHERE applied_at IS NULL;
