--
-- Payments allocated by hand: ar.allocate and ar.unallocate
--
DROP EXTENSION ar CASCADE;
CREATE EXTENSION ar;
SET search_path = public, ar;
\set SHOW_CONTEXT never
SET datestyle = ISO, YMD;

INSERT INTO ar.entity (id, code, name, country, vat_id, currency, iban) VALUES
	(1, 'SE1', 'Norrsken AB', 'SE', 'SE556677889901', 'SEK', 'SE4550000000058398257466'),
	(2, 'SE2', 'Söder AB', 'SE', 'SE556677889901', 'SEK', NULL);
INSERT INTO ar.series (entity_id, code, kind, pattern) VALUES
	(1, 'F', 'invoice', 'F{N}'), (1, 'K', 'credit_note', 'K{N}'), (2, 'F', 'invoice', 'G{N}');
INSERT INTO ar.customer (id, entity_id, customer_no, name, country, currency) VALUES
	(1, 1, 'C1', 'Kund Ett AB', 'SE', 'SEK'), (2, 2, 'C2', 'Kund Två AB', 'SE', 'SEK');
INSERT INTO ar.invoice (id, entity_id, customer_id, currency, issue_date) VALUES
	(1, 1, 1, 'SEK', '2026-10-01'), (2, 1, 1, 'SEK', '2026-10-01'), (3, 2, 2, 'SEK', '2026-10-01'),
	(4, 1, 1, 'SEK', '2026-10-01');
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_rate) VALUES
	(1, 1, 'Konsult', 10, 100, 25), (2, 1, 'Konsult', 4, 100, 25), (3, 1, 'Konsult', 1, 100, 25),
	(4, 1, 'Utkast', 1, 100, 25);
SELECT ar.issue(ARRAY[1, 2]::bigint[]);
SELECT ar.issue(3::bigint);

INSERT INTO ar.payment (id, entity_id, bank_ref, booking_date, amount, reference, kind) VALUES
	(1, 1, 'B1', '2026-10-20', '700.00 SEK', NULL, 'credit'),
	(2, 1, 'B2', '2026-10-21', '1000.00 SEK', NULL, 'credit'),
	(3, 1, 'B3', '2026-10-21', '50.00 EUR', NULL, 'credit'),
	(4, 1, 'B4', '2026-10-22', '100.00 SEK', NULL, 'debit'),
	(5, 2, 'B5', '2026-10-22', '125.00 SEK', NULL, 'credit');
-- a new payment is unmatched with all of it unallocated; a debit has nothing to allocate
SELECT id, kind, status, amount, unallocated FROM ar.payment ORDER BY id;
-- the same bank_ref twice in one entity is refused
INSERT INTO ar.payment (id, entity_id, bank_ref, booking_date, amount) VALUES (6, 1, 'B1', '2026-10-20', '1.00 SEK');

-- a partial payment, then the rest
SELECT ar.allocate(1, 1, '700.00 SEK');
SELECT number, status, open_amount FROM ar.invoice WHERE id = 1;
SELECT status, unallocated FROM ar.payment WHERE id = 1;
SELECT ar.allocate(2, 1);   -- default: as much as both allow (550.00)
SELECT number, status, open_amount FROM ar.invoice WHERE id = 1;
SELECT status, unallocated FROM ar.payment WHERE id = 2;
-- the rest of payment 2 pays invoice 2 (500.00); -50.00 would be an overpayment
SELECT ar.allocate(2, 2, '500.00 SEK');
SELECT ar.allocate(2, 2);
SELECT number, status, open_amount FROM ar.invoice WHERE id = 2;
SELECT status, unallocated FROM ar.payment WHERE id = 2;

-- bad input: each is an error and changes nothing
SELECT ar.allocate(99, 1);
SELECT ar.allocate(1, 99);
SELECT ar.allocate(NULL, 1);
SELECT ar.allocate(1, NULL);
SELECT ar.allocate(3, 2);                 -- EUR payment, SEK invoice
SELECT ar.allocate(4, 2);                 -- a debit entry
SELECT ar.allocate(5, 2);                 -- other entity
SELECT ar.allocate(2, 4);                 -- a draft
SELECT ar.allocate(2, 2, '0.00 SEK');
SELECT ar.allocate(2, 2, '-1.00 SEK');
SELECT ar.allocate(2, 2, '1.00 EUR');
-- payments are bank records
UPDATE ar.payment SET amount = '1.00 SEK' WHERE id = 1;
DELETE FROM ar.payment WHERE id = 1;

