ALTER TABLE orders
    ADD CONSTRAINT orders_status_check CHECK (status IN ('NEW', 'PROCESSING', 'DONE', 'CANCELLED', 'FAILED')),
    ADD CONSTRAINT orders_last_event_type_check CHECK (last_event_type IN ('create', 'update', 'cancel'));
ALTER TABLE order_events ADD CONSTRAINT order_events_type_check CHECK (type IN ('create', 'update', 'cancel'));
ALTER TABLE orders
    ALTER COLUMN status TYPE text,
    ALTER COLUMN last_event_type TYPE text;
ALTER TABLE order_events ALTER COLUMN type TYPE text;
DROP DOMAIN order_status;
DROP DOMAIN order_event_type;
