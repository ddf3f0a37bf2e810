-- The row-level security policies of 000006 cast the settings to uuid and
-- uuid[] in every evaluation: for each row written, returned or read, and
-- for each of the three checks a created order passes (orders' WITH CHECK,
-- orders' USING for RETURNING, order_events' WITH CHECK). current_setting
-- is stable, not immutable, so PostgreSQL does not fold it, and a batch
-- of n creates parsed the n-user array 3n times. As uncorrelated scalar
-- subqueries the casts become InitPlans, evaluated once per execution of
-- the statement (and again at the next execution: a cached plan does not
-- keep their values, so a setting changed by the next transaction is seen).
-- The rows allowed are exactly those of 000006. The outer ::uuid[] is what
-- makes "= ANY (...)" compare with the array the subquery returns: without
-- it, "= ANY (SELECT ...)" is a subquery comparison and fails (uuid = uuid[]).
-- Measured: BenchmarkCreateBatchPolicies in internal/postgres (a batch of 64
-- creates under 000006's and these policies) and docs/BENCHMARKS.md,
-- "Row-level security: the settings once per statement".
ALTER POLICY orders_own_user ON orders
    USING (user_id = (SELECT nullif(current_setting('orderstream.user_id', true), '')::uuid)
           OR user_id = ANY ((SELECT nullif(current_setting('orderstream.user_ids', true), '')::uuid[])::uuid[]))
    WITH CHECK (user_id = (SELECT nullif(current_setting('orderstream.user_id', true), '')::uuid)
                OR user_id = ANY ((SELECT nullif(current_setting('orderstream.user_ids', true), '')::uuid[])::uuid[]));
ALTER POLICY order_events_own_user ON order_events
    USING (user_id = (SELECT nullif(current_setting('orderstream.user_id', true), '')::uuid)
           OR user_id = ANY ((SELECT nullif(current_setting('orderstream.user_ids', true), '')::uuid[])::uuid[]))
    WITH CHECK (user_id = (SELECT nullif(current_setting('orderstream.user_id', true), '')::uuid)
                OR user_id = ANY ((SELECT nullif(current_setting('orderstream.user_ids', true), '')::uuid[])::uuid[]));