-- undo: the invoice is open again, the payment unallocated
SELECT id, payment_id, invoice_id, amount, rule, confidence, reversed_at IS NULL AS active
  FROM ar.allocation ORDER BY id;
SELECT ar.unallocate(2);
SELECT number, status, open_amount FROM ar.invoice WHERE id = 1;
SELECT status, unallocated FROM ar.payment WHERE id = 2;
SELECT ar.unallocate(2);
SELECT ar.unallocate(1);
SELECT number, status, open_amount FROM ar.invoice WHERE id = 1;
SELECT id, status, unallocated FROM ar.payment ORDER BY id;
SELECT ar.unallocate(99);
SELECT ar.unallocate(NULL);

-- crediting a partially paid invoice: the credit note is for the open
-- amount (one line per VAT rate) and settles it; what was paid stays paid
SELECT setval(pg_get_serial_sequence('ar.invoice', 'id'), 10);
SELECT ar.allocate(1, 1, '250.00 SEK');
SELECT number, status, total, open_amount FROM ar.invoice WHERE id = 1;
SELECT ar.credit(1, 'Fel pris') AS credit_note_id \gset
SELECT kind, number, status, total, open_amount, credited_invoice_id
  FROM ar.invoice WHERE id IN (1, :credit_note_id) ORDER BY id;
SELECT payment_id, credit_note_id IS NOT NULL AS from_credit_note, amount, rule
  FROM ar.allocation WHERE invoice_id = 1 AND reversed_at IS NULL ORDER BY id;
SELECT line_no, item_name, quantity, unit_price, vat_rate, net_amount
  FROM ar.invoice_line WHERE invoice_id = :credit_note_id ORDER BY line_no;
-- a paid invoice cannot be credited until its payments are reversed
SELECT ar.allocate(2, 2, '50.00 SEK');
SELECT number, status FROM ar.invoice WHERE id = 2;
SELECT ar.credit(2);
-- a credit note's allocation stays
SELECT ar.unallocate((SELECT id FROM ar.allocation WHERE credit_note_id = :credit_note_id));

-- what a credit note refers to is checked (not a foreign key: see invoice_before)
INSERT INTO ar.invoice (id, entity_id, customer_id, kind, credited_invoice_id, currency)
VALUES (50, 1, 1, 'credit_note', 999, 'SEK');
INSERT INTO ar.invoice (id, entity_id, customer_id, kind, credited_invoice_id, currency)
VALUES (50, 1, 1, 'credit_note', :credit_note_id, 'SEK');
INSERT INTO ar.invoice (id, entity_id, customer_id, kind, credited_invoice_id, currency)
VALUES (50, 2, 2, 'credit_note', 3, 'SEK');
INSERT INTO ar.invoice (id, entity_id, customer_id, currency) VALUES (51, 1, 1, 'SEK');
INSERT INTO ar.invoice (id, entity_id, customer_id, kind, credited_invoice_id, currency)
VALUES (52, 1, 1, 'credit_note', 51, 'SEK');
DELETE FROM ar.invoice WHERE id = 51;
DELETE FROM ar.invoice WHERE id = 52;
DELETE FROM ar.invoice WHERE id = 51;
SELECT count(*) FROM ar.invoice WHERE id IN (50, 51, 52);

-- overdue follows from the due date and the open amount (invoices dated 2026-10-01, 30 days)
SELECT number, due_date, open_amount, days_overdue > 0 AS overdue
  FROM ar.overdue ORDER BY number;

-- a payment on an invoice that was credited since cannot be reversed
SELECT ar.unallocate((SELECT id FROM ar.allocation WHERE invoice_id = 1 AND payment_id = 1 AND reversed_at IS NULL));

-- paying an invoice is a HOT update: ar.invoice leaves half of each page
-- free (fillfactor 50) and no index covers status or open_amount
SELECT reloptions FROM pg_class WHERE oid = 'ar.invoice'::regclass;
INSERT INTO ar.invoice (id, entity_id, customer_id, currency, issue_date) VALUES (60, 2, 2, 'SEK', '2026-10-01');
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_rate)
VALUES (60, 1, 'Konsult', 2, 100, 25);
SELECT ar.issue(60::bigint);
INSERT INTO ar.payment (id, entity_id, bank_ref, booking_date, amount, kind)
VALUES (60, 2, 'B60', '2026-10-25', '250.00 SEK', 'credit');
SELECT pg_stat_force_next_flush();
SELECT n_tup_upd AS upd0, n_tup_hot_upd AS hot0
  FROM pg_stat_user_tables WHERE relid = 'ar.invoice'::regclass \gset
