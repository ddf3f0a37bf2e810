-- name: InsertEvent :exec
-- InsertEvent records an accepted event of an order. The API publishes it
-- right after the commit; the recovery loop publishes it again if it is
-- still unapplied after recovery_delay_seconds.
INSERT INTO order_events (order_id, user_id, event_id, type, payload, next_publish_at)
VALUES (@order_id, @user_id, @event_id, @type, @payload, now() + interval '1 second' * sqlc.arg(recovery_delay_seconds)::float8);

-- name: GetEvent :one
-- GetEvent returns one event of an order.
SELECT * FROM order_events
WHERE order_id = @order_id AND event_id = @event_id;

-- name: ClaimDueEvents :many
-- ClaimDueEvents picks up to max_events unapplied events whose publish is
-- due, oldest first, and pushes their next publish back (retry_seconds,
-- doubling with each attempt, at most max_backoff_seconds). SKIP LOCKED lets several API
-- instances run the recovery loop without publishing the same event twice
-- at once. It crosses users, so it is the SECURITY DEFINER function
-- claim_due_events (migration 000004), the only cross-user access the API's
-- database role has.
SELECT c.order_id::bigint AS order_id, c.event_id::integer AS event_id, c.type::text AS type,
       c.payload::jsonb AS payload, c.publish_attempts::integer AS publish_attempts,
       c.external_id::text AS external_id, c.user_id::uuid AS user_id
FROM claim_due_events(sqlc.arg(max_events)::integer, sqlc.arg(retry_seconds)::float8, sqlc.arg(max_backoff_seconds)::float8) AS c;

-- name: GetEvents :many
-- GetEvents returns the events (order_ids[i], event_ids[i]).
SELECT e.* FROM order_events e
JOIN (SELECT unnest(@order_ids::bigint[]) AS order_id, unnest(@event_ids::integer[]) AS event_id) AS k
  ON e.order_id = k.order_id AND e.event_id = k.event_id;

-- name: FailUnpublishableEvent :one
-- FailUnpublishableEvent marks the order of a claimed event FAILED with a
-- reason and closes its pending events, because Kafka refuses the event's
-- message for good. It crosses users, so it is the SECURITY DEFINER
-- function fail_unpublishable_event (migration 000005). It returns the
-- number of orders changed (0 when the event was applied meanwhile).
SELECT fail_unpublishable_event(@order_id::bigint, @event_id::integer, @reason::text)::integer AS changed;
