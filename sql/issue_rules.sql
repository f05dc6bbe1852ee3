--
-- Issuing rules: payment references per series (prefix, Finnish bases,
-- collisions), the credit check across currencies, credit notes for the
-- open amount or a part of it, the due date
--
DROP EXTENSION ar CASCADE;
CREATE EXTENSION ar;
SET search_path = public, ar;
\set SHOW_CONTEXT never
SET datestyle = ISO, YMD;

-- exchange rates: an invoice in another currency than its seller's states
-- its VAT in the seller's currency too (BT-111), at the issue date's rate
INSERT INTO ar.fx_rate (from_currency, to_currency, valid_on, rate) VALUES
	('KWD', 'SEK', '2026-01-01', 34.5), ('CLF', 'SEK', '2026-01-01', 412.5);
INSERT INTO ar.entity (id, code, name, country, vat_id, currency, iban, reference_scheme) VALUES
	(1, 'FI1', 'Revontuli Oy', 'FI', 'FI12345671', 'EUR', 'FI2112345600000785', 'fi'),
	(2, 'SE1', 'Norrsken AB', 'SE', 'SE556677889901', 'SEK', 'SE45 5000 0000 0583 9825 7466', 'ocr');
INSERT INTO ar.customer (id, entity_id, customer_no, name, country, currency, credit_limit) VALUES
	(1, 1, 'A1', 'Asiakas Oy', 'FI', 'EUR', NULL),
	(2, 2, 'K1', 'Kund AB', 'SE', 'SEK', '10000.00 SEK'),
	(3, 2, 'K2', 'Kund Två AB', 'SE', 'SEK', NULL);

SELECT setval(pg_get_serial_sequence('ar.invoice', 'id'), 100);
-- drafts: invoice id, entity, customer, currency, date, one line
CREATE FUNCTION pg_temp.draft(id bigint, entity integer, customer bigint, cur text, price numeric,
                              issue date DEFAULT '2026-11-02', series integer DEFAULT NULL)
RETURNS bigint LANGUAGE sql AS $$
	INSERT INTO ar.invoice (id, entity_id, customer_id, currency, issue_date, series_id)
	VALUES (id, entity, customer, cur, issue, series);
	INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_rate)
	VALUES (id, 1, 'Työ', 1, price, 24);
	SELECT id;
$$;

--
-- Finnish references: the base is the number's digits without leading
-- zeros, and needs 3 of them
--
INSERT INTO ar.series (id, entity_id, code, kind, pattern) VALUES (1, 1, 'L', 'invoice', 'L{N}');
SELECT pg_temp.draft(1, 1, 1, 'EUR', 100, series => 1);
SELECT ar.issue(1::bigint);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS issued FROM ar.invoice WHERE status <> 'draft';
-- a reference prefix makes the base long enough, and is the same for every number
UPDATE ar.series SET reference_prefix = '10' WHERE id = 1;
SELECT ar.issue(1::bigint);
SELECT number, payment_reference, ar.reference_valid('fi', payment_reference) FROM ar.invoice WHERE id = 1;
-- zero-padded numbers lose their leading zeros: 000123 gives the base 123
INSERT INTO ar.series (id, entity_id, code, kind, pattern, is_default) VALUES (2, 1, 'P', 'invoice', 'P{N:6}', false);
SELECT ar.invoice_reference('fi', NULL, 'P000123'), ar.invoice_reference('fi', '7', 'P000001');
SELECT ar.invoice_reference('fi', NULL, 'P000012');
SELECT ar.invoice_reference('ocr', NULL, 'INV-2026-000001'), ar.invoice_reference('ocr', '42', 'INV-2026-000001'),
       ar.invoice_reference('fik', NULL, '7'), ar.invoice_reference('rf', '1', 'F-9');
-- the base is cut from the left to what the scheme holds
SELECT ar.invoice_reference('fi', NULL, 'X-1234567890-1234567890') AS fi_20;
SELECT ar.invoice_reference('ocr', 'x1', 'F1');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO ar.series (entity_id, code, kind, pattern, reference_prefix) VALUES (1, 'Q', 'invoice', 'Q{N}', '1a');
\echo :LAST_ERROR_SQLSTATE

