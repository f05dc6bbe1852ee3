--
-- Invoicing core: master data, drafts, EN 16931 totals, gapless issuing,
-- immutability, credit check, ar.verify_series
--
-- a clean slate: earlier test files leave documents behind
DROP EXTENSION ar CASCADE;
CREATE EXTENSION ar;
SET search_path = public, ar;
\set SHOW_CONTEXT never
SET datestyle = ISO, YMD;

-- master data and its constraints (terse: the failing rows carry timestamps)
\set VERBOSITY terse
INSERT INTO ar.entity (code, name, country, vat_id, company_id, currency, street, city,
                       postal_code, iban, bic, bankgiro, peppol_scheme, peppol_id, reference_scheme)
VALUES ('SE1', 'Nordvind AB', 'SE', 'SE556677889901', '5566778899', 'SEK', 'Storgatan 1',
        'Stockholm', '11122', 'SE45 5000 0000 0583 9825 7466', 'ESSESESS', '5050-1055', '0007',
        '5566778899', 'ocr');
INSERT INTO ar.entity (code, name, country, currency) VALUES ('XX', 'Bad', 'XX', 'SEK');
INSERT INTO ar.entity (code, name, country, currency) VALUES ('X1', 'Bad', 'SE', 'XYZ');
-- a currency without a minor unit cannot hold amounts: refused when written
INSERT INTO ar.entity (code, name, country, currency) VALUES ('X8', 'Gold', 'SE', 'XAU');
INSERT INTO ar.entity (code, name, country, vat_id, currency) VALUES ('X2', 'Bad', 'SE', 'DK12345678', 'SEK');
INSERT INTO ar.entity (code, name, country, vat_id, currency) VALUES ('X3', 'Bad', 'GR', 'GR123456789', 'EUR');
INSERT INTO ar.entity (code, name, country, iban, currency) VALUES ('X4', 'Bad', 'SE', 'SE4550000000058398257467', 'SEK');
INSERT INTO ar.entity (code, name, country, peppol_scheme, currency) VALUES ('X5', 'Bad', 'SE', '0007', 'SEK');
INSERT INTO ar.entity (code, name, country, reference_scheme, currency) VALUES ('X6', 'Bad', 'SE', 'iso', 'SEK');
INSERT INTO ar.entity (code, name, country, bankgiro, currency) VALUES ('X7', 'Bad', 'SE', '5050-1056', 'SEK');
-- each refusal says what is wrong with the value
INSERT INTO ar.entity (code, name, country, iban, currency) VALUES ('X9', 'Bad', 'SE', 'SE45 5000 0000 0583 9825 746', 'SEK');
INSERT INTO ar.entity (code, name, country, iban, currency) VALUES ('X9', 'Bad', 'SE', 'US12345678901234', 'SEK');
INSERT INTO ar.entity (code, name, country, iban, currency) VALUES ('X9', 'Bad', 'SE', '4550000000058398257466', 'SEK');
INSERT INTO ar.entity (code, name, country, bic, currency) VALUES ('X9', 'Bad', 'SE', 'eskdseSS', 'SEK');
INSERT INTO ar.entity (code, name, country, bankgiro, currency) VALUES ('X9', 'Bad', 'SE', '505-10', 'SEK');
-- the error names its schema, table and constraint as PostgreSQL's own
DO $$
DECLARE
	st text; sch text; tab text; con text;
BEGIN
	INSERT INTO ar.entity (code, name, country, iban, currency) VALUES ('X9', 'Bad', 'SE', 'SE4550000000058398257467', 'SEK');
EXCEPTION WHEN check_violation THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, sch = SCHEMA_NAME, tab = TABLE_NAME, con = CONSTRAINT_NAME;
	RAISE NOTICE '% %.% %', st, sch, tab, con;
END
$$;
SELECT ar.iban_problem('SE4550000000058398257466') IS NULL AS valid, ar.iban_problem('se45 5000 0000 0583 9825 7466') IS NULL AS with_blanks;
INSERT INTO ar.entity (code, name, country, vat_id, currency, reference_scheme)
VALUES ('GR1', 'Ελλάδα AE', 'GR', 'EL123456789', 'EUR', 'rf');

INSERT INTO ar.series (entity_id, code, kind, pattern, reset) VALUES
	(1, 'INV', 'invoice', 'INV-{YYYY}-{N:6}', 'yearly'),
	(1, 'CN', 'credit_note', 'CN{YY}{N:5}', 'yearly');
