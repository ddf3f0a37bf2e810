-- fail_unpublishable_event is the recovery loop's way out for an event
-- whose message Kafka refuses for good (docs/RELIABILITY.md): it marks the
-- order FAILED with the reason and closes its pending events, as MarkFailed
-- does for the worker, so that nothing republishes them and the loop goes
-- on with the others. Like claim_due_events it crosses users, so it runs
-- with the worker's rights (SECURITY DEFINER) and the API may only EXECUTE
-- it; it acts only on an event the recovery loop has claimed (unapplied,
-- published at least once). It returns the number of orders changed.
DO $$
BEGIN
    IF NOT pg_catalog.pg_has_role(current_user, 'orderstream_worker', 'MEMBER') THEN
        EXECUTE format('GRANT orderstream_worker TO %I', current_user);
        PERFORM set_config('orderstream.migration_granted_worker', 'yes', true);
    END IF;
END
$$;

CREATE FUNCTION fail_unpublishable_event(p_order_id bigint, p_event_id integer, p_reason text)
RETURNS integer
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
WITH claimed AS (
    SELECT e.order_id
    FROM public.order_events e
    WHERE e.order_id = p_order_id AND e.event_id = p_event_id AND e.applied_at IS NULL AND e.publish_attempts > 0
), failed AS (
    UPDATE public.orders o
    SET status = 'FAILED', failure_reason = left(p_reason, 1000), applied_event_id = o.event_id, updated_at = now()
    FROM claimed
    WHERE o.id = claimed.order_id AND o.applied_event_id < o.event_id
    RETURNING o.id, pg_notify('order_status', o.id::text)
), closed AS (
    UPDATE public.order_events e
    SET applied_at = now(), outcome_code = 'PROCESSING_FAILED', outcome_reason = left(p_reason, 1000)
    FROM failed
    WHERE e.order_id = failed.id AND e.applied_at IS NULL
)
SELECT count(*)::integer FROM failed
$$;

GRANT CREATE ON SCHEMA public TO orderstream_worker;
ALTER FUNCTION fail_unpublishable_event(bigint, integer, text) OWNER TO orderstream_worker;
REVOKE CREATE ON SCHEMA public FROM orderstream_worker;
DO $$
BEGIN
    IF current_setting('orderstream.migration_granted_worker', true) = 'yes' THEN
        EXECUTE format('REVOKE orderstream_worker FROM %I', current_user);
    END IF;
END
$$;
REVOKE ALL ON FUNCTION fail_unpublishable_event(bigint, integer, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION fail_unpublishable_event(bigint, integer, text) TO orderstream_api;
