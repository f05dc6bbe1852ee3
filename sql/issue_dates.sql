--
-- The seller's date and the amounts an invoice may total: the entity's
-- time zone decides "today" for every session; an invoice of 0.00 is paid
-- when issued; one that totals less than zero is refused, and so is one too
-- large for an amount, by name
--
DROP EXTENSION ar CASCADE;
CREATE EXTENSION ar;
SET search_path = public, ar;
\set SHOW_CONTEXT never
SET datestyle = ISO, YMD;

-- the time zone: by default the creating session's, else a zone the
-- server knows; a misspelt one is refused
INSERT INTO ar.entity (id, code, name, country, vat_id, currency, iban) VALUES
	(1, 'SE1', 'Nordvind AB', 'SE', 'SE556677889901', 'SEK', 'SE4550000000058398257466');
INSERT INTO ar.entity (id, code, name, country, currency, time_zone) VALUES
	(2, 'KI1', 'Line Islands Ltd', 'KI', 'SEK', 'Pacific/Kiritimati');
SELECT time_zone = current_setting('TimeZone') AS session_zone FROM ar.entity WHERE id = 1;
SELECT time_zone FROM ar.entity WHERE id = 2;
\set VERBOSITY terse
INSERT INTO ar.entity (code, name, country, currency, time_zone) VALUES ('X1', 'Bad', 'SE', 'SEK', 'Europe/Stockhom');
INSERT INTO ar.entity (code, name, country, currency, time_zone) VALUES ('X2', 'Bad', 'SE', 'SEK', '');
UPDATE ar.entity SET time_zone = 'Mars/Olympus' WHERE id = 1;
\set VERBOSITY default
SELECT z, ar.time_zone_valid(z) FROM unnest(ARRAY['Europe/Stockholm', 'europe/oslo', 'UTC',
	'CET-1CEST,M3.5.0,M10.5.0/3', 'Europe/Stockhom', '', 'Europe/../../etc/passwd']) z;

INSERT INTO ar.series (entity_id, code, kind, pattern, is_default) VALUES
	(1, 'INV', 'invoice', 'INV{N}', true), (1, 'CN', 'credit_note', 'CN{N}', true),
	(2, 'KI', 'invoice', 'KI{N}', true), (2, 'KC', 'credit_note', 'KC{N}', true);
INSERT INTO ar.customer (id, entity_id, customer_no, name, country, currency) VALUES
	(1, 1, 'K1', 'Kund AB', 'SE', 'SEK'), (2, 2, 'K2', 'Tarawa Traders', 'KI', 'SEK');
CREATE FUNCTION pg_temp.draft(id bigint, entity integer, customer bigint, VARIADIC lines numeric[])
RETURNS bigint LANGUAGE sql AS $$
	INSERT INTO ar.invoice (id, entity_id, customer_id, currency) VALUES (id, entity, customer, 'SEK');
	-- lines (quantity, price) pairs
	INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_rate)
	SELECT id, k, 'Item ' || k, lines[2 * k - 1], lines[2 * k], 25
	  FROM generate_series(1, cardinality(lines) / 2) k;
	SELECT id;
$$;

-- Kiritimati is UTC+14 and Etc/GMT+12 is UTC-12: their dates always
-- differ.  Sessions in either zone give an entity's documents the
-- entity's date; before, each took its own current_date, and the second
-- was refused as dated before the first.
SET TimeZone = 'Etc/GMT+12';
-- first one overdue by 3 days at the entity's date
INSERT INTO ar.invoice (id, entity_id, customer_id, currency, issue_date, due_date)
SELECT 9, 2, 2, 'SEK', ar.today(2) - 3, ar.today(2) - 3;
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price) VALUES (9, 1, 'Overdue', 1, 10);
SELECT ar.issue(9::bigint);
SELECT ar.issue(pg_temp.draft(10, 2, 2, 1, 100));
SET TimeZone = 'Pacific/Kiritimati';
SELECT ar.issue(pg_temp.draft(11, 2, 2, 1, 100));
SET TimeZone = 'Etc/GMT+12';
SELECT pg_temp.draft(12, 2, 2, 1, 100);
UPDATE ar.invoice SET due_date = ar.today(2) + 10 WHERE id = 12;
SELECT ar.issue(12::bigint);
SELECT ar.credit(11, 'returned', NULL) AS credit_note \gset
SELECT i.id, i.number, i.issue_date = ar.today(2) AS entity_date,
	   i.issue_date = (now() AT TIME ZONE 'Pacific/Kiritimati')::date AS kiritimati_date,
	   i.issue_date > current_date AS after_session_date, i.due_date - i.issue_date AS days
  FROM ar.invoice i WHERE i.entity_id = 2 AND i.id <> 9 ORDER BY i.id;
