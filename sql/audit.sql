--
-- The audit trail: a sha256 hash chain over every change to invoices,
-- lines, payments and allocations
--
DROP EXTENSION ar CASCADE;
CREATE EXTENSION ar;
SET search_path = public, ar;
\set SHOW_CONTEXT never
SET datestyle = ISO, YMD;

INSERT INTO ar.entity (id, code, name, country, vat_id, currency) VALUES
	(1, 'FI1', 'Revontuli Oy', 'FI', 'FI12345671', 'EUR');
INSERT INTO ar.series (entity_id, code, kind, pattern) VALUES
	(1, 'L', 'invoice', 'L{N}'), (1, 'H', 'credit_note', 'H{N}');
INSERT INTO ar.customer (id, entity_id, customer_no, name, country, currency) VALUES
	(1, 1, 'A1', 'Asiakas Oy', 'FI', 'EUR');

-- an empty chain is sound
SELECT * FROM ar.verify_audit();
-- (no head until the first seal)
SELECT count(*) AS heads FROM ar.audit_head;

-- one transaction: two drafts with lines, issued, a payment and an allocation
BEGIN;
INSERT INTO ar.invoice (id, entity_id, customer_id, currency, issue_date) VALUES
	(1, 1, 1, 'EUR', '2026-11-02'), (2, 1, 1, 'EUR', '2026-11-02');
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_rate) VALUES
	(1, 1, 'Sauna', 1, 100, 25.5), (1, 2, 'Puut', 2, 10, 25.5), (2, 1, 'Sauna', 1, 200, 25.5);
SELECT ar.issue(ARRAY[1, 2]::bigint[]);
INSERT INTO ar.payment (id, entity_id, bank_ref, booking_date, amount) VALUES
	(1, 1, 'P1', '2026-11-20', '50.00 EUR');
SELECT ar.allocate(1, 1);
COMMIT;
SELECT setval(pg_get_serial_sequence('ar.invoice', 'id'), 10);
-- what the trail holds: one row per changed row
SELECT id, table_name, op, row_key, entity_id, first_in_xact,
       data->>'status' AS status, data->>'open_amount' AS open_amount
  FROM ar.audit ORDER BY id;
-- an update records the columns it changed, with their new values
SELECT id, row_key, (SELECT string_agg(k, ',' ORDER BY k) FROM jsonb_object_keys(data) k) AS changed
  FROM ar.audit WHERE op = 'UPDATE' ORDER BY id;
-- one seal for the transaction, linked to the genesis hash
SELECT seq, row_count, first_id, last_id,
       prev_hash = sha256('ar audit genesis'::bytea) AS links_genesis
  FROM ar.audit_seal ORDER BY seq;
SELECT * FROM ar.verify_audit();

-- every statement outside a transaction block is its own link
SELECT ar.credit(2, 'Väärä hinta');
UPDATE ar.invoice SET note = 'Kiitos' WHERE id = 1;
SELECT seq, row_count, (SELECT count(*) FROM ar.audit a WHERE a.id BETWEEN s.first_id AND s.last_id) AS rows
  FROM ar.audit_seal s ORDER BY seq;
SELECT (SELECT seq FROM ar.audit_head) = (SELECT max(seq) FROM ar.audit_seal) AS head_is_last;

-- a rollback leaves no trace; a rolled back savepoint leaves none of its rows
BEGIN;
UPDATE ar.invoice SET note = 'pois' WHERE id = 1;
ROLLBACK;
BEGIN;
SAVEPOINT a;
UPDATE ar.invoice SET note = 'savepoint' WHERE id = 1;
ROLLBACK TO SAVEPOINT a;
INSERT INTO ar.invoice (id, entity_id, customer_id, currency) VALUES (3, 1, 1, 'EUR');
SAVEPOINT b;
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_rate)
VALUES (3, 1, 'Luonnos', 1, 1, 25.5);
RELEASE SAVEPOINT b;
COMMIT;
-- a deleted draft is recorded too (its lines go with it)
DELETE FROM ar.invoice WHERE id = 3;
SELECT a.id, s.seq AS seal, a.table_name, a.op, a.row_key, a.data->>'note' AS note
  FROM ar.audit a JOIN ar.audit_seal s ON a.id BETWEEN s.first_id AND s.last_id
 WHERE s.seq > 1 ORDER BY a.id;
SELECT count(*) AS seals, sum(row_count) AS sealed_rows, (SELECT count(*) FROM ar.audit) AS rows
  FROM ar.audit_seal;
