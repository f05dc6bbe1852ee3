--
-- Dunning: legal parameters, late interest, policies, disputes, letters
--
DROP EXTENSION ar CASCADE;
CREATE EXTENSION ar;
SET search_path = public, ar;
\set SHOW_CONTEXT never
SET datestyle = ISO, YMD;

-- the dated law: the rate in force on a day, the consumer key first, the
-- EU minimum for an EEA state without rows of its own, nothing elsewhere
SELECT j, k, d, (ar.legal_rate_on(j, k, d, c)).value, (ar.legal_rate_on(j, k, d, c)).currency
  FROM (VALUES ('SE', 'late_interest_pct', date '2024-12-31', false), ('SE', 'late_interest_pct', '2025-01-01', false),
			   ('SE', 'late_interest_pct', '2024-06-30', false), ('NO', 'reminder_fee_max', '2026-03-01', false),
			   ('FI', 'late_interest_pct', '2026-02-01', false), ('FI', 'late_interest_pct', '2026-02-01', true),
			   ('FI', 'reminder_fee_max', '2026-02-01', true), ('SE', 'reminder_fee_max', '2026-02-01', true),
			   ('DE', 'late_interest_pct', '2026-02-01', false), ('US', 'late_interest_pct', '2026-02-01', false))
	   v(j, k, d, c);
-- bad parameters are refused
INSERT INTO ar.legal_rate VALUES ('SE', 'reminder_fee_max', '2027-01-01', 70, NULL, 'x');
INSERT INTO ar.legal_rate VALUES ('SE', 'reminder_fee_count_max', '2027-01-01', 2.5, NULL, 'x');
INSERT INTO ar.legal_rate VALUES ('SE', 'interest_day_basis', '2027-01-01', 366, NULL, 'x');
INSERT INTO ar.legal_rate VALUES ('SE', 'late_fee', '2027-01-01', 1, NULL, 'x');
-- the installed rows stay as shipped (and out of the dump); a row of one's
-- own for the same day overrides one and stays one's own (it is dumped)
UPDATE ar.legal_rate SET value = 11 WHERE jurisdiction = 'SE' AND key = 'late_interest_pct' AND valid_from = '2026-01-01';
BEGIN;
INSERT INTO ar.legal_rate VALUES ('SE', 'late_interest_pct', '2026-01-01', 11, NULL, 'own', true);
UPDATE ar.legal_rate SET installed = true WHERE source = 'own';
SELECT (ar.legal_rate_on('SE', 'late_interest_pct', '2026-02-01')).value,
	   (SELECT installed FROM ar.legal_rate WHERE source = 'own') AS own_installed;
ROLLBACK;
SELECT ar.interest_days('2026-02-01', '2026-03-03', 365) AS act, ar.interest_days('2026-02-01', '2026-03-03', 360) AS e30_360,
	   ar.interest_days('2026-01-31', '2026-03-31', 360) AS month_ends;

INSERT INTO ar.entity (id, code, name, country, vat_id, currency, iban, reference_scheme, time_zone) VALUES
	(1, 'SE1', 'Nordvind AB', 'SE', 'SE556677889901', 'SEK', 'SE4550000000058398257466', 'ocr', 'Europe/Stockholm'),
	(2, 'NO1', 'Fjellet AS', 'NO', 'NO912345678MVA', 'NOK', 'NO9386011117947', 'kid10', 'Europe/Oslo'),
	(3, 'DK1', 'Bølge ApS', 'DK', 'DK12345678', 'DKK', 'DK5000400440116243', 'ocr', 'Europe/Copenhagen');
INSERT INTO ar.series (entity_id, code, kind, pattern) VALUES
	(1, 'F', 'invoice', 'F{N:5}'), (1, 'K', 'credit_note', 'K{N:5}'),
	(2, 'F', 'invoice', '2{N:5}'), (3, 'F', 'invoice', '3{N:5}');
