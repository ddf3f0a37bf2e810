-- name: InsertEvent :exec
-- InsertEvent records an accepted event of an order.
INSERT INTO order_events (order_id, event_id, type, payload)
VALUES (@order_id, @event_id, @type, @payload);

-- name: GetEvent :one
-- GetEvent returns one event of an order.
SELECT * FROM order_events
WHERE order_id = @order_id AND event_id = @event_id;

-- name: ListEventsAfter :many
-- ListEventsAfter returns the events of an order after event_id, in sequence.
SELECT * FROM order_events
WHERE order_id = @order_id AND event_id > @event_id
ORDER BY event_id;

-- name: SaveOutcome :exec
-- SaveOutcome records that an event was applied and how it ended.
UPDATE order_events
SET applied_at = now(), outcome_code = @outcome_code, outcome_reason = @outcome_reason
WHERE order_id = @order_id AND event_id = @event_id;
