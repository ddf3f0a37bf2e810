-- name: InsertOrderWithEvent :one
-- InsertOrderWithEvent is InsertOrder and InsertEvent of event 0 in one
-- statement (one round trip, one commit). It returns no row when the user
-- already has an order with that external id.
WITH o AS (
    INSERT INTO orders (external_id, user_id, status, event_id, applied_event_id, last_event_type, items, total)
    VALUES (@external_id, @user_id, 'NEW', 0, -1, 'create', @items, @total)
    ON CONFLICT (external_id, user_id) DO NOTHING
    RETURNING *
), e AS (
    INSERT INTO order_events (order_id, user_id, event_id, type, payload, next_publish_at)
    SELECT o.id, o.user_id, 0, 'create', @payload, now() + interval '1 second' * sqlc.arg(recovery_delay_seconds)::float8
    FROM o
)
SELECT * FROM o;

-- name: InsertOrdersWithEvents :many
-- InsertOrdersWithEvents is InsertOrderWithEvent for several orders at
-- once: one statement and one commit for the creates of concurrent
-- requests (the API's group commit, internal/postgres/combine.go). Element
-- i of each array belongs to order i; no two have the same (external_id,
-- user_id). It returns the orders it inserted; one that a user already has
-- is not returned, and the caller reads it.
WITH r AS (
    SELECT unnest(@external_ids::text[]) AS external_id, unnest(@user_ids::uuid[]) AS user_id,
           unnest(@items::text[]) AS items, unnest(@totals::text[]) AS total, unnest(@payloads::text[]) AS payload
), o AS (
    INSERT INTO orders (external_id, user_id, status, event_id, applied_event_id, last_event_type, items, total)
    SELECT r.external_id, r.user_id, 'NEW', 0, -1, 'create', r.items::jsonb, r.total::numeric
    FROM r
    ON CONFLICT (external_id, user_id) DO NOTHING
    RETURNING *
), e AS (
    INSERT INTO order_events (order_id, user_id, event_id, type, payload, next_publish_at)
    SELECT o.id, o.user_id, 0, 'create', r.payload::jsonb, now() + interval '1 second' * sqlc.arg(recovery_delay_seconds)::float8
    FROM o JOIN r ON r.external_id = o.external_id AND r.user_id = o.user_id
)
SELECT * FROM o;

-- name: GetOrderByExternalID :one
-- GetOrderByExternalID returns the user's order with that external id.
SELECT * FROM orders
WHERE external_id = @external_id AND user_id = @user_id;

-- name: GetOrdersByExternalIDs :many
-- GetOrdersByExternalIDs returns the orders of a batch of lookups, each key
-- (external_ids[i], user_ids[i]) one index lookup (internal/postgres/lookups.go).
-- The LIMIT keeps each key's subquery a lookup of its own (PostgreSQL does
-- not flatten it into a join that could read the orders of the batch's
-- users by the row-level security condition instead).
SELECT o.* FROM (SELECT unnest(@external_ids::text[]) AS external_id, unnest(@user_ids::uuid[]) AS user_id) AS k
CROSS JOIN LATERAL (SELECT * FROM orders WHERE orders.external_id = k.external_id AND orders.user_id = k.user_id LIMIT 1) AS o;

-- name: LockOrderByExternalID :one
-- LockOrderByExternalID returns the user's order and locks its row until the
-- end of the transaction, so that events are numbered one at a time.
SELECT * FROM orders
WHERE external_id = @external_id AND user_id = @user_id
FOR UPDATE;

-- name: AcceptEvent :one
-- AcceptEvent records that event event_id+1 of a locked order is accepted:
-- the order waits for the worker again (status NEW).
UPDATE orders
SET event_id = event_id + 1, status = 'NEW', last_event_type = @last_event_type, updated_at = now()
WHERE id = @id
RETURNING *;

-- name: MarkFailed :execrows
-- MarkFailed marks an order FAILED with a reason after an event of it could
-- not be processed (dead-lettered). Its pending events count as applied, so
-- that nothing republishes them; they keep their payloads for inspection.
-- The change is announced (NOTIFY order_status, the order id alone).
WITH failed AS (
    UPDATE orders
    SET status = 'FAILED', failure_reason = @reason, applied_event_id = event_id, updated_at = now()
    WHERE id = @id AND applied_event_id < event_id
    -- Announce the change to the API instances' subscriptions at commit.
    RETURNING id, applied_event_id, pg_notify('order_status', id::text)
)
UPDATE order_events e
SET applied_at = now(), outcome_code = 'PROCESSING_FAILED', outcome_reason = @reason
FROM failed
WHERE e.order_id = failed.id AND e.applied_at IS NULL;