INSERT INTO ar.fx_rate (from_currency, to_currency, valid_on, rate) VALUES
	('SEK', 'EUR', '2026-01-01', 0.09), ('EUR', 'SEK', '2026-01-01', 11.10);

-- policies: the levels come later the higher they are (checked at commit)
INSERT INTO ar.dunning_policy (id, entity_id, name, is_default) VALUES
	(1, 1, 'standard', true), (2, 2, 'standard', true), (3, 3, 'standard', true);
INSERT INTO ar.dunning_level (policy_id, level, days_after_due, action, fee, charge_interest, deadline_days) VALUES
	(1, 1, 7, 'reminder', '60.00 SEK', true, 10),
	(1, 2, 21, 'reminder', '60.00 SEK', true, 10),
	(1, 3, 35, 'collection_notice', '180.00 SEK', true, 3),
	(2, 1, 5, 'reminder', '70.00 NOK', false, 14),
	(2, 2, 20, 'reminder', '70.00 NOK', false, 14),
	(2, 3, 35, 'reminder', '70.00 NOK', false, 14),
	(2, 4, 50, 'collection_notice', '70.00 NOK', false, 5),
	(3, 1, 3, 'reminder', '100.00 DKK', true, 10);
INSERT INTO ar.dunning_level (policy_id, level, days_after_due, action) VALUES (1, 4, 30, 'handover');
INSERT INTO ar.dunning_level (policy_id, level, days_after_due, action, fee) VALUES (1, 5, 90, 'handover', '10.00 SEK');
INSERT INTO ar.dunning_level (policy_id, level, days_after_due, action) VALUES (1, 4, 60, 'suspend_service');
BEGIN;
UPDATE ar.dunning_level SET days_after_due = 70 WHERE policy_id = 1 AND level = 3;
UPDATE ar.dunning_level SET days_after_due = 80 WHERE policy_id = 1 AND level = 4;
ROLLBACK;
-- a customer's policy is one of its entity's
INSERT INTO ar.customer (id, entity_id, customer_no, name, country, currency, dunning_policy_id)
VALUES (99, 1, 'C99', 'Fel AB', 'SE', 'SEK', 2);

INSERT INTO ar.customer (id, entity_id, customer_no, name, country, currency, fee_agreed_on, segment,
						 account_manager, email) VALUES
	(1, 1, 'C1', 'Avtal AB', 'SE', 'SEK', '2025-06-01', 'standard', NULL, 'ap@avtal.se'),
	(2, 1, 'C2', 'Utan Avtal AB', 'SE', 'SEK', NULL, 'standard', NULL, NULL),
	(3, 1, 'C3', 'Nyckel AB', 'SE', 'SEK', '2025-06-01', 'key', 'anna@nordvind.se', NULL),
	(4, 1, 'C4', 'Sent Avtal AB', 'SE', 'SEK', '2026-01-02', 'standard', NULL, 'a@sent.se'),
	(5, 1, 'C5', 'Tvist AB', 'SE', 'SEK', '2025-06-01', 'standard', NULL, 'a@tvist.se'),
	(6, 1, 'C6', 'Euro Kund AB', 'SE', 'EUR', '2025-06-01', 'standard', NULL, 'a@euro.se'),
	(7, 1, 'C7', 'Betalar AB', 'SE', 'SEK', '2025-06-01', 'standard', NULL, 'a@betalar.se'),
	(21, 2, 'N1', 'Kunde AS', 'NO', 'NOK', NULL, 'standard', NULL, 'a@kunde.no'),
	(31, 3, 'D1', 'Kunde ApS', 'DK', 'DKK', NULL, 'standard', NULL, 'a@kunde.dk');