-- overdue counts the days to the entity's date, in every session
SELECT invoice_id, days_overdue FROM ar.overdue WHERE entity_id = 2 ORDER BY invoice_id;
SET TimeZone = 'Pacific/Kiritimati';
SELECT invoice_id, days_overdue FROM ar.overdue WHERE entity_id = 2 ORDER BY invoice_id;
RESET TimeZone;
SELECT ar.today(1) = current_date AS session_zone_entity, ar.today(999) IS NULL AS unknown_entity;

-- an invoice of 0.00 is paid when issued, with nothing open; a batch
-- issues the others as usual
SELECT invoice_id, number FROM ar.issue(ARRAY[pg_temp.draft(20, 1, 1, 1, 0),
											   pg_temp.draft(21, 1, 1, 2, 50, -1, 100),
											   pg_temp.draft(22, 1, 1, 1, 100)]);
SELECT id, number, total, open_amount, status FROM ar.invoice WHERE id BETWEEN 20 AND 22 ORDER BY id;
SELECT invoice_id, channel FROM ar.outbox WHERE invoice_id BETWEEN 20 AND 22 ORDER BY invoice_id;
SELECT row_key, data->>'status' AS status FROM ar.audit
 WHERE table_name = 'invoice' AND row_key IN ('20', '21') AND op = 'UPDATE' ORDER BY id;
-- nothing to credit on it
SELECT ar.credit(20, NULL, NULL);

-- an invoice that totals less than zero is refused: it would give money
-- back, which is a credit note's (nothing changes, no number is used)
SELECT pg_temp.draft(30, 1, 1, 1, 100, -2, 100), pg_temp.draft(31, 1, 1, 2, 100, -1, 100),
	   pg_temp.draft(32, 1, 1, 1, 100, -1, 40, -1, 70.01);
SELECT ar.issue(30::bigint);
SELECT ar.issue(ARRAY[31, 32]::bigint[]);
SELECT id, status, number FROM ar.invoice WHERE id >= 30 ORDER BY id;
SELECT last_value FROM ar.series_counter sc JOIN ar.series s ON s.id = sc.series_id WHERE s.code = 'INV';
-- a returned item outweighed by the rest issues
DELETE FROM ar.invoice WHERE id IN (30, 32);
SELECT ar.issue(31::bigint);
SELECT id, number, total, status FROM ar.invoice WHERE id = 31;
SELECT * FROM ar.verify_series((SELECT id FROM ar.series WHERE code = 'INV'));

-- too large for an amount (at most 2^63 - 1 minor units): the invoice of a
-- batch is named, and nothing changes.  Each line fits; their sum does not
-- (33), the VAT takes the total beyond (34), or the VAT in the seller's
-- currency does not fit (35: 10^16 EUR of VAT are 1.1 * 10^17 SEK)
INSERT INTO ar.fx_rate (from_currency, to_currency, valid_on, rate) VALUES ('EUR', 'SEK', '2000-01-01', 11);
SELECT pg_temp.draft(33, 1, 1, 1, 50000000000000000, 1, 50000000000000000),
	   pg_temp.draft(34, 1, 1, 1, 80000000000000000);
