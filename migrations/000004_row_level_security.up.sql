-- Row-level security: the second line of defence behind the service's
-- authorization (docs/SECURITY.md, "Row-level security"). Even a query that
-- forgets its user_id filter returns only the rows of the user set for the
-- transaction, because the API connects as a role that is not the tables'
-- owner, not a superuser, and is subject to these policies.
--
-- orderstream_api     the API: only the rows whose user_id equals
--                     current_setting('orderstream.user_id'), which the
--                     store sets per transaction (set_config(..., true));
--                     no setting, no rows (fail closed).
-- orderstream_worker  the worker: every row, but only SELECT and UPDATE (it
--                     applies events of every user and never creates or
--                     deletes rows).
--
-- Both are NOLOGIN group roles: a deployment logs in as its own users
-- (with passwords) and grants them one of these roles. Roles are
-- cluster-wide, so they are created only when missing (a concurrent
-- migration of another database may create them at the same moment).
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'orderstream_api') THEN
        BEGIN
            CREATE ROLE orderstream_api NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'orderstream_worker') THEN
        BEGIN
            CREATE ROLE orderstream_worker NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END;
    END IF;
    -- The outbox claim below runs with orderstream_worker's rights, so that
    -- role must own it, and handing it over takes membership in it: a
    -- migrating role that is not a superuser gets it for this migration
    -- (it may grant it to itself when it has CREATEROLE and created the
    -- role, or holds it WITH ADMIN OPTION) and gives it back at the end.
    IF NOT pg_catalog.pg_has_role(current_user, 'orderstream_worker', 'MEMBER') THEN
        EXECUTE format('GRANT orderstream_worker TO %I', current_user);
        PERFORM set_config('orderstream.migration_granted_worker', 'yes', true);
    END IF;
END
$$;

-- Each event carries its order's user, so that its policy is a plain
-- comparison (no subquery, which could not see an order inserted by the
-- same statement), and the composite foreign key guarantees that the user
-- of an event is the user of its order.
ALTER TABLE order_events ADD COLUMN user_id uuid;
UPDATE order_events e SET user_id = o.user_id FROM orders o WHERE o.id = e.order_id;
ALTER TABLE order_events ALTER COLUMN user_id SET NOT NULL;
ALTER TABLE orders ADD CONSTRAINT orders_id_user_id_key UNIQUE (id, user_id);
ALTER TABLE order_events
    DROP CONSTRAINT order_events_order_id_fkey,
    ADD CONSTRAINT order_events_order_id_user_id_fkey
        FOREIGN KEY (order_id, user_id) REFERENCES orders (id, user_id) ON DELETE CASCADE;

-- FORCE: the owner is subject to the policies too (it has none, so it sees
-- nothing): an application misconfigured to connect as the owner fails
-- loudly instead of seeing every user's orders. Superusers and BYPASSRLS
-- roles are never subject to row-level security.
ALTER TABLE orders ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
ALTER TABLE order_events ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;

CREATE POLICY orders_own_user ON orders TO orderstream_api
    USING (user_id = nullif(current_setting('orderstream.user_id', true), '')::uuid)
    WITH CHECK (user_id = nullif(current_setting('orderstream.user_id', true), '')::uuid);
CREATE POLICY order_events_own_user ON order_events TO orderstream_api
    USING (user_id = nullif(current_setting('orderstream.user_id', true), '')::uuid)
    WITH CHECK (user_id = nullif(current_setting('orderstream.user_id', true), '')::uuid);
CREATE POLICY orders_worker ON orders TO orderstream_worker USING (true) WITH CHECK (true);
CREATE POLICY order_events_worker ON order_events TO orderstream_worker USING (true) WITH CHECK (true);

-- Only what each needs. The API changes only the columns of AcceptEvent;
-- neither deletes.
GRANT SELECT, INSERT ON orders, order_events TO orderstream_api;
GRANT UPDATE (event_id, status, last_event_type, updated_at) ON orders TO orderstream_api;
GRANT SELECT, UPDATE ON orders, order_events TO orderstream_worker;

-- claim_due_events is the API's recovery loop (the outbox relay): it crosses
-- users by design, so it runs with the worker's rights (SECURITY DEFINER,
-- owned by orderstream_worker) and the API may only EXECUTE it. It can do
-- nothing but claim due, unapplied events and return what republishing
-- needs. search_path is pinned so that nothing can shadow the tables.
CREATE FUNCTION claim_due_events(max_events integer, retry_seconds float8, max_backoff_seconds float8)
RETURNS TABLE (order_id bigint, event_id integer, type text, payload jsonb, publish_attempts integer,
               external_id text, user_id uuid)
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
WITH due AS (
    SELECT e.order_id, e.event_id
    FROM public.order_events e
    WHERE e.applied_at IS NULL AND e.next_publish_at <= now()
    ORDER BY e.next_publish_at
    LIMIT max_events
    FOR UPDATE SKIP LOCKED
)
UPDATE public.order_events e
SET next_publish_at  = now() + interval '1 second' * least(retry_seconds * power(2, least(e.publish_attempts, 20)), max_backoff_seconds),
    publish_attempts = e.publish_attempts + 1
FROM due, public.orders o
WHERE e.order_id = due.order_id AND e.event_id = due.event_id AND o.id = e.order_id
RETURNING e.order_id, e.event_id, e.type, e.payload, e.publish_attempts, o.external_id, o.user_id
$$;
-- A new owner needs CREATE on the schema at the moment ownership passes to
-- it (superusers skip that check); the worker keeps no such right.
GRANT CREATE ON SCHEMA public TO orderstream_worker;
ALTER FUNCTION claim_due_events(integer, float8, float8) OWNER TO orderstream_worker;
REVOKE CREATE ON SCHEMA public FROM orderstream_worker;
DO $$
BEGIN
    IF current_setting('orderstream.migration_granted_worker', true) = 'yes' THEN
        EXECUTE format('REVOKE orderstream_worker FROM %I', current_user);
    END IF;
END
$$;
REVOKE ALL ON FUNCTION claim_due_events(integer, float8, float8) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION claim_due_events(integer, float8, float8) TO orderstream_api;