-- invoices: 10 000.00 gross each (8 000.00 + 25 % VAT), due 2026-01-31
INSERT INTO ar.invoice (id, entity_id, customer_id, currency, issue_date, due_date) VALUES
	(1, 1, 1, 'SEK', '2026-01-01', '2026-01-31'),
	(2, 1, 2, 'SEK', '2026-01-01', '2026-01-31'),
	(3, 1, 3, 'SEK', '2026-01-01', '2026-01-31'),
	(4, 1, 4, 'SEK', '2026-01-01', '2026-01-31'),
	(5, 1, 5, 'SEK', '2026-01-01', '2026-01-31'),
	(6, 1, 6, 'EUR', '2026-01-01', '2026-01-31'),
	(7, 1, 7, 'SEK', '2026-01-01', '2026-01-31'),
	(8, 1, 1, 'SEK', '2026-01-01', '2026-03-31'),
	(21, 2, 21, 'NOK', '2026-01-01', '2026-01-31'),
	(31, 3, 31, 'DKK', '2026-01-01', '2026-01-31');
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_category, vat_rate)
SELECT i.id, 1, 'Konsult', 1, 8000, 'S', 25 FROM ar.invoice i;
SELECT count(*) FROM ar.issue(ARRAY[1, 2, 3, 4, 5, 6, 7, 8, 21, 31]);
SELECT setval(pg_get_serial_sequence('ar.invoice', 'id'), 100);

-- late interest: 10 000.00 for 30 days at 10 % (SE, ACT/365) is 82.19;
-- nothing up to the due date
SELECT ar.late_interest(1, '2026-03-02') AS se_30_days, ar.late_interest(1, '2026-01-31') AS on_due,
	   ar.late_interest(1, '2026-02-01') AS day_after;
