--
-- Internal writes (src/guard.c): the bookkeeping only ar's functions write,
-- refused from anywhere else; series, outbox rows and orders kept consistent
--
DROP EXTENSION ar CASCADE;
CREATE EXTENSION ar;
SET search_path = public, ar;
\set SHOW_CONTEXT never
SET datestyle = ISO, YMD;

-- exchange rates: an invoice in another currency than its seller's states
-- its VAT in the seller's currency too (BT-111), at the issue date's rate
INSERT INTO ar.fx_rate (from_currency, to_currency, valid_on, rate) VALUES
	('EUR', 'SEK', '2026-01-01', 11.2345), ('JPY', 'SEK', '2026-01-01', 0.0712);
INSERT INTO ar.entity (id, code, name, country, vat_id, currency) VALUES
	(1, 'SE1', 'Norrsken AB', 'SE', 'SE556677889901', 'SEK'),
	(2, 'SE2', 'Söder AB', 'SE', 'SE556677889902', 'SEK');
INSERT INTO ar.series (id, entity_id, code, kind, pattern, is_default) VALUES
	(1, 1, 'F', 'invoice', 'F{N}', true), (2, 1, 'K', 'credit_note', 'K{N}', true),
	(3, 2, 'G', 'invoice', 'G{N}', true), (4, 1, 'X', 'invoice', 'X{N}', false);
INSERT INTO ar.customer (id, entity_id, customer_no, name, country, currency) VALUES
	(1, 1, 'C1', 'Kund Ett AB', 'SE', 'SEK'), (2, 2, 'C2', 'Kund Två AB', 'SE', 'SEK');
INSERT INTO ar.invoice (entity_id, customer_id, currency, issue_date) VALUES
	(1, 1, 'SEK', '2026-10-01'), (1, 1, 'SEK', '2026-10-01'), (2, 2, 'SEK', '2026-10-01');
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_rate) VALUES
	(1, 1, 'Konsult', 10, 100, 25), (2, 1, 'Konsult', 4, 100, 25), (3, 1, 'Konsult', 1, 100, 25);
SELECT ar.issue(1::bigint), ar.issue(3::bigint);
INSERT INTO ar.payment (id, entity_id, bank_ref, booking_date, amount, kind) VALUES
	(1, 1, 'B1', '2026-10-20', '700.00 SEK', 'credit'),
	(2, 2, 'B2', '2026-10-20', '125.00 SEK', 'credit');
SELECT ar.allocate(1, 1, '300.00 SEK');
-- no internal writer runs here
SELECT ar.internal();

-- a draft is issued only by ar.issue, also when the row looks issued
UPDATE ar.invoice SET status = 'issued', number = 'FAKE-1', seq_no = 999, seq_period = 0 WHERE id = 2;
-- the bookkeeping of an issued invoice follows its allocations
UPDATE ar.invoice SET status = 'paid', open_amount = '0.00 SEK' WHERE id = 1;
UPDATE ar.invoice SET open_amount = NULL WHERE id = 1;
UPDATE ar.invoice SET status = 'written_off' WHERE id = 1;
-- so does a payment's
UPDATE ar.payment SET status = 'matched', unallocated = '0.00 SEK' WHERE id = 1;
-- allocations only through ar's functions, also when they name a payment of another entity
INSERT INTO ar.allocation (payment_id, invoice_id, amount, rule) VALUES (2, 1, '1000.00 SEK', 'manual');
UPDATE ar.allocation SET amount = '1.00 SEK';
DELETE FROM ar.allocation;
-- the bodies of ar's functions, called directly, cannot write either
SELECT ar._allocate(1, 1, '1.00 SEK');
-- the VAT breakdown and the counters belong to ar.issue
UPDATE ar.invoice_tax SET tax_amount = '1.00 SEK' WHERE invoice_id = 1;
DELETE FROM ar.invoice_tax WHERE invoice_id = 1;
INSERT INTO ar.invoice_tax (invoice_id, vat_category, vat_rate, taxable_amount, tax_amount)
VALUES (2, 'S', 25, '400.00 SEK', '100.00 SEK');
UPDATE ar.series_counter SET last_value = 0 WHERE series_id = 1;
-- suggestions come from the matcher; dismissing one is allowed
INSERT INTO ar.match_suggestion (payment_id, invoice_id, score, rule) VALUES (1, 1, 0.5, 'manual');
DELETE FROM ar.match_suggestion WHERE payment_id = 1;
-- tables that hold money are never emptied at once
TRUNCATE ar.invoice CASCADE;
TRUNCATE ar.payment CASCADE;
TRUNCATE ar.allocation;
-- nothing above changed anything
SELECT id, number, status, open_amount, seq_no FROM ar.invoice ORDER BY id;
SELECT id, status, unallocated FROM ar.payment ORDER BY id;
SELECT payment_id, invoice_id, amount, rule FROM ar.allocation ORDER BY id;
SELECT invoice_id, taxable_amount, tax_amount FROM ar.invoice_tax ORDER BY invoice_id;
SELECT series_id, last_value FROM ar.series_counter ORDER BY series_id;
-- the functions still work, and the internal mark is gone after an error in one
SELECT ar.allocate(1, 1, '5000.00 SEK');
SELECT ar.internal();
SELECT ar.allocate(1, 1, '400.00 SEK');
SELECT ar.unallocate((SELECT max(id) FROM ar.allocation));
SELECT id, status, open_amount FROM ar.invoice WHERE id = 1;
SELECT id, status, unallocated FROM ar.payment WHERE id = 1;
-- the note of an issued invoice may still change
UPDATE ar.invoice SET note = 'ringt kunden' WHERE id = 1;