INSERT INTO ar.series (entity_id, code, pattern) VALUES (1, 'BAD1', 'INV-{YYYY}');
INSERT INTO ar.series (entity_id, code, pattern) VALUES (1, 'BAD2', 'INV-{N}-{N}');
INSERT INTO ar.series (entity_id, code, pattern) VALUES (1, 'BAD3', 'INV-{Q}-{N}');
INSERT INTO ar.series (entity_id, code, pattern) VALUES (1, 'BAD4', 'INV-{N:0}');
INSERT INTO ar.series (entity_id, code, pattern) VALUES (1, 'BAD5', 'INV-{N');
INSERT INTO ar.series (entity_id, code, pattern, reset, is_default) VALUES (1, 'BAD6', 'INV-{N}', 'yearly', false);
INSERT INTO ar.series (entity_id, code, pattern) VALUES (1, 'INV2', 'X-{N}');
SELECT ar.format_number('INV-{YYYY}-{MM}-{N:6}', 42, '2026-03-09'),
       ar.format_number('{YY}{N}', 1234567, '2031-12-31'), ar.format_number('N{N:2}', 123, '2026-01-01');

INSERT INTO ar.customer (entity_id, customer_no, name, country, vat_id, currency,
                         payment_terms_days, credit_limit, email)
VALUES (1, 'C1', 'Kund & Söner AB', 'SE', 'SE559988776601', 'SEK', 30, '100000 SEK', 'ap@kund.se'),
       (1, 'C2', 'Fjord AS', 'NO', 'NO987654321MVA', 'SEK', 14, NULL, NULL),
       (1, 'C3', 'Hold Oy', 'FI', 'FI12345678', 'SEK', 30, NULL, NULL);
INSERT INTO ar.customer (entity_id, customer_no, name, country, currency) VALUES (1, 'C1', 'Twin', 'SE', 'SEK');
INSERT INTO ar.customer (entity_id, customer_no, name, country, currency, credit_limit)
VALUES (1, 'C9', 'Wrong limit', 'SE', 'SEK', '100 EUR');
INSERT INTO ar.customer (entity_id, customer_no, name, country, currency, credit_limit)
VALUES (1, 'C9', 'Negative limit', 'SE', 'SEK', '-1 SEK');
INSERT INTO ar.customer (entity_id, customer_no, name, country, vat_id, currency)
VALUES (1, 'C9', 'Wrong VAT id', 'NO', 'SE559988776601', 'SEK');
INSERT INTO ar.customer (entity_id, customer_no, name, country, currency, channel)
VALUES (1, 'C9', 'No endpoint', 'SE', 'SEK', 'peppol');
INSERT INTO ar.customer (entity_id, customer_no, name, country, currency, payment_terms_days)
VALUES (1, 'C9', 'Terms', 'SE', 'SEK', -1);
INSERT INTO ar.customer (entity_id, customer_no, name, country, currency) VALUES (1, 'C9', 'Gold', 'SE', 'XAU');
INSERT INTO ar.customer (entity_id, customer_no, name, country, currency) VALUES (1, 'C9', 'Lower', 'SE', 'sek');

\set VERBOSITY default
-- drafts: lines take the invoice currency and get their net amount
INSERT INTO ar.invoice (id, entity_id, customer_id, currency, issue_date, buyer_reference)
VALUES (1, 1, 1, 'SEK', '2026-03-02', 'PO-1'), (2, 1, 2, 'SEK', '2026-03-02', 'PO-2'),
       (3, 1, 1, 'SEK', '2026-03-03', NULL);
INSERT INTO ar.invoice (entity_id, customer_id, currency) VALUES (1, 1, 'XAU');
UPDATE ar.invoice SET currency = 'XDR' WHERE id = 3;
SELECT id, currency FROM ar.invoice WHERE id = 3;
-- .5 boundaries, VAT 25 / 12 / 6 / 0, reverse charge, exempt with a reason
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_category,
                             vat_rate, vat_exemption_code, vat_exemption_reason) VALUES
	(1, 1, 'Widget', 3, 0.125, 'S', 25, NULL, NULL),
	(1, 2, 'Widget', 1, 0.125, 'S', 25, NULL, NULL),
	(1, 3, 'Book', 7, 14.285, 'S', 6, NULL, NULL),
	(1, 4, 'Food', 2, 10.125, 'S', 12, NULL, NULL),
	(1, 5, 'Food', 1, 0.045, 'S', 12, NULL, NULL),
	(1, 6, 'Export box', 1, 99.995, 'Z', 0, NULL, NULL),
	(1, 7, 'Course', 1, 1000, 'E', 0, 'VATEX-EU-132-1I', 'Education'),
	(1, 8, 'Return', -1, 0.125, 'S', 25, NULL, NULL),
	(2, 1, 'Consulting', 10, 1250.50, 'AE', 0, 'VATEX-EU-AE', 'Reverse charge');