-- Denmark counts 30E/360 from the due date itself: 2026-01-31 to
-- 2026-03-01 are 32 days (January's 31st and February count as 30), at 10 %
-- (a rate for the test, from 2026-01-01) 88.89
INSERT INTO ar.legal_rate VALUES ('DK', 'late_interest_pct', '2026-01-01', 10, NULL, 'test');
SELECT ar.late_interest(31, '2026-03-01') AS dk_30e_360,
	   ar.round_amount(1000000 * 10 * 32 / 36000.0 / 100, 'DKK') AS by_hand;
-- Norway: 30 days at 12.00 %
SELECT ar.late_interest(21, '2026-03-02') AS no_30_days;
-- a rate that changes within the span: each day at its own rate (14 days
-- at 10 %, then 16 at 12 %)
BEGIN;
INSERT INTO ar.legal_rate VALUES ('SE', 'late_interest_pct', '2026-02-15', 12, NULL, 'test');
SELECT ar.late_interest(1, '2026-03-02') AS two_rates,
	   ar.round_amount((1000000 * 10 * 14 + 1000000 * 12 * 16) / 36500.0 / 100, 'SEK') AS by_hand;
ROLLBACK;
-- a part payment stops interest on what it paid from the day after its value date
INSERT INTO ar.payment (id, entity_id, bank_ref, booking_date, value_date, amount)
VALUES (1, 1, 'B1', '2026-02-12', '2026-02-10', '4000.00 SEK');
SELECT ar.allocate(1, 7);
-- 10 000.00 for 10 days (Feb 1-10), 6 000.00 for 20 days (Feb 11 - Mar 2)
SELECT ar.late_interest(7, '2026-03-02') AS after_part_payment,
	   ar.round_amount((1000000 * 10 * 10 + 600000 * 10 * 20) / 36500.0 / 100, 'SEK') AS by_hand;
-- bad calls
SELECT ar.late_interest(999, '2026-03-02');
SELECT ar.late_interest(NULL, '2026-03-02');
SELECT ar.late_interest(1, 'infinity');
INSERT INTO ar.invoice (id, entity_id, customer_id, currency) VALUES (50, 1, 1, 'SEK');
SELECT ar.late_interest(50, '2026-03-02');
-- a day before the due date bears none; a jurisdiction without rates is an error
SELECT ar.late_interest(1, '2024-01-01');
BEGIN;
UPDATE ar.entity SET jurisdiction = 'US' WHERE id = 3;
SELECT ar.late_interest(31, '2026-03-01');
ROLLBACK;
-- a rate more than half a year old draws a warning
SELECT ar.late_interest(1, '2026-08-15');

-- run_dunning: not for a day to come, nor for an entity that does not exist
-- (tomorrow in the entity's zone; the dates named, so the output is the same every day)
DO $$
BEGIN
	PERFORM ar.run_dunning(ar.today(1) + 1, 1);
EXCEPTION WHEN invalid_parameter_value THEN
	RAISE NOTICE '%', replace(replace(SQLERRM, (ar.today(1) + 1)::text, '<tomorrow>'), ar.today(1)::text, '<today>');
END
$$;
SELECT * FROM ar.run_dunning('2026-02-05', 77);
SELECT * FROM ar.run_dunning('-infinity', 1);
-- an open dispute keeps invoice 5 out of dunning
INSERT INTO ar.dispute (id, invoice_id, reason) VALUES (1, 5, 'Konsulten kom aldrig');
SELECT entity_id, status FROM ar.dispute WHERE id = 1;
INSERT INTO ar.dispute (id, invoice_id, reason) VALUES (3, 5, 'igen');
INSERT INTO ar.dispute (id, invoice_id, reason) VALUES (3, 50, 'utkast');
INSERT INTO ar.dispute (id, invoice_id, reason, status) VALUES (3, 1, 'x', 'accepted');
\set VERBOSITY terse
INSERT INTO ar.dispute (id, invoice_id, reason) VALUES (3, 1, ' ');
\set VERBOSITY default
-- unapplied money from a customer's known account holds its dunning
INSERT INTO ar.payer_account (entity_id, payer_account, customer_id) VALUES (1, 'SE3550000000054910000003', 4);
INSERT INTO ar.payment (id, entity_id, bank_ref, booking_date, amount, payer_account)
VALUES (2, 1, 'B2', '2026-02-03', '500.00 SEK', 'SE35 5000 0000 0549 1000 0003');
-- nothing is 7 days overdue on 2026-02-06
SELECT * FROM ar.run_dunning('2026-02-06', 1);
SELECT * FROM ar.run_dunning('2026-02-07', 1);
-- run twice for the same day: nothing more
SELECT * FROM ar.run_dunning('2026-02-07', 1);
-- nor for a day before
SELECT * FROM ar.run_dunning('2026-02-06', 1);
-- C1 agreed to fees before the debt arose (60.00); C2 never agreed and C4
-- only after invoice 4 was issued (no fee); C3 is a key account: its
-- manager is alerted, no fee, no interest; C6's 60.00 SEK fee in EUR at
-- 0.09 is 5.40 EUR, within the 60 SEK cap (5.40 EUR)
SELECT l.customer_id, l.level, l.action, l.deadline, l.open_total, l.fee, l.interest, o.kind, o.channel
  FROM ar.dunning_letter l JOIN ar.outbox o ON o.id = l.outbox_id ORDER BY l.id;
SELECT invoice_id, level, days_overdue, open_amount, interest, fee_bearing FROM ar.dunning_item ORDER BY id;
SELECT payload FROM ar.outbox o JOIN ar.dunning_letter l ON l.outbox_id = o.id WHERE l.customer_id IN (1, 3) ORDER BY l.id;
-- level 2 only once the deadline of level 1 has passed and 21 days are
-- due; the dispute is rejected, so invoice 5 gets its first letter; the
-- unapplied payment is applied, so invoice 4 does too
UPDATE ar.dispute SET status = 'rejected' WHERE id = 1;
SELECT ar.allocate(2, 4);
SELECT * FROM ar.run_dunning('2026-02-16', 1);
SELECT * FROM ar.run_dunning('2026-02-21', 1);
-- the collection notice: the 180.00 fee is capped at 60.00, its deadline
-- is the 8 days of god inkassosed, not the level's 3
SELECT * FROM ar.run_dunning('2026-03-10', 1);
SELECT l.customer_id, l.level, l.action, l.as_of, l.deadline, l.fee, l.interest
  FROM ar.dunning_letter l WHERE l.as_of > '2026-02-07' ORDER BY l.id;
-- a resolved dispute stays as it is; accepting one credits the invoice
UPDATE ar.dispute SET status = 'open' WHERE id = 1;
DELETE FROM ar.dispute WHERE id = 1;
INSERT INTO ar.dispute (id, invoice_id, reason) VALUES (2, 2, 'Fel pris');
UPDATE ar.dispute SET status = 'accepted' WHERE id = 2;
SELECT d.status, d.resolved_at IS NOT NULL AS resolved, c.number, c.total, c.status AS cn_status,
	   i.status AS invoice_status, i.open_amount
  FROM ar.dispute d JOIN ar.invoice c ON c.id = d.credit_note_id JOIN ar.invoice i ON i.id = d.invoice_id
 WHERE d.id = 2;
-- a credited invoice is not dunned
SELECT * FROM ar.run_dunning('2026-03-20', 1);

-- Norway: the purregebyr is 35 NOK (not the policy's 70), only from 14
-- days after the due date, for two purringer at most (none on the
-- collection notice), and the inkassovarsel gives 14 days, not 5
SELECT * FROM ar.run_dunning('2026-02-05', 2);
SELECT * FROM ar.run_dunning('2026-02-20', 2);
SELECT * FROM ar.run_dunning('2026-03-07', 2);
SELECT * FROM ar.run_dunning('2026-03-22', 2);
SELECT l.level, l.action, l.as_of, l.deadline, l.fee, i.fee_bearing
  FROM ar.dunning_letter l JOIN ar.dunning_item i ON i.letter_id = l.id WHERE l.entity_id = 2 ORDER BY l.id;
-- Denmark: 100 DKK at most, interest 30/360 from the due date.  Money
-- from D1's known account holds its dunning until it is set aside (a refund
-- owed to D1, not a payment of its invoice)
INSERT INTO ar.payer_account (entity_id, payer_account, customer_id) VALUES (3, 'DK9520000123456789', 31);
INSERT INTO ar.payment (id, entity_id, bank_ref, booking_date, amount, payer_account)
VALUES (30, 3, 'DK30', '2026-01-20', '40.00 DKK', 'DK95 2000 0123 4567 89');
SELECT * FROM ar.run_dunning('2026-02-03', 3);
SELECT ar.set_aside(30, 'owed back to D1');
SELECT * FROM ar.run_dunning('2026-02-03', 3);
SELECT l.fee, l.interest, ar.late_interest(31, '2026-02-03') FROM ar.dunning_letter l WHERE l.entity_id = 3;

-- letters are written by ar.run_dunning only and never changed
INSERT INTO ar.dunning_letter (entity_id, customer_id, policy_id, level, action, as_of, deadline, currency,
							   open_total, fee, interest)
VALUES (1, 1, 1, 9, 'reminder', '2026-03-01', '2026-03-10', 'SEK', '1.00 SEK', '0.00 SEK', '0.00 SEK');
UPDATE ar.dunning_letter SET fee = '0.00 SEK' WHERE id = 1;
DELETE FROM ar.dunning_item WHERE letter_id = 1;
-- every letter and item is in the audit trail
SELECT table_name, count(*) FROM ar.audit WHERE table_name LIKE 'dunning%' GROUP BY 1 ORDER BY 1;
SELECT (SELECT count(*) FROM ar.dunning_letter) AS letters, (SELECT count(*) FROM ar.dunning_item) AS items;
SELECT * FROM ar.verify_audit();
