-- PostgreSQL 15 keeps a table's CHECK constraints as node strings and
-- parses and plans them again for every statement that writes the table
-- (ExecRelCheck), not once per session: at 64 requests in flight that was
-- 8-10 % of PostgreSQL's CPU (perf), the three enumerations below the
-- largest part (their lists are most of the node text). A domain's
-- constraints are kept parsed in each session's type cache: with them,
-- 5-6 % (docs/BENCHMARKS.md, "CHECK constraints are parsed again"). The
-- columns take the domains first without a constraint (no table rewrite
-- and no index rebuild: a domain over text with no constraint is the same
-- bytes), then the domains get their constraints, checked against the
-- existing rows, and the old table constraints go. Values allowed are
-- exactly those of 000001. Locks: ALTER COLUMN TYPE takes ACCESS EXCLUSIVE
-- on both tables, held until the migration commits, so reads and writes
-- wait for the checks' scans of the existing rows (TestCheckDomainMigrations).
CREATE DOMAIN order_status AS text;
CREATE DOMAIN order_event_type AS text;
ALTER TABLE orders
    ALTER COLUMN status TYPE order_status,
    ALTER COLUMN last_event_type TYPE order_event_type;
ALTER TABLE order_events ALTER COLUMN type TYPE order_event_type;
ALTER DOMAIN order_status ADD CONSTRAINT order_status_check
    CHECK (VALUE IN ('NEW', 'PROCESSING', 'DONE', 'CANCELLED', 'FAILED'));
ALTER DOMAIN order_event_type ADD CONSTRAINT order_event_type_check
    CHECK (VALUE IN ('create', 'update', 'cancel'));
ALTER TABLE orders
    DROP CONSTRAINT orders_status_check,
    DROP CONSTRAINT orders_last_event_type_check;
ALTER TABLE order_events DROP CONSTRAINT order_events_type_check;
