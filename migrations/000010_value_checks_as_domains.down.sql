ALTER TABLE orders
    ADD CONSTRAINT orders_external_id_check CHECK (char_length(external_id) BETWEEN 1 AND 255),
    ADD CONSTRAINT orders_event_id_check CHECK (event_id >= 0),
    ADD CONSTRAINT orders_total_check CHECK (total >= 0);
ALTER TABLE order_events ADD CONSTRAINT order_events_event_id_check CHECK (event_id >= 0);
ALTER TABLE orders
    ALTER COLUMN external_id TYPE text,
    ALTER COLUMN event_id TYPE integer,
    ALTER COLUMN total TYPE numeric(20,2);
ALTER TABLE order_events ALTER COLUMN event_id TYPE integer;
DROP DOMAIN order_external_id;
DROP DOMAIN order_event_seq;
DROP DOMAIN order_total;
