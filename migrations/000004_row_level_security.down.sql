-- The roles stay: they are cluster-wide and other databases may use them.
DROP FUNCTION IF EXISTS claim_due_events(integer, float8, float8);
REVOKE ALL ON orders, order_events FROM orderstream_api, orderstream_worker;
DROP POLICY IF EXISTS orders_own_user ON orders;
DROP POLICY IF EXISTS order_events_own_user ON order_events;
DROP POLICY IF EXISTS orders_worker ON orders;
DROP POLICY IF EXISTS order_events_worker ON order_events;
ALTER TABLE orders NO FORCE ROW LEVEL SECURITY, DISABLE ROW LEVEL SECURITY;
ALTER TABLE order_events NO FORCE ROW LEVEL SECURITY, DISABLE ROW LEVEL SECURITY;
ALTER TABLE order_events
    DROP CONSTRAINT order_events_order_id_user_id_fkey,
    ADD CONSTRAINT order_events_order_id_fkey FOREIGN KEY (order_id) REFERENCES orders (id) ON DELETE CASCADE;
ALTER TABLE orders DROP CONSTRAINT orders_id_user_id_key;
ALTER TABLE order_events DROP COLUMN user_id;
