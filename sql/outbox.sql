--
-- The outbox: rows in the transaction of their cause, claim and done
--
-- a clean slate: earlier test files leave documents behind
DROP EXTENSION ar CASCADE;
CREATE EXTENSION ar;
SET search_path = public, ar;
\set SHOW_CONTEXT never

INSERT INTO ar.entity (id, code, name, country, currency) VALUES (1, 'DK1', 'Havn ApS', 'DK', 'DKK');
INSERT INTO ar.series (entity_id, code, pattern) VALUES (1, 'F', 'F{N:4}');
INSERT INTO ar.customer (id, entity_id, customer_no, name, country, currency, channel)
VALUES (1, 1, 'A', 'Print A/S', 'DK', 'DKK', 'print'), (2, 1, 'B', 'Mail A/S', 'DK', 'DKK', 'email');
INSERT INTO ar.invoice (id, entity_id, customer_id, currency)
SELECT g, 1, 1 + g % 2, 'DKK' FROM generate_series(1, 4) g;
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price)
SELECT g, 1, 'Item', 1, 100 FROM generate_series(1, 4) g;

-- a rolled-back issue leaves no outbox row and no number
BEGIN;
SELECT ar.issue(1);
ROLLBACK;
SELECT count(*) AS outbox_rows FROM ar.outbox;
SELECT * FROM ar.issue(ARRAY[1, 2, 3, 4]);
SELECT id, invoice_id, kind, channel, status, attempts FROM ar.outbox ORDER BY id;

-- claim two, deliver one, fail one
BEGIN;
SELECT id, invoice_id, channel, attempts FROM ar.outbox_claim(2) ORDER BY id;
SELECT ar.outbox_done(min(id), true) FROM ar.outbox;
SELECT ar.outbox_done(max(id), false, 'printer offline') FROM ar.outbox WHERE attempts = 1;
COMMIT;
SELECT id, status, attempts, last_error, sent_at IS NOT NULL AS sent FROM ar.outbox ORDER BY id;
-- the failed row is offered again; the sent one is not
SELECT id, attempts FROM ar.outbox_claim(10) ORDER BY id;
-- bad calls
SELECT ar.outbox_done(min(id), true) FROM ar.outbox;
SELECT ar.outbox_done(99, true);
SELECT ar.outbox_done(max(id), NULL) FROM ar.outbox;
SELECT ar.outbox_done(NULL, true);
SELECT * FROM ar.outbox_claim(0);
-- five failed attempts make a row failed
UPDATE ar.outbox SET attempts = 4 WHERE invoice_id = 2;
BEGIN;
SELECT invoice_id, attempts FROM ar.outbox_claim(1);
SELECT ar.outbox_done(id, false, 'still offline') FROM ar.outbox WHERE invoice_id = 2;
COMMIT;
SELECT invoice_id, status, attempts, last_error FROM ar.outbox ORDER BY id;
-- a sent row has its time
\set VERBOSITY terse
UPDATE ar.outbox SET sent_at = NULL WHERE status = 'sent';
\set VERBOSITY default
\echo :LAST_ERROR_SQLSTATE
-- a transaction gets a row once: after a failure it claims other rows, not
-- the same one again (five claims would have failed it in one go)
UPDATE ar.outbox SET status = 'pending', attempts = 0, last_error = NULL WHERE invoice_id = 2;
BEGIN;
SELECT invoice_id, attempts FROM ar.outbox_claim(1);
SELECT ar.outbox_done(id, false, 'offline') FROM ar.outbox WHERE invoice_id = 2;
SELECT invoice_id, attempts FROM ar.outbox_claim(10) ORDER BY 1;
COMMIT;
SELECT invoice_id, status, attempts FROM ar.outbox WHERE invoice_id = 2;
-- only the transaction that claimed a row reports it
SELECT ar.outbox_done(id, true) FROM ar.outbox WHERE invoice_id = 2;
\echo :LAST_ERROR_SQLSTATE
BEGIN;
SELECT invoice_id FROM ar.outbox_claim(10) ORDER BY 1;
SELECT ar.outbox_done(id, true) FROM ar.outbox WHERE invoice_id = 2;
COMMIT;
SELECT invoice_id, status, attempts, sent_at IS NOT NULL AS sent FROM ar.outbox WHERE invoice_id = 2;
-- a claim that is rolled back leaves the row as it was, attempts included
-- (an agent that dies before it commits has recorded nothing)
UPDATE ar.outbox SET status = 'pending', attempts = 0, sent_at = NULL WHERE invoice_id = 2;
BEGIN;
SELECT invoice_id, attempts FROM ar.outbox_claim(1);
ROLLBACK;
SELECT invoice_id, status, attempts FROM ar.outbox WHERE invoice_id = 2;
-- a claim restored from another cluster whose transaction id comes round
-- again here is not this transaction's: its start time differs
BEGIN;
UPDATE ar.outbox SET claimed_by = pg_current_xact_id(), claimed_at = '2026-01-01 00:00+00' WHERE invoice_id = 2;
SELECT ar.outbox_done(id, true) FROM ar.outbox WHERE invoice_id = 2;
ROLLBACK;
BEGIN;
UPDATE ar.outbox SET claimed_by = pg_current_xact_id(), claimed_at = '2026-01-01 00:00+00' WHERE invoice_id = 2;
SELECT invoice_id FROM ar.outbox_claim(10) ORDER BY 1;
ROLLBACK;
UPDATE ar.outbox SET status = 'failed' WHERE invoice_id = 2;
-- what is queued and not sent stays (pending or failed); a sent row may be cleared away
DELETE FROM ar.outbox WHERE status = 'pending';
\echo :LAST_ERROR_SQLSTATE
DELETE FROM ar.outbox WHERE status = 'failed';
DELETE FROM ar.outbox WHERE status = 'sent';
SELECT status, count(*) FROM ar.outbox GROUP BY status ORDER BY status;