SELECT * FROM ar.verify_audit();

-- the actor is the session user, or the role it has set
CREATE ROLE ar_audit_clerk IN ROLE ar_clerk;
INSERT INTO ar.entity_access (role_name, entity_id) VALUES ('ar_audit_clerk', 1);
SET ROLE ar_audit_clerk;
UPDATE ar.invoice SET note = 'roolina' WHERE id = 1;
RESET ROLE;
SELECT actor, data->>'note' AS note FROM ar.audit ORDER BY id DESC LIMIT 1;
-- an update that changes no value is recorded with no columns
UPDATE ar.invoice SET note = note WHERE id = 1;
SELECT op, row_key, data FROM ar.audit ORDER BY id DESC LIMIT 1;
-- nobody else writes the trail directly
SET ROLE ar_audit_clerk;
INSERT INTO ar.audit (actor, table_name, op, row_key, data, hash)
VALUES ('x', 'invoice', 'UPDATE', '1', '{}', '\x00');
RESET ROLE;

-- append-only, even for the owner
UPDATE ar.audit SET actor = 'someone else' WHERE id = 1;
DELETE FROM ar.audit WHERE id = 1;
TRUNCATE ar.audit;
UPDATE ar.audit_seal SET row_count = 0 WHERE seq = 1;
DELETE FROM ar.audit_seal;
DELETE FROM ar.audit_head;

-- tampering behind the triggers' back is found (each case rolled back)
BEGIN;
ALTER TABLE ar.audit DISABLE TRIGGER audit_append_only;
UPDATE ar.audit SET data = jsonb_set(data, '{open_amount}', '"0.00 EUR"') WHERE id = 7;
SELECT * FROM ar.verify_audit();
-- a row altered together with its own hash still breaks its seal
UPDATE ar.audit a SET hash = ar.audit_row_hash(a.id, a.xid, a.at, a.actor, a.table_name, a.op,
                                               a.row_key, a.entity_id, a.data, a.first_in_xact)
 WHERE id = 7;
SELECT * FROM ar.verify_audit();
ROLLBACK;
-- a deleted row
BEGIN;
ALTER TABLE ar.audit DISABLE TRIGGER audit_append_only;
DELETE FROM ar.audit WHERE id = 9;
SELECT * FROM ar.verify_audit();
ROLLBACK;
-- a plain INSERT into the trail is refused, even a superuser's (the seal
-- would chain it like a real row) ...
INSERT INTO ar.audit (actor, table_name, op, row_key, data, hash)
VALUES ('forger', 'invoice', 'UPDATE', '1', '{}', '\x00');
-- ... and a row slipped in past the guard, without a seal, is found (its
-- xid is another transaction's: a transaction's own rows wait for its seal)
BEGIN;
ALTER TABLE ar.audit DISABLE TRIGGER audit_seal;
ALTER TABLE ar.audit DISABLE TRIGGER audit_insert_guard;
INSERT INTO ar.audit (xid, actor, table_name, op, row_key, data, hash)
SELECT '3', 'forger', 'invoice', 'UPDATE', '1', '{}', ar.audit_row_hash(currval('ar.audit_id_seq') + 1,
       '3', now(), 'forger', 'invoice', 'UPDATE', '1', NULL, '{}', false);
SELECT problem FROM ar.verify_audit();
ROLLBACK;
-- ... also with the verifier's own xid, written at another time: a row
-- restored from another cluster whose xid comes round again here
BEGIN;
ALTER TABLE ar.audit DISABLE TRIGGER audit_seal;
ALTER TABLE ar.audit DISABLE TRIGGER audit_insert_guard;
INSERT INTO ar.audit (xid, at, actor, table_name, op, row_key, data, hash)
SELECT pg_current_xact_id(), '2026-01-01 00:00+00', 'forger', 'invoice', 'UPDATE', '1', '{}',
       ar.audit_row_hash(currval('ar.audit_id_seq') + 1, pg_current_xact_id(), '2026-01-01 00:00+00',
                         'forger', 'invoice', 'UPDATE', '1', NULL, '{}', false);