INSERT INTO ar.invoice (id, entity_id, customer_id, currency) VALUES (35, 1, 1, 'EUR');
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_rate)
VALUES (35, 1, 'Large', 1, 40000000000000000, 25);
SELECT ar.issue(ARRAY[pg_temp.draft(36, 1, 1, 1, 100), 33]);
SELECT ar.issue(34::bigint);
SELECT ar.issue(35::bigint);
SELECT id, status, number, total FROM ar.invoice WHERE id >= 33 ORDER BY id;
SELECT id FROM ar.invoice WHERE id = 36;
SELECT count(*) AS breakdowns FROM ar.invoice_tax WHERE invoice_id >= 33;
-- near the largest, it issues: 73786976294838206.45 net and 25 % VAT make
-- 92233720368547758.06 SEK, one minor unit short (.46 would make .08)
UPDATE ar.invoice_line SET unit_price = 73786976294838206.45 WHERE invoice_id = 34;
SELECT ar.issue(34::bigint);
SELECT number, net_total, tax_total, total, ar.minor_units(total) FROM ar.invoice WHERE id = 34;
SELECT * FROM ar.verify_series((SELECT id FROM ar.series WHERE code = 'INV'));

-- the zone is read as a zone, never as the session's abbreviation: EST is
-- UTC-5 (the zone EST), also where timezone_abbreviations reads it as
-- Australian (UTC+10); numeric offsets, localtime and leap-second zones are
-- refused (they mean other things to SET TimeZone, or follow the host)
INSERT INTO ar.entity (id, code, name, country, currency, time_zone) VALUES (3, 'US1', 'East Inc', 'US', 'SEK', 'EST');
SET timezone_abbreviations = 'Australia';
SELECT ar.today(3) = (now() AT TIME ZONE 'Etc/GMT+5')::date AS est_is_utc_minus_5,
	   ar.zone_today('EST') = ar.zone_today('Etc/GMT+5') AS same;
RESET timezone_abbreviations;
SELECT z, ar.time_zone_valid(z) FROM unnest(ARRAY['+05', '-3', '5', 'localtime', 'LocalTime',
	'right/Europe/Stockholm', 'Etc/GMT-5']) z;
SELECT ar.zone_today('Mars/Olympus');

-- an invoice of 0.00 adds nothing to what a customer owes: it issues also
-- when the customer is over a limit lowered since; a priced one is refused
INSERT INTO ar.customer (id, entity_id, customer_no, name, country, currency) VALUES
	(3, 1, 'K3', 'Kund Tre AB', 'SE', 'SEK');
SELECT ar.issue(pg_temp.draft(39, 1, 3, 1, 100));
UPDATE ar.customer SET credit_limit = '10.00 SEK' WHERE id = 3;
SELECT ar.issue(pg_temp.draft(40, 1, 3, 1, 0));
SELECT ar.issue(pg_temp.draft(41, 1, 3, 1, 1));
SELECT id, status FROM ar.invoice WHERE id IN (40, 41) ORDER BY id;

-- what a customer owes may pass the largest amount: it fails the limit
-- with the exposure named, summed and converted in numeric (before, a bare
-- "out of range" from summing or converting it as an amount).  K4 owes
-- two invoices of 6.25 * 10^16 SEK (1.25 * 10^17 in all); K5 owes
-- 10^16 EUR, which are 1.1 * 10^17 SEK at 11
INSERT INTO ar.customer (id, entity_id, customer_no, name, country, currency) VALUES
	(4, 1, 'K4', 'Kund Fyra AB', 'SE', 'SEK'), (5, 1, 'K5', 'Kund Fem AB', 'SE', 'SEK');
SELECT count(*) FROM ar.issue(ARRAY[pg_temp.draft(42, 1, 4, 1, 50000000000000000),
									pg_temp.draft(43, 1, 4, 1, 50000000000000000)]);
INSERT INTO ar.invoice (id, entity_id, customer_id, currency) VALUES (44, 1, 5, 'EUR');
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_rate)
VALUES (44, 1, 'Large', 1, 8000000000000000, 25);
SELECT ar.issue(44::bigint);
UPDATE ar.customer SET credit_limit = '1000000.00 SEK' WHERE id IN (4, 5);
SELECT pg_temp.draft(45, 1, 4, 1, 1), pg_temp.draft(46, 1, 5, 1, 1), pg_temp.draft(47, 1, 5, 1, 1);
SELECT ar.issue(45::bigint);
SELECT ar.issue(46::bigint);
-- in one batch, with K5's invoices of the batch added to what it owes
SELECT ar.issue(ARRAY[46, 47]::bigint[]);
-- (what they owe, summed as amounts, is out of range)
SELECT ar.sum(open_amount) FROM ar.invoice WHERE customer_id = 4;
SELECT ar.convert(open_amount, 'SEK', current_date) FROM ar.invoice WHERE id = 44;
SELECT id, status FROM ar.invoice WHERE id BETWEEN 42 AND 47 ORDER BY id;
-- with the override, they issue
BEGIN;
SET LOCAL ar.credit_check = off;
SELECT count(*) FROM ar.issue(ARRAY[45, 46, 47]::bigint[]);
COMMIT;
SELECT id, status FROM ar.invoice WHERE id BETWEEN 45 AND 47 ORDER BY id;

