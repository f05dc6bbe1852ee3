--
-- Roles and row-level security by entity
--
DROP EXTENSION ar CASCADE;
CREATE EXTENSION ar;
SET search_path = public, ar;
\set SHOW_CONTEXT never
SET datestyle = ISO, YMD;

-- the three roles exist, nest, and cannot log in
SELECT r.rolname, r.rolcanlogin, r.rolbypassrls,
       pg_has_role(r.rolname, 'ar_reader', 'MEMBER') AS reads,
       pg_has_role(r.rolname, 'ar_clerk', 'MEMBER') AS clerks
  FROM pg_roles r WHERE r.rolname IN ('ar_reader', 'ar_clerk', 'ar_admin') ORDER BY 1;
-- every table that carries an entity, or hangs off one, has row-level
-- security with one policy; only these shared tables have none
SELECT c.relname FROM pg_class c
 WHERE c.relnamespace = 'ar'::regnamespace AND c.relkind = 'r' AND NOT c.relrowsecurity ORDER BY 1;
SELECT count(*) AS tables_with_rls_but_no_single_policy FROM pg_class c
 WHERE c.relnamespace = 'ar'::regnamespace AND c.relkind = 'r' AND c.relrowsecurity
   AND (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid) <> 1;

INSERT INTO ar.entity (id, code, name, country, vat_id, currency) VALUES
	(1, 'SE1', 'Norrsken AB', 'SE', 'SE556677889901', 'SEK'),
	(2, 'DK1', 'Havfrue ApS', 'DK', 'DK13585628', 'DKK');
INSERT INTO ar.series (id, entity_id, code, kind, pattern) VALUES
	(1, 1, 'F', 'invoice', 'F{N}'), (2, 2, 'F', 'invoice', 'D{N}');
INSERT INTO ar.customer (id, entity_id, customer_no, name, country, currency) VALUES
	(1, 1, 'C1', 'Kund AB', 'SE', 'SEK'), (2, 2, 'C2', 'Kunde ApS', 'DK', 'DKK');
INSERT INTO ar.invoice (id, entity_id, customer_id, currency, issue_date) VALUES
	(1, 1, 1, 'SEK', '2026-11-02'), (2, 2, 2, 'DKK', '2026-11-02');
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price) VALUES
	(1, 1, 'Vara', 1, 100), (2, 1, 'Vare', 1, 100);
SELECT setval(pg_get_serial_sequence('ar.invoice', 'id'), 10);

CREATE ROLE ar_t_clerk_se IN ROLE ar_clerk;
CREATE ROLE ar_t_reader_dk IN ROLE ar_reader;
CREATE ROLE ar_t_admin IN ROLE ar_admin;
CREATE ROLE ar_t_nobody;
-- access is granted per entity, to existing roles only
INSERT INTO ar.entity_access (role_name, entity_id) VALUES
	('ar_t_clerk_se', 1), ('ar_t_reader_dk', 2);
INSERT INTO ar.entity_access (role_name, entity_id) VALUES ('ar_t_no_such_role', 1);

-- a clerk of SE1 sees only SE1, down to lines and counters
SET ROLE ar_t_clerk_se;
SELECT ar.my_entities(), ar.is_admin();
SELECT id, code FROM ar.entity ORDER BY id;
-- (its own access, not who else sees what)
SELECT role_name, entity_id FROM ar.entity_access ORDER BY 1, 2;
SELECT id, customer_no FROM ar.customer ORDER BY id;
SELECT invoice_id, line_no FROM ar.invoice_line ORDER BY 1, 2;
-- ... issues its own invoices
SELECT ar.issue(1::bigint);
SELECT series_id, last_value FROM ar.series_counter ORDER BY 1;
SELECT table_name, op, row_key FROM ar.audit ORDER BY id DESC LIMIT 1;
-- ... cannot reach DK1's rows, not even by id
SELECT ar.issue(2::bigint);
UPDATE ar.invoice SET note = 'x' WHERE id = 2;
INSERT INTO ar.invoice (entity_id, customer_id, currency) VALUES (2, 2, 'DKK');
INSERT INTO ar.customer (entity_id, customer_no, name, country, currency)
VALUES (2, 'C9', 'Fremmed ApS', 'DK', 'DKK');
-- ... nor queue a reminder of DK1's invoice under SE1 (the check sees what
-- the clerk does not)
INSERT INTO ar.outbox (entity_id, customer_id, invoice_id, kind, channel, payload)
VALUES (1, 1, 2, 'reminder', 'email', 'x');
-- ... nor queue its own invoice with a payload of its own (another IBAN),
-- to be delivered in place of the one ar.issue queued
INSERT INTO ar.outbox (entity_id, customer_id, invoice_id, kind, channel, payload)
SELECT entity_id, customer_id, invoice_id, kind, channel, replace(payload, 'Norrsken', 'Other')
  FROM ar.outbox WHERE invoice_id = 1;