--
-- Two invoice series whose numbers share digits give the same references:
-- a clear error, and a prefix per series keeps them apart
--
INSERT INTO ar.series (id, entity_id, code, kind, pattern, is_default) VALUES
	(3, 2, 'A', 'invoice', 'A{N}', true), (4, 2, 'B', 'invoice', 'B{N}', false);
SELECT pg_temp.draft(10, 2, 3, 'SEK', 100, series => 3), pg_temp.draft(11, 2, 3, 'SEK', 100, series => 4);
SELECT ar.issue(10::bigint);
SELECT ar.issue(11::bigint);
\echo :LAST_ERROR_SQLSTATE
SELECT id, status, number FROM ar.invoice WHERE id IN (10, 11) ORDER BY id;
UPDATE ar.series SET reference_prefix = '2' WHERE id = 4;
SELECT ar.issue(11::bigint);
SELECT number, payment_reference FROM ar.invoice WHERE id IN (10, 11) ORDER BY id;
-- ... also within one batch
INSERT INTO ar.series (id, entity_id, code, kind, pattern, is_default, reference_prefix) VALUES
	(5, 2, 'C', 'invoice', 'C{N}', false, '2');
SELECT pg_temp.draft(12, 2, 3, 'SEK', 100, series => 4), pg_temp.draft(13, 2, 3, 'SEK', 100, series => 5);
SELECT * FROM ar.issue(ARRAY[12, 13]::bigint[]);
SELECT count(*) AS drafts FROM ar.invoice WHERE id IN (12, 13) AND status = 'draft';
DELETE FROM ar.invoice WHERE id IN (12, 13);

--
-- A due date before the issue date is a bad parameter
--
-- (the table refuses it when both dates are set; an issue date left open
-- becomes today's at issue)
INSERT INTO ar.invoice (id, entity_id, customer_id, currency, due_date) VALUES (14, 2, 3, 'SEK', '2026-10-01');
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price) VALUES (14, 1, 'x', 1, 1);
\set VERBOSITY sqlstate
SELECT ar.issue(14::bigint);
\set VERBOSITY default
SELECT status FROM ar.invoice WHERE id = 14;
DELETE FROM ar.invoice WHERE id = 14;

--
-- Credit check across currencies: the exposure is counted in the currency
-- of the limit, at the rate of the issue date
--
-- 7936.00 SEK open
SELECT pg_temp.draft(20, 2, 2, 'SEK', 6400);
SELECT ar.issue(20::bigint);
-- 148.80 EUR more is 1711.20 SEK at 11.50: 9647.20 SEK, within the limit
SELECT pg_temp.draft(21, 2, 2, 'EUR', 120);
SELECT ar.issue(21::bigint);
\echo :LAST_ERROR_SQLSTATE
INSERT INTO ar.fx_rate (from_currency, to_currency, valid_on, rate) VALUES
	('EUR', 'SEK', '2026-10-01', 11.20), ('EUR', 'SEK', '2026-11-01', 11.50);
SELECT ar.issue(21::bigint);
-- another 124.00 EUR (1426.00 SEK) would pass 10000 SEK
SELECT pg_temp.draft(22, 2, 2, 'EUR', 100);
SELECT ar.issue(22::bigint);
\echo :LAST_ERROR_SQLSTATE
-- paying the SEK invoice in part makes room
INSERT INTO ar.payment (id, entity_id, bank_ref, booking_date, amount) VALUES
	(1, 2, 'P1', '2026-11-05', '2000.00 SEK');
SELECT ar.allocate(1, 20, '2000.00 SEK');
SELECT ar.issue(22::bigint);
SELECT id, number, total, open_amount FROM ar.invoice WHERE customer_id = 2 ORDER BY id;
-- ... per customer in one batch: customers without a limit pass, and the
-- first customer (by id) over its limit is named, in its limit's currency
INSERT INTO ar.series (id, entity_id, code, kind, pattern, is_default, reference_prefix) VALUES
	(8, 2, 'D', 'invoice', 'D{N}', false, '8');
