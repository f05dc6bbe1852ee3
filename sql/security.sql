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
-- ... nor queue DK1's invoice under SE1 (the check sees what the clerk does not)
INSERT INTO ar.outbox (entity_id, customer_id, invoice_id, kind, channel, payload)
VALUES (1, 1, 2, 'invoice', 'email', 'x');
-- ... nor link an order of SE1 to DK1's invoice (told the same as for an
-- invoice that does not exist)
INSERT INTO ar.sales_order (entity_id, customer_id, order_no, status, currency, invoice_id)
VALUES (1, 1, 'SO-7', 'delivered', 'SEK', 2);
INSERT INTO ar.sales_order (entity_id, customer_id, order_no, status, currency, invoice_id)
VALUES (1, 1, 'SO-7', 'delivered', 'SEK', 999);
-- ... nor drop a document the outbox has queued
SELECT count(*) AS queued FROM ar.outbox WHERE status = 'pending';
DELETE FROM ar.outbox;
-- ... but adds customers to its own entity
INSERT INTO ar.customer (id, entity_id, customer_no, name, country, currency)
VALUES (3, 1, 'C3', 'Ny Kund AB', 'SE', 'SEK');
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
RESET ROLE;

-- an admin sees everything and manages entities
SET ROLE ar_t_admin;
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

DELETE FROM ar.entity_access;
DROP ROLE ar_t_clerk_se, ar_t_reader_dk, ar_t_admin, ar_t_nobody;
