-- order_events is the outbox: an event is stored with its order change and
-- published right after the commit; if that publish is lost (crash, Kafka
-- down), the recovery loop publishes it again once next_publish_at passes,
-- backing off with publish_attempts. apply_count counts how often the worker
-- applied the event: it must never exceed 1 (the fault suite checks it).
ALTER TABLE order_events
    ADD COLUMN next_publish_at  timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN publish_attempts integer     NOT NULL DEFAULT 0,
    ADD COLUMN apply_count      integer     NOT NULL DEFAULT 0;

UPDATE order_events SET apply_count = 1 WHERE applied_at IS NOT NULL;

DROP INDEX IF EXISTS order_events_pending_idx;

-- Unapplied events by when they are due for (re)publishing.
CREATE INDEX order_events_due_idx ON order_events (next_publish_at) WHERE applied_at IS NULL;