INSERT INTO ar.customer (id, entity_id, customer_no, name, country, currency, credit_limit) VALUES
	(6, 2, 'K6', 'Kund Sex AB', 'SE', 'SEK', '5000.00 SEK'),
	(7, 2, 'K7', 'Kund Sju AB', 'SE', 'EUR', '400.00 EUR');
-- K6 2 x 2480.00 = 4960.00 SEK; K7 2 x 1984.00 = 3968.00 SEK = 345.22 EUR;
-- K2 (no limit) 124000.00 SEK
SELECT pg_temp.draft(23, 2, 6, 'SEK', 2000, series => 8), pg_temp.draft(24, 2, 7, 'SEK', 1600, series => 8),
       pg_temp.draft(25, 2, 6, 'SEK', 2000, series => 8), pg_temp.draft(26, 2, 7, 'SEK', 1600, series => 8),
       pg_temp.draft(27, 2, 3, 'SEK', 100000, series => 8);
-- without a SEK to EUR rate, K7's exposure cannot be counted in its limit's EUR
SELECT * FROM ar.issue(ARRAY[23, 24, 25, 26, 27]::bigint[]);
\echo :LAST_ERROR_SQLSTATE
INSERT INTO ar.fx_rate (from_currency, to_currency, valid_on, rate) VALUES ('SEK', 'EUR', '2026-11-01', 0.087);
SELECT * FROM ar.issue(ARRAY[23, 24, 25, 26, 27]::bigint[]);
-- K6 +124.00 SEK is 5084.00 SEK; K7 +744.00 SEK (64.73 EUR) is 409.95 EUR
SELECT pg_temp.draft(28, 2, 7, 'SEK', 600, series => 8), pg_temp.draft(29, 2, 6, 'SEK', 100, series => 8);
SELECT * FROM ar.issue(ARRAY[28, 29]::bigint[]);
\echo :LAST_ERROR_SQLSTATE
DELETE FROM ar.invoice WHERE id = 29;
SELECT * FROM ar.issue(ARRAY[28]::bigint[]);
\echo :LAST_ERROR_SQLSTATE
SELECT id, customer_id, status, number, total FROM ar.invoice WHERE id BETWEEN 23 AND 29 ORDER BY id;
DELETE FROM ar.invoice WHERE id = 28;

--
-- Credit notes credit the open amount
--
INSERT INTO ar.series (id, entity_id, code, kind, pattern) VALUES (6, 2, 'K', 'credit_note', 'K{N}');
-- an invoice with four VAT rates: 25, 12, 6 and exempt
INSERT INTO ar.invoice (id, entity_id, customer_id, currency, issue_date, series_id)
VALUES (30, 2, 3, 'SEK', '2026-11-03', 3);
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_category, vat_rate,
                             vat_exemption_code, vat_exemption_reason) VALUES
	(30, 1, 'Verktyg', 3, 333.33, 'S', 25, NULL, NULL),
	(30, 2, 'Livsmedel', 7, 41.07, 'S', 12, NULL, NULL),
	(30, 3, 'Böcker', 2, 199.50, 'S', 6, NULL, NULL),
	(30, 4, 'Kurs', 1, 1000, 'E', 0, 'VATEX-EU-132-1I', 'Utbildning');
SELECT ar.issue(30::bigint);
SELECT total FROM ar.invoice WHERE id = 30;
-- the customer pays 1000.00; then 700.00 of the rest is credited
INSERT INTO ar.payment (id, entity_id, bank_ref, booking_date, amount) VALUES
	(2, 2, 'P2', '2026-11-06', '1000.00 SEK');
SELECT ar.allocate(2, 30, '1000.00 SEK');
SELECT ar.credit(30, NULL, '700.00 SEK') AS cn \gset
-- one line per VAT category and rate, shares of 700.00 that add up to it
SELECT line_no, item_name, quantity, unit_price, vat_category, vat_rate, vat_exemption_reason, net_amount
  FROM ar.invoice_line WHERE invoice_id = :cn ORDER BY line_no;
