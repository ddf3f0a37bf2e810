-- A user's orders, newest first: the keyset pagination of the orders query.
CREATE INDEX orders_user_id_created_at_id_idx ON orders (user_id, created_at DESC, id DESC);
