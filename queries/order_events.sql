-- name: InsertEvent :exec
-- InsertEvent records an accepted event of an order. The API publishes it
-- right after the commit; the recovery loop publishes it again if it is
-- still unapplied after recovery_delay_seconds.
INSERT INTO order_events (order_id, event_id, type, payload, next_publish_at)
VALUES (@order_id, @event_id, @type, @payload, now() + interval '1 second' * sqlc.arg(recovery_delay_seconds)::float8);

-- name: GetEvent :one
-- GetEvent returns one event of an order.
SELECT * FROM order_events
WHERE order_id = @order_id AND event_id = @event_id;

-- name: ClaimDueEvents :many
-- ClaimDueEvents picks up to max_events unapplied events whose publish is
-- due, oldest first, and pushes their next publish back (retry_seconds,
-- doubling with each attempt, at most max_backoff_seconds). SKIP LOCKED lets several API
-- instances run the recovery loop without publishing the same event twice
-- at once.
WITH due AS (
    SELECT e.order_id, e.event_id
    FROM order_events e
    WHERE e.applied_at IS NULL AND e.next_publish_at <= now()
    ORDER BY e.next_publish_at
    LIMIT @max_events
    FOR UPDATE SKIP LOCKED
)
UPDATE order_events e
SET next_publish_at  = now() + interval '1 second' * least(sqlc.arg(retry_seconds)::float8 * power(2, least(e.publish_attempts, 20)), sqlc.arg(max_backoff_seconds)::float8),
    publish_attempts = e.publish_attempts + 1
FROM due, orders o
WHERE e.order_id = due.order_id AND e.event_id = due.event_id AND o.id = e.order_id
RETURNING e.order_id, e.event_id, e.type, e.payload, e.publish_attempts, o.external_id, o.user_id;

-- name: GetEvents :many
-- GetEvents returns the events (order_ids[i], event_ids[i]).
SELECT e.* FROM order_events e
JOIN (SELECT unnest(@order_ids::bigint[]) AS order_id, unnest(@event_ids::integer[]) AS event_id) AS k
  ON e.order_id = k.order_id AND e.event_id = k.event_id;