SELECT vat_category, vat_rate, taxable_amount, tax_amount FROM ar.invoice_tax WHERE invoice_id = :cn
 ORDER BY vat_category, vat_rate;
SELECT id, kind, number, status, total, open_amount, credited_invoice_id, note
  FROM ar.invoice WHERE id IN (30, :cn) ORDER BY id;
-- bad amounts change nothing
SELECT ar.credit(30, NULL, '5000.00 SEK');
\echo :LAST_ERROR_SQLSTATE
SELECT ar.credit(30, NULL, '10.00 EUR');
\echo :LAST_ERROR_SQLSTATE
SELECT ar.credit(30, NULL, '0.00 SEK');
\echo :LAST_ERROR_SQLSTATE
-- by default the rest: the invoice is credited, and what was paid stays paid
SELECT ar.credit(30) AS cn2 \gset
SELECT id, kind, number, status, total, open_amount FROM ar.invoice WHERE id IN (30, :cn, :cn2) ORDER BY id;
SELECT a.amount, a.rule, cn.number AS credit_note, a.payment_id
  FROM ar.allocation a LEFT JOIN ar.invoice cn ON cn.id = a.credit_note_id
 WHERE a.invoice_id = 30 ORDER BY a.id;
SELECT ar.credit(30);
\echo :LAST_ERROR_SQLSTATE
-- an unpaid invoice credited whole gets its own lines back
SELECT pg_temp.draft(31, 2, 3, 'SEK', 80, '2026-11-04', 3);
SELECT ar.issue(31::bigint);
SELECT ar.credit(31) AS cn3 \gset
SELECT l.line_no, l.item_name, l.quantity, l.unit_price, i.total, i.status
  FROM ar.invoice_line l JOIN ar.invoice i ON i.id = l.invoice_id WHERE l.invoice_id = :cn3;
-- a share VAT rounding cannot hit: at 24 %, a net of 0.02 gives 0.02 + 0.00
-- and 0.03 gives 0.03 + 0.01; crediting 0.03 makes a note of 0.04 whose
-- extra cent stays open on the note
SELECT pg_temp.draft(32, 2, 3, 'SEK', 0.04, '2026-11-04', 3);
SELECT ar.issue(32::bigint);
SELECT total FROM ar.invoice WHERE id = 32;
SELECT ar.credit(32, NULL, '0.03 SEK') AS cn4 \gset
SELECT id, status, total, open_amount FROM ar.invoice WHERE id IN (32, :cn4) ORDER BY id;
SELECT amount FROM ar.allocation WHERE credit_note_id = :cn4;

-- a category with a negative base (a discount line) takes its negative share;
-- the shares still add up to the amount
INSERT INTO ar.invoice (id, entity_id, customer_id, currency, issue_date, series_id)
VALUES (33, 2, 3, 'SEK', '2026-11-04', 3);
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_category, vat_rate,
                             vat_exemption_code, vat_exemption_reason) VALUES
	(33, 1, 'Vara', 1, 100.00, 'S', 25, NULL, NULL),
	(33, 2, 'Rabatt', -1, 10.01, 'S', 12, NULL, NULL),
	(33, 3, 'Rabatt kurs', -1, 10.03, 'E', 0, 'VATEX-EU-132-1I', 'Utbildning');
SELECT ar.issue(33::bigint);
SELECT ar.credit(33, NULL, '51.00 SEK') AS cn5 \gset
SELECT line_no, quantity, unit_price, vat_category, vat_rate, net_amount
  FROM ar.invoice_line WHERE invoice_id = :cn5 ORDER BY line_no;
