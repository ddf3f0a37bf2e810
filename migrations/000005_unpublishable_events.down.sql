DROP FUNCTION IF EXISTS fail_unpublishable_event(bigint, integer, text);