SELECT problem FROM ar.verify_audit();
ROLLBACK;
-- an edited row hash names the row, not its seal
BEGIN;
ALTER TABLE ar.audit DISABLE TRIGGER audit_append_only;
UPDATE ar.audit SET hash = sha256('x'::bytea) WHERE id = 5;
SELECT * FROM ar.verify_audit();
ROLLBACK;
-- within a transaction that has written audit rows, they are not yet
-- sealed, and that is no problem
BEGIN;
UPDATE ar.invoice SET note = 'within' WHERE id = 1;
SELECT * FROM ar.verify_audit();
ROLLBACK;
-- a removed seal, and a forged seal hash
BEGIN;
ALTER TABLE ar.audit_seal DISABLE TRIGGER audit_seal_append_only;
DELETE FROM ar.audit_seal WHERE seq = 2;
SELECT * FROM ar.verify_audit();
ROLLBACK;
BEGIN;
ALTER TABLE ar.audit_seal DISABLE TRIGGER audit_seal_append_only;
UPDATE ar.audit_seal SET hash = sha256('x'::bytea) WHERE seq = 3;
SELECT * FROM ar.verify_audit();
ROLLBACK;
-- a head moved back
BEGIN;
UPDATE ar.audit_head SET seq = seq - 1;
SELECT * FROM ar.verify_audit();
ROLLBACK;
-- the tables are compared with the trail: a row written with the triggers
-- off is found (each case rolled back)
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE ar.invoice SET open_amount = '0.00 EUR', status = 'paid' WHERE id = 1;
SELECT * FROM ar.verify_audit();
ROLLBACK;
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE ar.invoice_line SET unit_price = 1 WHERE invoice_id = 1 AND line_no = 2;
SELECT * FROM ar.verify_audit();
ROLLBACK;
BEGIN;
SET LOCAL session_replication_role = replica;
DELETE FROM ar.allocation WHERE id = 1;
SELECT * FROM ar.verify_audit();
ROLLBACK;
-- the VAT breakdown that the documents render is audited too
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE ar.invoice_tax SET tax_amount = '0.00 EUR' WHERE invoice_id = 1;
SELECT * FROM ar.verify_audit();
ROLLBACK;
BEGIN;
SET LOCAL session_replication_role = replica;
DELETE FROM ar.invoice_tax WHERE invoice_id = 2;
SELECT * FROM ar.verify_audit();
ROLLBACK;
BEGIN;
SET LOCAL session_replication_role = replica;
INSERT INTO ar.payment (id, entity_id, bank_ref, booking_date, amount, unallocated)
VALUES (99, 1, 'P99', '2026-11-20', '9.00 EUR', '9.00 EUR');
SELECT * FROM ar.verify_audit();
ROLLBACK;
-- the draft deleted above, put back behind the triggers
BEGIN;
SET LOCAL session_replication_role = replica;
INSERT INTO ar.invoice (id, entity_id, customer_id, currency) VALUES (3, 1, 1, 'EUR');
SELECT * FROM ar.verify_audit();
ROLLBACK;
-- a broken chain is named before any table row
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE ar.invoice SET note = 'hiljaa' WHERE id = 1;
ALTER TABLE ar.audit DISABLE TRIGGER audit_append_only;
UPDATE ar.audit SET hash = sha256('x'::bytea) WHERE id = 5;
SELECT * FROM ar.verify_audit();
ROLLBACK;
-- the trail's values are read back into the row type: another TimeZone or
-- DateStyle than the writer's is no difference
BEGIN;
SET LOCAL TimeZone = 'Asia/Kolkata';
SET LOCAL DateStyle = 'SQL, DMY';
SELECT * FROM ar.verify_audit();
ROLLBACK;
-- how a row's audit rows replay
SELECT ar.audit_state(op, data ORDER BY ord)
  FROM (VALUES (1, 'INSERT', '{"a": 1, "b": 2}'::jsonb), (2, 'UPDATE', '{"b": 3}')) v(ord, op, data);
SELECT ar.audit_state(op, data ORDER BY ord) IS NULL AS deleted
  FROM (VALUES (1, 'INSERT', '{"a": 1}'::jsonb), (2, 'DELETE', '{"a": 1}')) v(ord, op, data);
SELECT ar.audit_state(op, data ORDER BY ord)
  FROM (VALUES (1, 'DELETE', '{"a": 1}'::jsonb), (2, 'INSERT', '{"a": 2}'), (3, 'UPDATE', '{"c": 4}')) v(ord, op, data);
SELECT ar.audit_fold('{}', 'TRUNCATE', '{}');
SELECT ar.audit_fold('{}', NULL, '{}');
SELECT * FROM ar.verify_audit();
DELETE FROM ar.entity_access;
DROP ROLE ar_audit_clerk;

