DROP INDEX IF EXISTS order_events_due_idx;
ALTER TABLE order_events
    DROP COLUMN IF EXISTS next_publish_at,
    DROP COLUMN IF EXISTS publish_attempts,
    DROP COLUMN IF EXISTS apply_count;
CREATE INDEX order_events_pending_idx ON order_events (created_at) WHERE applied_at IS NULL;