-- name: LockOrdersWithPendingEvents :many
-- LockOrdersWithPendingEvents locks the orders with these ids, in id order
-- so that concurrent batches cannot deadlock, and returns each with its
-- unapplied events in event_id order (one row per event; an order with none
-- comes once with a NULL pending_event_id). One statement instead of a lock
-- and a read: a row updated while we waited for its lock is rechecked, so
-- events applied meanwhile do not come back.
SELECT sqlc.embed(o), e.event_id AS pending_event_id, e.type AS pending_type, e.payload AS pending_payload
FROM orders o
LEFT JOIN order_events e ON e.order_id = o.id AND e.event_id > o.applied_event_id
WHERE o.id = ANY(@ids::bigint[])
ORDER BY o.id, e.event_id
FOR UPDATE OF o;

-- name: MarkProcessingMany :execrows
-- MarkProcessingMany shows that the worker has picked up a batch: order ids[i] is marked PROCESSING
-- when its events up to event_ids[i] are not all applied; each change is announced (NOTIFY order_status, the order id alone).
UPDATE orders o
SET status = 'PROCESSING', updated_at = now()
FROM (SELECT unnest(@ids::bigint[]) AS id, unnest(@event_ids::integer[]) AS event_id) AS m
WHERE o.id = m.id AND o.applied_event_id < m.event_id AND o.status <> 'PROCESSING'
RETURNING pg_notify('order_status', o.id::text);

-- name: SaveApplied :many
-- SaveApplied stores what the worker did with a batch, in one statement:
-- the outcome of each applied event (order_ids[i], event_ids[i], codes[i],
-- reasons[i]) and the new state of each changed order (element i of the
-- other arrays belongs to order ids[i]; empty cancelled_ats mean NULL, and
-- an empty items[i] keeps the order's items, so that the usual create,
-- which does not change them, costs no JSON encoding and no jsonb parse).
-- It returns the saved orders.
WITH outcomes AS (
    UPDATE order_events e
    SET applied_at = now(), outcome_code = u.code, outcome_reason = u.reason, apply_count = e.apply_count + 1
    FROM (SELECT unnest(@order_ids::bigint[]) AS order_id, unnest(@event_ids::integer[]) AS event_id,
                 unnest(@codes::text[]) AS code, unnest(@reasons::text[]) AS reason) AS u
    WHERE e.order_id = u.order_id AND e.event_id = u.event_id
)
UPDATE orders o
SET status = u.status, applied_event_id = u.applied_event_id,
    items = CASE WHEN u.items = '' THEN o.items ELSE u.items::jsonb END, total = u.total::numeric,
    cancel_reason = u.cancel_reason, failure_reason = u.failure_reason,
    cancelled_at = nullif(u.cancelled_at, '')::timestamptz, updated_at = now()
FROM (SELECT unnest(@ids::bigint[]) AS id, unnest(@statuses::text[]) AS status,
             unnest(@applied_event_ids::integer[]) AS applied_event_id, unnest(@items::text[]) AS items,
             unnest(@totals::text[]) AS total, unnest(@cancel_reasons::text[]) AS cancel_reason,
             unnest(@failure_reasons::text[]) AS failure_reason, unnest(@cancelled_ats::text[]) AS cancelled_at) AS u
WHERE o.id = u.id
RETURNING o.*;

-- name: ApplyCreates :many
-- ApplyCreates applies, in one statement, the create of each order ids[i]
-- that is exactly as the worker assumed when it planned it from the
-- create's message: event 0 is a create and the only accepted event, none
-- is applied, the order is not cancelled, and both the order's items and
-- event 0's items equal items[i] (the items the message carried). Such an
-- order gets its planned state (statuses[i], totals[i], applied event 0, no
-- failure reason) and event 0 its outcome, a success: the worker plans only
-- creates that succeed (order.PlanCreates). Each change is announced
-- (NOTIFY order_status, the order id alone). Any other order is left
-- untouched for the worker's general path, which reads it first. It returns
-- the orders it applied. Event 0 is read by a subquery of each order, not
-- joined: a generic plan made on a nearly empty table otherwise starts from
-- order_events and reads every event 0 through the primary key's second
-- column.
WITH u AS (
    SELECT unnest(@ids::bigint[]) AS id, unnest(@items::text[])::jsonb AS items,
           unnest(@statuses::text[]) AS status, unnest(@totals::text[]) AS total
), applied AS (
    UPDATE orders o
    SET status = u.status, applied_event_id = 0, total = u.total::numeric,
        failure_reason = '', updated_at = now()
    FROM u
    WHERE o.id = u.id AND o.applied_event_id = -1 AND o.event_id = 0 AND o.cancelled_at IS NULL
      AND o.items = u.items
      AND (SELECT e.payload -> 'items' FROM order_events e
           WHERE e.order_id = o.id AND e.event_id = 0 AND e.type = 'create') = u.items
    RETURNING o.*, pg_notify('order_status', o.id::text) IS NULL AS notified
), outcomes AS (
    UPDATE order_events e
    SET applied_at = now(), outcome_code = '', outcome_reason = '', apply_count = e.apply_count + 1
    FROM applied a
    WHERE e.order_id = a.id AND e.event_id = a.event_id
)
SELECT id, external_id, user_id, status, event_id, applied_event_id, last_event_type, items, total,
       cancel_reason, failure_reason, cancelled_at, created_at, updated_at