SELECT id, status, total, open_amount FROM ar.invoice WHERE id IN (33, :cn5) ORDER BY id;
-- a line without VAT gives back the cent VAT rounding put above the amount:
-- 0.02 at 25 % and 100.00 exempt, credited in two parts, credit 100.03 in all
SELECT pg_temp.draft(34, 2, 3, 'SEK', 0.02, '2026-11-04', 3);
UPDATE ar.invoice_line SET vat_rate = 25 WHERE invoice_id = 34;
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_category, vat_rate,
                             vat_exemption_code, vat_exemption_reason)
VALUES (34, 2, 'Kurs', 1, 100.00, 'E', 0, 'VATEX-EU-132-1I', 'Utbildning');
SELECT ar.issue(34::bigint);
SELECT ar.credit(34, NULL, '50.00 SEK') AS cn6 \gset
SELECT ar.credit(34) AS cn7 \gset
SELECT id, status, total, open_amount FROM ar.invoice WHERE id IN (34, :cn6, :cn7) ORDER BY id;
SELECT i.id, l.line_no, l.vat_rate, l.net_amount FROM ar.invoice_line l JOIN ar.invoice i ON i.id = l.invoice_id
 WHERE i.id IN (:cn6, :cn7) ORDER BY 1, 2;
-- a three-decimal currency, whose VAT is rounded to 2 decimals (steps of 10 fils)
INSERT INTO ar.customer (id, entity_id, customer_no, name, country, currency) VALUES
	(4, 2, 'K4', 'Kuwait Trading', 'KW', 'KWD');
INSERT INTO ar.invoice (id, entity_id, customer_id, currency, issue_date, series_id) VALUES
	(35, 2, 4, 'KWD', '2026-11-04', 3), (36, 2, 4, 'KWD', '2026-11-04', 3);
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_category, vat_rate,
                             vat_exemption_code, vat_exemption_reason) VALUES
	(35, 1, 'Pump', 1, 10.000, 'S', 25, NULL, NULL),
	(36, 1, 'Pump', 1, 10.000, 'S', 25, NULL, NULL),
	(36, 2, 'Kurs', 1, 12.500, 'E', 0, 'VATEX-EU-132-1I', 'Utbildning');
SELECT * FROM ar.issue(ARRAY[35, 36]::bigint[]);
SELECT ar.credit(35, NULL, '1.020 KWD') AS cn8 \gset
SELECT ar.credit(36, NULL, '2.040 KWD') AS cn9 \gset
SELECT i.id, l.line_no, l.vat_rate, l.net_amount FROM ar.invoice_line l JOIN ar.invoice i ON i.id = l.invoice_id
 WHERE i.id IN (:cn8, :cn9) ORDER BY 1, 2;
SELECT id, status, total, open_amount FROM ar.invoice WHERE id IN (35, 36, :cn8, :cn9) ORDER BY id;
-- after the rest is credited, the paid part stays paid; the hint says how to
-- give a payment back
SELECT ar.unallocate(2);

-- a four-decimal currency: VAT rounded to 2 decimals moves the gross in
-- steps of 100 units, and each category still gets its line
INSERT INTO ar.customer (id, entity_id, customer_no, name, country, currency) VALUES
	(5, 2, 'K5', 'Unidad de Fomento SpA', 'CL', 'CLF');
INSERT INTO ar.invoice (id, entity_id, customer_id, currency, issue_date, series_id) VALUES
	(37, 2, 5, 'CLF', '2026-11-04', 3), (38, 2, 5, 'CLF', '2026-11-04', 3);
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_category, vat_rate,
                             vat_exemption_code, vat_exemption_reason) VALUES
	(37, 1, 'Asesoría', 1, 100, 'S', 25, NULL, NULL),
	(37, 2, 'Curso', 1, 100, 'E', 0, 'VATEX-EU-132-1I', 'Utbildning'),
	(38, 1, 'Asesoría', 1, 100, 'S', 25, NULL, NULL);
SELECT * FROM ar.issue(ARRAY[37, 38]::bigint[]);
SELECT ar.credit(37, NULL, '18.0275 CLF') AS cn10 \gset
SELECT ar.credit(38, NULL, '10.0153 CLF') AS cn11 \gset
SELECT i.id, l.line_no, l.vat_category, l.vat_rate, l.net_amount FROM ar.invoice_line l
  JOIN ar.invoice i ON i.id = l.invoice_id WHERE i.id IN (:cn10, :cn11) ORDER BY 1, 2;
