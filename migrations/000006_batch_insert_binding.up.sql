-- Group commit on the API side (docs/SCALING.md, "Creates in one
-- statement"): the API inserts the orders of concurrent createOrder
-- requests with one multi-row statement and one commit. Row-level security
-- must then let that one statement write, and return, the rows of several
-- users: the users of the requests in the batch, each of them the
-- authenticated principal of its request (internal/postgres/combine.go
-- admits only such requests). They are named by a second setting,
-- orderstream.user_ids (a uuid[] literal, set per transaction like
-- orderstream.user_id). Every other statement of the API sets only
-- orderstream.user_id, as before, and sees only that user's rows; with
-- neither setting there are no rows (fail closed).
ALTER POLICY orders_own_user ON orders
    USING (user_id = nullif(current_setting('orderstream.user_id', true), '')::uuid
           OR user_id = ANY (nullif(current_setting('orderstream.user_ids', true), '')::uuid[]))
    WITH CHECK (user_id = nullif(current_setting('orderstream.user_id', true), '')::uuid
                OR user_id = ANY (nullif(current_setting('orderstream.user_ids', true), '')::uuid[]));
ALTER POLICY order_events_own_user ON order_events
    USING (user_id = nullif(current_setting('orderstream.user_id', true), '')::uuid
           OR user_id = ANY (nullif(current_setting('orderstream.user_ids', true), '')::uuid[]))
    WITH CHECK (user_id = nullif(current_setting('orderstream.user_id', true), '')::uuid
                OR user_id = ANY (nullif(current_setting('orderstream.user_ids', true), '')::uuid[]));
