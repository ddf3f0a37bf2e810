-- Each order is inserted once and then updated at least twice by the
-- worker (PROCESSING, then DONE). With the default fillfactor of 100 the
-- insert fills its page, and an update that finds no room on the row's
-- page is not a HOT update: the new row version goes to another page and
-- gets an entry in each of the four indexes of orders (two of them unique,
-- so checked). Leaving room on each page lets these updates stay on the
-- page, as HOT updates that touch no index. It applies to pages written
-- from now on; existing pages keep their layout until rewritten (VACUUM
-- FULL, pg_repack).
ALTER TABLE orders SET (fillfactor = 70);