SELECT id, status, total, open_amount FROM ar.invoice WHERE id IN (37, 38, :cn10, :cn11) ORDER BY id;
-- a negative (discount) line without VAT gives back the cent too
INSERT INTO ar.invoice (id, entity_id, customer_id, currency, issue_date, series_id)
VALUES (39, 2, 3, 'SEK', '2026-11-04', 3);
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_category, vat_rate)
VALUES (39, 1, 'Vara', 1, 1000, 'S', 25), (39, 2, 'Rabatt', -1, 500, 'Z', 0);
SELECT ar.issue(39::bigint);
SELECT ar.credit(39, NULL, '100.00 SEK') AS cn12 \gset
SELECT line_no, quantity, unit_price, vat_category, vat_rate, net_amount
  FROM ar.invoice_line WHERE invoice_id = :cn12 ORDER BY line_no;
SELECT id, status, total, open_amount FROM ar.invoice WHERE id IN (39, :cn12) ORDER BY id;

-- a credit note is issued by ar.credit only, which checks what it credits
-- and settles it: a draft credit note does not get through ar.issue
INSERT INTO ar.invoice (id, entity_id, customer_id, currency, kind, credited_invoice_id, issue_date)
VALUES (40, 2, 3, 'SEK', 'credit_note', 39, '2026-11-05');
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_rate)
VALUES (40, 1, 'Kredit', 1, 5000, 25);
SELECT ar.issue(40::bigint);
\echo :LAST_ERROR_SQLSTATE
SELECT pg_temp.draft(41, 2, 3, 'SEK', 10, '2026-11-05', 3);
SELECT * FROM ar.issue(ARRAY[41, 40]::bigint[]);
SELECT id, status, number FROM ar.invoice WHERE id IN (40, 41) ORDER BY id;
DELETE FROM ar.invoice_line WHERE invoice_id IN (40, 41);
DELETE FROM ar.invoice WHERE id IN (40, 41);
-- without a credit-note series, the error names the invoice to credit
SELECT pg_temp.draft(42, 1, 1, 'EUR', 100, '2026-11-05', 1);
SELECT ar.issue(42::bigint);
SELECT ar.credit(42);
\echo :LAST_ERROR_SQLSTATE

-- reference prefixes start with 1-9 and leave room for the number, which
-- is cut, not the prefix
SELECT ar.invoice_reference('fik', '1', 'X-123456789012345'), ar.invoice_reference('fik', '2', 'X-123456789012345');
SELECT ar.invoice_reference('fik', '0', 'X0');
SELECT ar.invoice_reference('fik', '12345678901234', 'X1');
UPDATE ar.series SET reference_prefix = '0' WHERE id = 5;

-- the series stay sound and the audit chain holds
SELECT s.code, v.* FROM ar.series s CROSS JOIN LATERAL ar.verify_series(s.id) v ORDER BY s.code;
SELECT * FROM ar.verify_audit();

-- two series whose patterns give the same numbers: the error says so
INSERT INTO ar.series (id, entity_id, code, kind, pattern, reference_prefix, is_default) VALUES
	(20, 2, 'X1', 'invoice', 'DUP{N}', '91', false), (21, 2, 'X2', 'invoice', 'DUP{N}', '92', false);
SELECT pg_temp.draft(43, 2, 3, 'SEK', 10, '2026-11-05', 20);
SELECT pg_temp.draft(44, 2, 3, 'SEK', 10, '2026-11-05', 21);
SELECT ar.issue(43::bigint);
SELECT ar.issue(44::bigint);
\echo :LAST_ERROR_SQLSTATE
SELECT status, number FROM ar.invoice WHERE id = 44;

