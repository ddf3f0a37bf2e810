DROP INDEX IF EXISTS orders_user_id_created_at_id_idx;