SELECT ar.allocate(60, 60, '100.00 SEK');
SELECT ar.allocate(60, 60);
SELECT status, open_amount FROM ar.invoice WHERE id = 60;
SELECT pg_stat_force_next_flush();
SELECT n_tup_upd - :upd0 AS invoice_updates, n_tup_hot_upd - :hot0 AS hot
  FROM pg_stat_user_tables WHERE relid = 'ar.invoice'::regclass;

-- a credit the bank took back: ar.reverse_payment reverses its allocations,
-- links it to the reversal entry, and the matcher never takes it up again
INSERT INTO ar.invoice (id, entity_id, customer_id, currency, issue_date) VALUES (70, 1, 1, 'SEK', '2026-10-01');
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_rate)
VALUES (70, 1, 'Konsult', 4, 100, 25);
SELECT ar.issue(70::bigint) IS NOT NULL AS issued;
INSERT INTO ar.payment (id, entity_id, bank_ref, booking_date, amount, reference, kind)
SELECT 70, 1, 'B70', '2026-10-26', '500.00 SEK', payment_reference, 'credit' FROM ar.invoice WHERE id = 70;
INSERT INTO ar.payment (id, entity_id, bank_ref, booking_date, amount, reference, kind) VALUES
	(71, 1, 'B71', '2026-10-28', '500.00 SEK', NULL, 'reversal'),
	(72, 1, 'B72', '2026-10-28', '400.00 SEK', NULL, 'reversal'),
	(73, 2, 'B73', '2026-10-28', '500.00 SEK', NULL, 'return');
SELECT rule, payments FROM ar.match_payments(1) WHERE payments > 0;
SELECT status, open_amount FROM ar.invoice WHERE id = 70;
-- what is refused, each naming the entries
SELECT ar.reverse_payment(70, 72);   -- another amount
SELECT ar.reverse_payment(70, 73);   -- another entity
SELECT ar.reverse_payment(70, 2);    -- a credit is no reversal
SELECT ar.reverse_payment(71, 70);   -- a reversal is not reversed
SELECT ar.reverse_payment(70, 999);
SELECT ar.reverse_payment(70, NULL);
SELECT ar.reverse_payment(70, 71) AS allocations_reversed;
SELECT id, kind, status, unallocated, reversed_by FROM ar.payment WHERE id IN (70, 71) ORDER BY id;
SELECT status, open_amount FROM ar.invoice WHERE id = 70;
SELECT payment_id, invoice_id, amount, reversed_at IS NOT NULL AS reversed FROM ar.allocation WHERE payment_id = 70;
-- taken out of matching for good
SELECT rule, payments FROM ar.match_payments(1) WHERE payments > 0;
SELECT status, open_amount FROM ar.invoice WHERE id = 70;
SELECT ar.allocate(70, 70);
SELECT ar.reverse_payment(70, 71);
-- only ar.reverse_payment links them
UPDATE ar.payment SET reversed_by = NULL WHERE id = 70;
UPDATE ar.payment SET status = 'unmatched' WHERE id = 70;
SELECT count(*) FROM ar.verify_audit();

-- A credit that is no customer's payment is set aside: out of matching (and
-- of the dunning hold, see sql/dunning.sql) until it is put back.  80
-- carries invoice 80's reference but is set aside before the matcher runs;
-- 81, a tax refund, gets suggestions from its payer's name, which setting
-- it aside drops; 82 pays invoice 81 by reference with 100.00 too much.
INSERT INTO ar.invoice (id, entity_id, customer_id, currency, issue_date) VALUES
	(80, 1, 1, 'SEK', '2026-10-01'), (81, 1, 1, 'SEK', '2026-10-01');
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_rate) VALUES
	(80, 1, 'Konsult', 2, 100, 25), (81, 1, 'Konsult', 4, 100, 25);