INSERT INTO ar.outbox (entity_id, customer_id, kind, channel, payload)
VALUES (1, 1, 'credit_note', 'email', 'x');
SELECT count(*) AS queued_for_invoice_1 FROM ar.outbox WHERE invoice_id = 1;
-- ... nor hang ar's trigger functions on a table of its own (one ran as its
-- owner and wrote another entity's payer accounts)
CREATE TEMP TABLE t_learn (payment_id bigint, invoice_id bigint, rule text);
CREATE TRIGGER t_learn AFTER INSERT ON t_learn FOR EACH ROW EXECUTE FUNCTION ar.payer_account_learn();
CREATE TRIGGER t_out AFTER INSERT ON t_learn REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION ar.outbox_inserted();
DROP TABLE t_learn;
-- ... nor switch off the credit check or raise the write-off tolerance
SET ar.credit_check = off;
SET ar.match_tolerance = '99999999.00 SEK';
-- ... nor give a new payment a reversal link, nor change when a payment came
INSERT INTO ar.payment (entity_id, bank_ref, booking_date, amount, reversed_by)
VALUES (1, 'X1', '2026-11-02', '10.00 SEK', 4);
INSERT INTO ar.payment (id, entity_id, bank_ref, booking_date, amount)
VALUES (50, 1, 'X2', '2026-11-02', '10.00 SEK');
UPDATE ar.payment SET created_at = '2020-01-01' WHERE id = 50;
-- ... and its manual allocation teaches the payer's account, with the
-- clerk's own rights
INSERT INTO ar.payment (id, entity_id, bank_ref, booking_date, amount, payer_account)
VALUES (51, 1, 'X3', '2026-11-02', '10.00 SEK', 'SE12 3456 7890');
SELECT ar.allocate(51, 1) > 0 AS allocated;
SELECT entity_id, payer_account, customer_id, learned_from, rule FROM ar.payer_account;
-- ... nor link an order of SE1 to DK1's invoice (told the same as for an
-- invoice that does not exist)
INSERT INTO ar.sales_order (entity_id, customer_id, order_no, status, currency, invoice_id)
VALUES (1, 1, 'SO-7', 'delivered', 'SEK', 2);
INSERT INTO ar.sales_order (entity_id, customer_id, order_no, status, currency, invoice_id)
VALUES (1, 1, 'SO-7', 'delivered', 'SEK', 999);
-- ... nor drop a document the outbox has queued
SELECT count(*) AS queued FROM ar.outbox WHERE status = 'pending';
DELETE FROM ar.outbox;
-- ... not even by marking it sent first, nor by moving its id
UPDATE ar.outbox SET status = 'sent', sent_at = now() WHERE invoice_id = 1;
UPDATE ar.outbox SET attempts = 5, status = 'failed' WHERE invoice_id = 1;
UPDATE ar.outbox SET id = id + 1000 WHERE invoice_id = 1;
SELECT status, attempts FROM ar.outbox WHERE invoice_id = 1;
-- ... and after claiming it and reporting it sent, the record stays
BEGIN;
SELECT count(*) > 0 AS claimed FROM ar.outbox_claim(10);
SELECT ar.outbox_done(id, true) FROM ar.outbox WHERE invoice_id = 1;
COMMIT;
DELETE FROM ar.outbox WHERE invoice_id = 1;
SELECT status, sent_at IS NOT NULL AS sent FROM ar.outbox WHERE invoice_id = 1;
-- ... but adds customers to its own entity
INSERT INTO ar.customer (id, entity_id, customer_no, name, country, currency)
VALUES (3, 1, 'C3', 'Ny Kund AB', 'SE', 'SEK');
-- ... and tightens their credit, but does not loosen it: releasing a hold,
-- raising or removing a limit would be the credit check's override
UPDATE ar.customer SET credit_limit = '1000.00 SEK', on_hold = true WHERE id = 3;
UPDATE ar.customer SET credit_limit = '500.00 SEK' WHERE id = 3;
UPDATE ar.customer SET on_hold = false WHERE id = 3;
UPDATE ar.customer SET credit_limit = '500.01 SEK' WHERE id = 3;
UPDATE ar.customer SET credit_limit = NULL WHERE id = 3;
UPDATE ar.customer SET name = 'Ny Kund i Malmö AB', credit_limit = '500.00 SEK' WHERE id = 3;
SELECT customer_no, name, credit_limit, on_hold FROM ar.customer WHERE id = 3;
-- ... and does not manage entities, series or access, nor write the audit trail
INSERT INTO ar.series (entity_id, code, pattern) VALUES (1, 'X', 'X{N}');
UPDATE ar.entity SET name = 'Annat AB' WHERE id = 1;
INSERT INTO ar.entity_access (role_name, entity_id) VALUES ('ar_t_clerk_se', 2);
INSERT INTO ar.audit (actor, table_name, op, row_key, data, hash)
VALUES ('x', 'invoice', 'UPDATE', '1', '{}', '\x00');
-- the audit check sees the whole chain whatever the caller sees
SELECT * FROM ar.verify_audit();
RESET ROLE;