SELECT line_no, quantity, unit_price, currency, net_amount FROM ar.invoice_line
 WHERE invoice_id = 1 ORDER BY line_no;
-- a line in another currency, a negative price, S at 0 %, Z at 25 %
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, currency)
VALUES (3, 1, 'Euro thing', 1, 10, 'EUR');
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price) VALUES (3, 1, 'Rebate', 1, -10);
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_category, vat_rate)
VALUES (3, 1, 'Zero S', 1, 10, 'S', 0);
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_category, vat_rate)
VALUES (3, 1, 'Taxed Z', 1, 10, 'Z', 25);
-- an unknown customer, a customer of another entity
INSERT INTO ar.invoice (id, entity_id, customer_id, currency) VALUES (90, 1, 999, 'SEK');
INSERT INTO ar.invoice (id, entity_id, customer_id, currency) VALUES (91, 2, 1, 'EUR');
-- a draft cannot be born issued
INSERT INTO ar.invoice (entity_id, customer_id, currency, status) VALUES (1, 1, 'SEK', 'issued');

-- issuing: bad input changes nothing
SELECT ar.issue(3);
SELECT * FROM ar.issue(ARRAY[1, 3]);
SELECT * FROM ar.issue(ARRAY[1, 999]);
SELECT * FROM ar.issue(ARRAY[1, 1]);
SELECT * FROM ar.issue(ARRAY[1, NULL]);
SELECT count(*) AS issued, (SELECT count(*) FROM ar.series_counter) AS counters,
       (SELECT count(*) FROM ar.outbox) AS queued
  FROM ar.invoice WHERE status <> 'draft';

-- a set-based issue numbers in id order
SELECT * FROM ar.issue(ARRAY[2, 1]);
SELECT id, number, status, issue_date, due_date, net_total, tax_total, total, open_amount,
       payment_reference, ar.reference_valid('ocr', payment_reference) AS ref_ok
  FROM ar.invoice WHERE id IN (1, 2) ORDER BY id;
SELECT invoice_id, vat_category, vat_rate, taxable_amount, tax_amount, exemption_code
  FROM ar.invoice_tax ORDER BY 1, 2, 3;
-- EN 16931: BR-CO-10 (sum of lines), BR-CO-14 (sum of VAT), BR-CO-15 (total)
SELECT i.id,
       i.net_total = (SELECT sum(l.net_amount) FROM ar.invoice_line l WHERE l.invoice_id = i.id) AS br_co_10,
       i.tax_total = (SELECT sum(t.tax_amount) FROM ar.invoice_tax t WHERE t.invoice_id = i.id) AS br_co_14,
       i.total = i.net_total + i.tax_total AS br_co_15
  FROM ar.invoice i WHERE i.id IN (1, 2) ORDER BY i.id;
SELECT invoice_id, kind, channel, status FROM ar.outbox ORDER BY id;

-- issuing twice, and issuing a cancelled draft
SELECT ar.issue(1);
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price) VALUES (3, 1, 'Thing', 1, 10);
UPDATE ar.invoice SET status = 'cancelled' WHERE id = 3;
SELECT ar.issue(3);

-- numbers follow dates within a series
INSERT INTO ar.invoice (id, entity_id, customer_id, currency, issue_date) VALUES (4, 1, 1, 'SEK', '2026-03-01');
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price) VALUES (4, 1, 'Late', 1, 10);
SELECT ar.issue(4);
\set VERBOSITY terse
UPDATE ar.invoice SET issue_date = '2026-03-05', due_date = '2026-03-04' WHERE id = 4;
\set VERBOSITY default
SELECT ar.issue(4);
UPDATE ar.invoice SET issue_date = '2026-03-05', due_date = '2026-04-30' WHERE id = 4;
SELECT ar.issue(4);
SELECT number, issue_date, due_date FROM ar.invoice WHERE id = 4;
-- a date before the year 1 or more than a year ahead is refused: it would
-- hold the series up (nothing changes)
INSERT INTO ar.invoice (id, entity_id, customer_id, currency, issue_date) VALUES
	(90, 1, 1, 'SEK', '0005-03-01 BC'), (91, 1, 1, 'SEK', '2999-01-01');
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price) VALUES
	(90, 1, 'Old', 1, 10), (91, 1, 'Ahead', 1, 10);