SELECT ar.issue(ARRAY[80, 81]::bigint[]) IS NOT NULL AS issued;
INSERT INTO ar.payment (id, entity_id, bank_ref, booking_date, amount, reference, payer_name, kind)
SELECT 80, 1, 'B80', '2026-11-02', '250.00 SEK', payment_reference, 'Kund Ett AB', 'credit'
  FROM ar.invoice WHERE id = 80;
INSERT INTO ar.payment (id, entity_id, bank_ref, booking_date, amount, reference, payer_name, kind) VALUES
	(81, 1, 'B81', '2026-11-02', '500.00 SEK', NULL, 'Kund Ett', 'credit');
SELECT ar.set_aside(80, 'interest from the bank, booked by hand');
SELECT rule, payments FROM ar.match_payments(1) WHERE payments > 0;
SELECT id, status, unallocated, set_aside_reason FROM ar.payment WHERE id IN (80, 81) ORDER BY id;
SELECT payment_id, invoice_id, rule FROM ar.match_suggestion WHERE payment_id IN (80, 81);
SELECT status, open_amount FROM ar.invoice WHERE id = 80;
-- setting a suggested payment aside drops its suggestions
SELECT ar.set_aside(81, E'\t tax refund \n');
SELECT id, status, set_aside_reason FROM ar.payment WHERE id = 81;
SELECT count(*) AS suggestions_of_81 FROM ar.match_suggestion WHERE payment_id = 81;
-- what is refused, each naming the payment
SELECT ar.set_aside(80, 'again');
SELECT ar.set_aside(81, NULL);
SELECT ar.set_aside(2, '   ');
SELECT ar.set_aside(2, E'\t\n ');
SELECT ar.set_aside(NULL, 'x');
SELECT ar.set_aside(999, 'x');
SELECT ar.set_aside(4, 'a debit');
SELECT ar.set_aside(70, 'reversed');
SELECT ar.set_aside(60, 'applied in full');
SELECT ar.allocate(80, 80);
SELECT ar.put_back(2);
SELECT ar.put_back(999);
SELECT ar.put_back(NULL);
UPDATE ar.payment SET status = 'unmatched', set_aside_reason = NULL WHERE id = 80;
UPDATE ar.payment SET set_aside_reason = 'changed' WHERE id = 80;
SELECT id, status, set_aside_reason FROM ar.payment WHERE id IN (80, 81) ORDER BY id;
-- put back, the matcher applies 80 to its invoice
SELECT ar.put_back(80);
SELECT rule, payments FROM ar.match_payments(1) WHERE payments > 0;
SELECT id, status, unallocated FROM ar.payment WHERE id = 80;
SELECT status, open_amount FROM ar.invoice WHERE id = 80;
-- the rest of an overpayment, refunded: set aside with it, put back partial;
-- an allocation undone gives its money back to the payment, which stays aside
INSERT INTO ar.payment (id, entity_id, bank_ref, booking_date, amount, reference, kind)
SELECT 82, 1, 'B82', '2026-11-03', '600.00 SEK', payment_reference, 'credit' FROM ar.invoice WHERE id = 81;
SELECT rule, payments FROM ar.match_payments(1) WHERE payments > 0;
SELECT ar.set_aside(82, 'the 100.00 paid back to the customer');
SELECT id, status, unallocated, set_aside_reason FROM ar.payment WHERE id = 82;
SELECT ar.put_back(82);
SELECT ar.set_aside(82, 'the 100.00 paid back to the customer');
SELECT ar.unallocate((SELECT id FROM ar.allocation WHERE payment_id = 82 AND reversed_at IS NULL));
SELECT id, status, unallocated, set_aside_reason FROM ar.payment WHERE id = 82;
SELECT status, open_amount FROM ar.invoice WHERE id = 81;
-- a payment set aside can still be taken back by the bank
INSERT INTO ar.payment (id, entity_id, bank_ref, booking_date, amount, kind) VALUES
	(83, 1, 'B83', '2026-11-05', '500.00 SEK', 'reversal');
SELECT ar.reverse_payment(81, 83) AS allocations_reversed;
SELECT id, status, unallocated, set_aside_reason, reversed_by FROM ar.payment WHERE id = 81;
-- each change is in the audit trail
SELECT row_key, op, data->>'status' AS status, data->>'set_aside_reason' AS reason
  FROM ar.audit WHERE table_name = 'payment' AND row_key IN ('80', '81') AND op = 'UPDATE'
 ORDER BY id;
SELECT count(*) FROM ar.verify_audit();
