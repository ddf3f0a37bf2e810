-- Back to the policies of 000006_batch_insert_binding.up.sql, as they were:
-- the settings read in every row's checks.
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