SELECT ar.issue(90);
SELECT ar.issue(91) IS NULL AS issued;
SELECT status, number IS NULL AS no_number FROM ar.invoice WHERE id IN (90, 91) ORDER BY id;
DELETE FROM ar.invoice WHERE id IN (90, 91);
-- the yearly reset starts the next year at 1
INSERT INTO ar.invoice (id, entity_id, customer_id, currency, issue_date) VALUES (5, 1, 2, 'SEK', '2027-01-04');
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price) VALUES (5, 1, 'New year', 1, 10);
SELECT ar.issue(5);

-- issued documents are immutable, also for statements sent by an ERP
UPDATE ar.invoice SET total = '1 SEK' WHERE id = 1;
UPDATE ar.invoice SET customer_id = 2 WHERE id = 1;
UPDATE ar.invoice SET number = 'INV-2026-999999' WHERE id = 1;
UPDATE ar.invoice SET due_date = '2027-01-01' WHERE id = 1;
UPDATE ar.invoice_line SET quantity = 100 WHERE invoice_id = 1 AND line_no = 1;
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price) VALUES (1, 9, 'Extra', 1, 1);
DELETE FROM ar.invoice_line WHERE invoice_id = 1;
DELETE FROM ar.invoice WHERE id = 1;
UPDATE ar.invoice SET status = 'draft' WHERE id = 1;
UPDATE ar.invoice SET open_amount = '-1 SEK' WHERE id = 1;
-- the note may still be changed
UPDATE ar.invoice SET note = 'called the customer' WHERE id = 1;
-- a draft may be deleted, with its lines
INSERT INTO ar.invoice (id, entity_id, customer_id, currency) VALUES (6, 1, 1, 'SEK');
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price) VALUES (6, 1, 'Gone', 1, 1);
DELETE FROM ar.invoice WHERE id = 6;
SELECT count(*) FROM ar.invoice_line WHERE invoice_id = 6;

-- credit check: limit and hold, with the documented override
INSERT INTO ar.invoice (id, entity_id, customer_id, currency, issue_date) VALUES (7, 1, 1, 'SEK', '2026-03-06');
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_rate)
VALUES (7, 1, 'Big order', 1, 80000, 25);
SELECT ar.issue(7);
UPDATE ar.customer SET on_hold = true WHERE id = 3;
INSERT INTO ar.invoice (id, entity_id, customer_id, currency, issue_date) VALUES (8, 1, 3, 'SEK', '2026-03-06');
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price) VALUES (8, 1, 'Held', 1, 1);
SELECT ar.issue(8);
BEGIN;
SET LOCAL ar.credit_check = off;
SELECT * FROM ar.issue(ARRAY[7, 8]);
COMMIT;

-- the series is sound; then a gap and a duplicate made behind ar's back
SELECT * FROM ar.verify_series(1);
SELECT number, seq_no FROM ar.invoice WHERE series_id = 1 ORDER BY seq_period, seq_no;
ALTER TABLE ar.invoice DISABLE TRIGGER invoice_before_update;
UPDATE ar.invoice SET seq_no = 7, number = 'INV-2026-000007' WHERE id = 8;
UPDATE ar.invoice SET issue_date = '2026-02-01', due_date = '2026-03-01' WHERE id = 7;
UPDATE ar.invoice SET number = 'INV-2026-000001' WHERE id = 5;
ALTER TABLE ar.invoice ENABLE TRIGGER invoice_before_update;
SELECT * FROM ar.verify_series(1) ORDER BY 1, 2;

-- a draft holds nothing ar.issue sets from the number: a payment reference
-- given to a draft would block the number that gets it
INSERT INTO ar.invoice (id, entity_id, customer_id, currency, payment_reference)
VALUES (40, 1, 1, 'SEK', '20260000110');
INSERT INTO ar.invoice (id, entity_id, customer_id, currency, issued_at) VALUES (40, 1, 1, 'SEK', now());
INSERT INTO ar.invoice (id, entity_id, customer_id, currency) VALUES (40, 1, 1, 'SEK');
UPDATE ar.invoice SET seq_period = 2026 WHERE id = 40;
UPDATE ar.invoice SET payment_reference = '20260000110' WHERE id = 40;
SELECT payment_reference, seq_period, issued_at FROM ar.invoice WHERE id = 40;
DELETE FROM ar.invoice WHERE id = 40;
-- created_at of an issued invoice is immutable too
UPDATE ar.invoice SET created_at = now() - interval '1 year' WHERE id = 1;
-- ar.issue takes a list of ids
SELECT ar.issue(ARRAY[[1, 2], [3, 4]]::bigint[]);
