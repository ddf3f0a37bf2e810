-- The rest of 000009: the single-column checks of orders and order_events
-- become domains, whose constraints each session keeps parsed, instead of
-- table CHECK constraints, which PostgreSQL 15 parses again for every
-- statement that writes the table. Same values allowed as in 000001; the
-- same steps and locks as 000009 (the columns take the domains before the
-- domains get their checks: no table rewrite and no index rebuild, not
-- even of the unique (external_id, user_id); TestCheckDomainMigrations).
-- Only the check that relates two columns (applied_event_id between -1
-- and event_id) stays a table constraint.
CREATE DOMAIN order_external_id AS text;
CREATE DOMAIN order_event_seq AS integer;
CREATE DOMAIN order_total AS numeric(20,2);
ALTER TABLE orders
    ALTER COLUMN external_id TYPE order_external_id,
    ALTER COLUMN event_id TYPE order_event_seq,
    ALTER COLUMN total TYPE order_total;
ALTER TABLE order_events ALTER COLUMN event_id TYPE order_event_seq;
ALTER DOMAIN order_external_id ADD CONSTRAINT order_external_id_check
    CHECK (char_length(VALUE) BETWEEN 1 AND 255);
ALTER DOMAIN order_event_seq ADD CONSTRAINT order_event_seq_check CHECK (VALUE >= 0);
ALTER DOMAIN order_total ADD CONSTRAINT order_total_check CHECK (VALUE >= 0);
ALTER TABLE orders
    DROP CONSTRAINT orders_external_id_check,
    DROP CONSTRAINT orders_event_id_check,
    DROP CONSTRAINT orders_total_check;
ALTER TABLE order_events DROP CONSTRAINT order_events_event_id_check;