-- a reader of DK1 reads DK1 and writes nothing
SET ROLE ar_t_reader_dk;
SELECT id, entity_id, status FROM ar.invoice ORDER BY id;
SELECT count(*) AS audit_rows_seen, min(entity_id), max(entity_id) FROM ar.audit;
UPDATE ar.invoice SET note = 'x' WHERE id = 2;
SELECT ar.issue(2::bigint);
-- ... nor run the matcher's ANALYZE as the extension's owner
SELECT ar._analyze_unanalyzed();
RESET ROLE;

-- an admin sees everything and manages entities, and may override the
-- credit check and set the tolerance
SET ROLE ar_t_admin;
UPDATE ar.customer SET credit_limit = NULL, on_hold = false WHERE id = 3;
SELECT customer_no, credit_limit, on_hold FROM ar.customer WHERE id = 3;
BEGIN;
SET LOCAL ar.credit_check = off;
SET LOCAL ar.match_tolerance = '1.00 SEK';
SHOW ar.credit_check;
COMMIT;
SELECT id, code FROM ar.entity ORDER BY id;
SELECT role_name, entity_id FROM ar.entity_access ORDER BY 1, 2;
INSERT INTO ar.entity (id, code, name, country, vat_id, currency) VALUES
	(3, 'NO1', 'Fjord AS', 'NO', 'NO912345678MVA', 'NOK');
SELECT ar.issue(2::bigint);
SELECT id, entity_id, number, note FROM ar.invoice ORDER BY id;
RESET ROLE;

-- a role without any ar role reads nothing
SET ROLE ar_t_nobody;
SELECT count(*) FROM ar.invoice;
RESET ROLE;

-- no role but the owner may attach any of ar's trigger functions
SELECT count(*) AS trigger_functions, count(*) FILTER (WHERE has_function_privilege('ar_clerk', p.oid, 'EXECUTE')
		OR has_function_privilege('ar_t_nobody', p.oid, 'EXECUTE')) AS attachable_by_others
  FROM pg_proc p WHERE p.pronamespace = 'ar'::regnamespace AND p.prorettype = 'trigger'::regtype;
-- the outbox check, a SECURITY DEFINER trigger, runs for ar.outbox only
CREATE TEMP TABLE t_out (id bigint, entity_id integer, customer_id bigint, invoice_id bigint);
CREATE TRIGGER t_out AFTER INSERT ON t_out REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION ar.outbox_inserted();
INSERT INTO t_out VALUES (1, 1, 9, 2);
DROP TABLE t_out;

DELETE FROM ar.entity_access;
DROP ROLE ar_t_clerk_se, ar_t_reader_dk, ar_t_admin, ar_t_nobody;