-- Only ar's audited tables are audited: ar.audit_capture on another table is
-- refused, and only its owner may hang it on a table at all
SELECT has_function_privilege('ar_reader', 'ar.audit_capture()', 'EXECUTE') AS reader_may_use;
CREATE TABLE public.invoice (id bigint, entity_id integer, status text);
CREATE TRIGGER f AFTER INSERT ON public.invoice REFERENCING NEW TABLE AS n
	FOR EACH STATEMENT EXECUTE FUNCTION ar.audit_capture();
INSERT INTO public.invoice VALUES (1, 1, 'paid');
DROP TABLE public.invoice;

-- the key of an audited row never changes (its history is found by it)
INSERT INTO ar.invoice (id, entity_id, customer_id, currency) VALUES (200, 1, 1, 'EUR');
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_rate)
VALUES (200, 1, 'Sauna', 1, 100, 25.5);
UPDATE ar.invoice_line SET line_no = 7 WHERE invoice_id = 200 AND line_no = 1;

-- a statement after a seal that fired mid-transaction is sealed too
CREATE FUNCTION flush_seals() RETURNS text LANGUAGE plpgsql AS
	$$BEGIN SET CONSTRAINTS ALL IMMEDIATE; SET CONSTRAINTS ALL DEFERRED; RETURN 'P8'; END$$;
BEGIN;
INSERT INTO ar.payment (id, entity_id, bank_ref, booking_date, amount) VALUES (701, 1, 'P7', '2026-11-20', '1.00 EUR');
INSERT INTO ar.payment (id, entity_id, bank_ref, booking_date, amount) SELECT 702, 1, flush_seals(), '2026-11-20', '2.00 EUR';
COMMIT;
SELECT a.row_key, s.seq IS NOT NULL AS sealed
  FROM ar.audit a LEFT JOIN ar.audit_seal s ON s.xid = a.xid AND a.id BETWEEN s.first_id AND s.last_id
 WHERE a.table_name = 'payment' AND a.row_key IN ('701', '702') ORDER BY a.id;
SELECT * FROM ar.verify_audit();

-- a superuser's COPY ... TO that writes through a function is audited: only
-- COPY ... FROM (a restore) bypasses the capture
CREATE FUNCTION pay(ref text) RETURNS bigint LANGUAGE sql AS
	$$INSERT INTO ar.payment (id, entity_id, bank_ref, booking_date, amount) VALUES (703, 1, ref, '2026-11-20', '3.00 EUR') RETURNING id$$;
SELECT count(*) AS audit_rows FROM ar.audit \gset
SET row_security = off;
COPY (SELECT pay('P9') IS NOT NULL) TO STDOUT;
RESET row_security;
SELECT count(*) - :audit_rows AS new_audit_rows FROM ar.audit;
SELECT * FROM ar.verify_audit();

-- the hash gives each text its length: moving a | between fields changes it
SELECT ar.audit_row_hash(1, '5', '2026-01-01', 'a|payment', 'invoice', 'UPDATE', '1', 1, '{}', false)
	 = ar.audit_row_hash(1, '5', '2026-01-01', 'a', 'payment|invoice', 'UPDATE', '1', 1, '{}', false) AS same;

-- a seal made inside a savepoint that is rolled back is made again at commit
BEGIN;
INSERT INTO ar.payment (id, entity_id, bank_ref, booking_date, amount) VALUES (704, 1, 'P10', '2026-11-20', '4.00 EUR');
SAVEPOINT s;
SET CONSTRAINTS ALL IMMEDIATE;
SET CONSTRAINTS ALL DEFERRED;
SELECT count(*) AS seals_in_savepoint FROM ar.audit_seal WHERE xid = pg_current_xact_id();
ROLLBACK TO SAVEPOINT s;
SELECT count(*) AS seals_after_rollback FROM ar.audit_seal WHERE xid = pg_current_xact_id();
COMMIT;
SELECT a.row_key, s.row_count, s.seq = (SELECT seq FROM ar.audit_head) AS is_head
  FROM ar.audit a JOIN ar.audit_seal s ON s.xid = a.xid AND a.id BETWEEN s.first_id AND s.last_id
 WHERE a.table_name = 'payment' AND a.row_key = '704';
SELECT * FROM ar.verify_audit();

-- the seal links ar.audit only: hung on another table it refuses to run
CREATE TABLE public.audit (id bigint);
CREATE TRIGGER s AFTER INSERT ON public.audit FOR EACH ROW EXECUTE FUNCTION ar.audit_seal();
INSERT INTO public.audit VALUES (1);
DROP TABLE public.audit;