FROM applied
ORDER BY id;

-- name: ListOrders :many
-- ListOrders returns up to lim of the user's orders, newest first, older
-- than the (created_at, id) keyset cursor after and newer than the cursor
-- before (each optional), with the status when given. A missing cursor is
-- the end of the range ('infinity', '-infinity'), not an "IS NULL OR"
-- test, so that both bounds are index conditions of
-- orders_user_id_created_at_id_idx in a generic plan too (pgx prepares
-- statements; PostgreSQL may switch to a generic plan after five runs):
-- there, "IS NULL OR" made the bound a filter, and a page 9,000 orders
-- deep read and dropped those 9,000. CASE rather than COALESCE: under
-- row-level security only leakproof expressions may run before the
-- policy, and PostgreSQL counts COALESCE as one that might leak.
SELECT * FROM orders
WHERE user_id = @user_id
  AND (sqlc.narg(status)::text IS NULL OR status = sqlc.narg(status)::text)
  AND (created_at, id) < (CASE WHEN sqlc.narg(after_created_at)::timestamptz IS NULL THEN 'infinity' ELSE sqlc.narg(after_created_at)::timestamptz END,
                          CASE WHEN sqlc.narg(after_id)::bigint IS NULL THEN 9223372036854775807 ELSE sqlc.narg(after_id)::bigint END)
  AND (created_at, id) > (CASE WHEN sqlc.narg(before_created_at)::timestamptz IS NULL THEN '-infinity' ELSE sqlc.narg(before_created_at)::timestamptz END,
                          CASE WHEN sqlc.narg(before_id)::bigint IS NULL THEN 0 ELSE sqlc.narg(before_id)::bigint END)
ORDER BY created_at DESC, id DESC
LIMIT @lim;

-- name: ListOrdersBackward :many
-- ListOrdersBackward is ListOrders read the other way (Relay's last and
-- before): the lim orders of the range closest to the cursor before (or
-- the oldest), oldest first. The same index, scanned backward.
SELECT * FROM orders
WHERE user_id = @user_id
  AND (sqlc.narg(status)::text IS NULL OR status = sqlc.narg(status)::text)
  AND (created_at, id) < (CASE WHEN sqlc.narg(after_created_at)::timestamptz IS NULL THEN 'infinity' ELSE sqlc.narg(after_created_at)::timestamptz END,
                          CASE WHEN sqlc.narg(after_id)::bigint IS NULL THEN 9223372036854775807 ELSE sqlc.narg(after_id)::bigint END)
  AND (created_at, id) > (CASE WHEN sqlc.narg(before_created_at)::timestamptz IS NULL THEN '-infinity' ELSE sqlc.narg(before_created_at)::timestamptz END,
                          CASE WHEN sqlc.narg(before_id)::bigint IS NULL THEN 0 ELSE sqlc.narg(before_id)::bigint END)
ORDER BY created_at ASC, id ASC
LIMIT @lim;

-- name: GetOrderByID :one
-- GetOrderByID returns the user's order with that id.
SELECT * FROM orders
WHERE id = @id AND user_id = @user_id;

-- name: NotifyStatus :exec
-- NotifyStatus announces that the status of the orders with these ids
-- changed, on the order_status channel, delivered to the API instances'
-- LISTEN connections when (and only if) the transaction commits. The
-- payload is the order id alone: any login of the database may LISTEN
-- (PostgreSQL has no privilege for channels) and NOTIFY, so it says
-- nothing about whose order it is or what changed, and the API reads the
-- order, under row-level security, before it tells a subscriber anything.
SELECT pg_notify('order_status', id::text)
FROM unnest(@ids::bigint[]) AS id;