-- the counters move only inside ar.issue: the numbering step refuses a direct call
SELECT * FROM ar._take_numbers('{1}', '{2026}', '{1}', '{2026-11-22}');
SELECT series_id, period, last_value FROM ar.series_counter WHERE series_id = 1;

-- the most negative amount there is (-2^63 minor units), a returned item on
-- an invoice: refused as too large (its size is beyond the largest amount),
-- named exactly, without overflow
INSERT INTO ar.invoice (id, entity_id, customer_id, currency, issue_date, series_id)
VALUES (45, 2, 3, 'SEK', '2026-11-30', 3);
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_category, vat_rate)
VALUES (45, 1, 'Retur', -1, 92233720368547758.08, 'Z', 0);
SELECT ar.issue(45::bigint);
SELECT status, total, open_amount, ar.minor_units(total) FROM ar.invoice WHERE id = 45;
SELECT * FROM ar.verify_audit();

-- One document reads one customer row, however many customers there are:
-- a generic plan that merge-joined the customers read their index up to the
-- document's customer (every customer for the newest one: 10 ms for one
-- invoice among 100,000 customers).  The lookups are by key whatever the
-- planner estimates: a new session, whose plans are made with nested loops
-- made to look dear, still reads one row per lookup.
INSERT INTO ar.customer (id, entity_id, customer_no, name, country, currency)
SELECT 1000 + g, 2, 'M' || g, 'Kund ' || g || ' AB', 'SE', 'SEK' FROM generate_series(1, 5000) g;
ANALYZE ar.customer;
\c
SET search_path = public, ar;
SET datestyle = ISO, YMD;
SET enable_nestloop = off;
-- (the penalty on nested loops would make every statement cost enough to be JIT-compiled)
SET jit = off;
-- (48 is for a customer with a credit limit, checked too)
INSERT INTO ar.invoice (id, entity_id, customer_id, currency, issue_date, series_id)
VALUES (46, 2, 6000, 'SEK', '2026-11-30', 3), (47, 2, 5999, 'SEK', '2026-11-30', 3),
	   (48, 2, 2, 'SEK', '2026-11-30', 3);
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_category, vat_rate)
VALUES (46, 1, 'Tjänst', 1, 100, 'S', 25), (47, 1, 'Tjänst', 1, 100, 'S', 25), (48, 1, 'Tjänst', 1, 100, 'S', 25);
SELECT ar.issue(46::bigint);
BEGIN;
CREATE TEMP TABLE read_before AS
SELECT seq_tup_read + idx_tup_fetch AS n FROM pg_stat_xact_user_tables WHERE relid = 'ar.customer'::regclass;
SELECT ar.issue(47::bigint), ar.issue(48::bigint);
SELECT x.seq_tup_read + x.idx_tup_fetch - b.n AS customer_rows_read
  FROM pg_stat_xact_user_tables x, read_before b WHERE x.relid = 'ar.customer'::regclass;
COMMIT;

-- the line without VAT is the cent itself: it goes, and the note is exact
-- (0.03 of 100.00 at 25 % and 100.00 zero-rated: shares 0.02 and 0.01, the
-- VAT line 0.02 + 0.01 VAT)
INSERT INTO ar.invoice (id, entity_id, customer_id, currency, issue_date, series_id)
VALUES (90, 2, 3, 'SEK', '2026-12-01', 3);
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_category, vat_rate)
VALUES (90, 1, 'Vara', 1, 100.00, 'S', 25), (90, 2, 'Export', 1, 100.00, 'Z', 0);
SELECT ar.issue(90::bigint) IS NOT NULL AS issued;
SELECT ar.credit(90, NULL, '0.03 SEK', '2026-12-01') AS cn90 \gset
SELECT id, status, total, open_amount FROM ar.invoice WHERE id IN (90, :cn90) ORDER BY id;
SELECT line_no, vat_category, vat_rate, net_amount FROM ar.invoice_line WHERE invoice_id = :cn90 ORDER BY line_no;
SELECT vat_category, vat_rate, taxable_amount, tax_amount FROM ar.invoice_tax WHERE invoice_id = :cn90;