-- a series that has given out numbers keeps its pattern, reset, kind and entity
UPDATE ar.series SET pattern = 'F-{N}' WHERE id = 1;
UPDATE ar.series SET reset = 'yearly', pattern = 'F{YYYY}-{N}' WHERE id = 1;
UPDATE ar.series SET kind = 'credit_note' WHERE id = 1;
-- its code may change, and an unused series may change freely
UPDATE ar.series SET code = 'FA' WHERE id = 1;
UPDATE ar.series SET pattern = 'X-{YY}-{N:4}', reset = 'yearly' WHERE id = 4;
SELECT id, code, pattern, reset FROM ar.series ORDER BY id;
-- a series that does not exist is not sound
SELECT * FROM ar.verify_series(99);
SELECT * FROM ar.verify_series(NULL);
SELECT * FROM ar.verify_series(1);

-- a draft's lines follow a change of its currency (JPY has no minor unit:
-- 4 x 100.4 = 401.6 rounds to 402); a lower-case line currency is stored upper-case
UPDATE ar.invoice_line SET unit_price = 100.4 WHERE invoice_id = 2;
UPDATE ar.invoice SET currency = 'JPY' WHERE id = 2;
SELECT invoice_id, line_no, currency, net_amount FROM ar.invoice_line WHERE invoice_id = 2;
UPDATE ar.invoice SET currency = 'EUR' WHERE id = 2;
UPDATE ar.invoice_line SET currency = 'eur', unit_price = 100 WHERE invoice_id = 2;
SELECT invoice_id, line_no, currency, net_amount FROM ar.invoice_line WHERE invoice_id = 2;
SELECT ar.issue(2::bigint);

-- outbox: what is queued stays as queued; delivery fields move
UPDATE ar.outbox SET payload = 'changed' WHERE invoice_id = 1;
UPDATE ar.outbox SET invoice_id = 3 WHERE invoice_id = 1;
UPDATE ar.outbox SET attempts = 2, last_error = 'timeout' WHERE invoice_id = 1;
SELECT invoice_id, kind, channel, attempts, last_error, payload LIKE '%F1%' AS has_number
  FROM ar.outbox ORDER BY id;
-- a row's document must belong to the row's entity
INSERT INTO ar.outbox (entity_id, customer_id, invoice_id, kind, channel, payload)
VALUES (1, 1, 3, 'reminder', 'email', 'Påminnelse');
-- ... and be the row's customer's, who is one of the row's entity
INSERT INTO ar.outbox (entity_id, customer_id, invoice_id, kind, channel, payload)
VALUES (1, NULL, 1, 'reminder', 'email', 'Påminnelse');
INSERT INTO ar.outbox (entity_id, customer_id, invoice_id, kind, channel, payload)
VALUES (1, 2, NULL, 'reminder', 'email', 'Påminnelse');
INSERT INTO ar.outbox (entity_id, customer_id, invoice_id, kind, channel, payload)
VALUES (1, 1, 1, 'reminder', 'email', 'Påminnelse');
SELECT count(*) FROM ar.outbox;

-- an order inserted as delivered and then cancelled or deleted in the same
-- transaction is not invoiced at commit; one still delivered is
BEGIN;
INSERT INTO ar.sales_order (id, entity_id, customer_id, order_no, status, currency)
VALUES (1, 1, 1, 'SO-1', 'delivered', 'SEK'), (2, 1, 1, 'SO-2', 'delivered', 'SEK'),
	   (3, 1, 1, 'SO-3', 'delivered', 'SEK');
INSERT INTO ar.sales_order_line (order_id, line_no, item_name, quantity, unit_price) VALUES
	(1, 1, 'Lampa', 2, 50), (2, 1, 'Lampa', 1, 50), (3, 1, 'Lampa', 3, 50);
UPDATE ar.sales_order SET status = 'cancelled' WHERE id = 1;
DELETE FROM ar.sales_order WHERE id = 2;
COMMIT;
SELECT o.order_no, o.status, i.status AS invoice_status, i.order_reference
  FROM ar.sales_order o LEFT JOIN ar.invoice i ON i.id = o.invoice_id ORDER BY o.id;
SELECT count(*) AS drafts FROM ar.invoice WHERE status = 'draft';