-- sales orders: a return order whose total is below zero cannot be
-- invoiced (the error names the order); an order of 0.00 is invoiced paid
-- and can still be cancelled (its invoice asks for nothing)
UPDATE ar.customer SET auto_issue = true WHERE id = 1;
INSERT INTO ar.sales_order (id, entity_id, customer_id, order_no, currency) VALUES
	(1, 1, 1, 'RET-1', 'SEK'), (2, 1, 1, 'FREE-1', 'SEK');
INSERT INTO ar.sales_order_line (order_id, line_no, item_name, quantity, unit_price, vat_rate) VALUES
	(1, 1, 'Returned', -1, 100, 25), (2, 1, 'Sample', 1, 0, 25);
UPDATE ar.sales_order SET status = 'delivered' WHERE id = 1;
SELECT order_no, status, invoice_id FROM ar.sales_order WHERE id = 1;
UPDATE ar.sales_order SET status = 'delivered' WHERE id = 2;
SELECT o.order_no, o.status, i.status AS invoice_status, i.total FROM ar.sales_order o
  JOIN ar.invoice i ON i.id = o.invoice_id WHERE o.id = 2;
UPDATE ar.sales_order SET status = 'cancelled' WHERE id = 2;
SELECT o.order_no, o.status, i.status AS invoice_status FROM ar.sales_order o
  JOIN ar.invoice i ON i.id = o.invoice_id WHERE o.id = 2;

-- ar.credit takes a date (by default the entity's today): the credit note
-- is dated with it, under ar.issue's rules.  Entity 3 credits an invoice
-- of 2025-03-01 on 2025-03-05; a second credit note dated before that one
-- is refused (numbers follow dates), and so is one more than a year ahead,
-- one before the invoice and one that is not a day; nothing changes
INSERT INTO ar.series (entity_id, code, kind, pattern, is_default) VALUES
	(3, 'UI', 'invoice', 'UI{N}', true), (3, 'UC', 'credit_note', 'UC{N}', true);
INSERT INTO ar.customer (id, entity_id, customer_no, name, country, currency) VALUES
	(6, 3, 'U6', 'Buyer Inc', 'US', 'SEK');
INSERT INTO ar.invoice (id, entity_id, customer_id, currency, issue_date) VALUES (60, 3, 6, 'SEK', '2025-03-01');
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_rate)
VALUES (60, 1, 'Service', 4, 100, 25);
SELECT ar.issue(60::bigint);
SELECT ar.credit(60, 'one hour less', '125.00 SEK', '2025-03-05') AS cn \gset
SELECT number, issue_date, total, status FROM ar.invoice WHERE id = :cn;
SELECT ar.credit(60, 'before', '125.00 SEK', '2025-03-04');
SELECT ar.credit(60, 'far ahead', '125.00 SEK', '9999-12-31');
-- nor before the invoice it corrects (its VAT period), nor a date that is
-- not a day
SELECT ar.credit(60, 'before the sale', '125.00 SEK', '2025-02-28');
SELECT ar.credit(60, 'never', '125.00 SEK', 'infinity');
SELECT ar.credit(60, 'always', '125.00 SEK', '-infinity');
SELECT id, number, total, open_amount, status FROM ar.invoice WHERE entity_id = 3 ORDER BY id;
-- NULL: the entity's today
SELECT ar.credit(60, 'rest', NULL, NULL) AS cn2 \gset
SELECT number, issue_date = ar.today(3) AS today, total, status FROM ar.invoice WHERE id = :cn2;
SELECT id, open_amount, status FROM ar.invoice WHERE id = 60;
SELECT * FROM ar.verify_series((SELECT id FROM ar.series WHERE code = 'UC'));
