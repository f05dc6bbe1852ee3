--
-- Matching payments that name several invoices: rule a over the payment's
-- reference and its further references (ar.payment_extra_ref), from a real
-- camt.053 file (several Strd per transaction) and a real BgMax file (TK20
-- followed by TK22/TK23 records).
--
-- Both files are test/fixtures/bank/*_several_refs.*; their references are
-- the payment references of the invoices F-00001 .. F-00024 issued below.
--
DROP EXTENSION ar CASCADE;
CREATE EXTENSION ar;
SET search_path = public, ar;
\set SHOW_CONTEXT never
SET datestyle = ISO, YMD;

\set fixtures test/fixtures/bank
\set camt `cat :fixtures/camt053_several_refs.xml`
\set bgmax :fixtures/bgmax_several_refs.txt
\set bgmax64 `base64 -w0 :bgmax`

INSERT INTO ar.entity (id, code, name, country, vat_id, currency, reference_scheme, iban, bankgiro) VALUES
	(1, 'SE1', 'Norrsken AB', 'SE', 'SE556677889901', 'SEK', 'ocr',
	 'SE45 5000 0000 0583 9825 7466', '991-2346');
-- numbers F-00001 ..; the reference of F-00007 is ocr of 20260 00007
INSERT INTO ar.series (id, entity_id, code, kind, pattern, reference_prefix) VALUES
	(1, 1, 'F', 'invoice', 'F-{N:5}', '20260'),
	(2, 1, 'K', 'credit_note', 'K-{N:5}', NULL);
INSERT INTO ar.customer (id, entity_id, customer_no, name, country, currency) VALUES
	(1, 1, 'C1', 'Kund Ett AB', 'SE', 'SEK'),
	(2, 1, 'C2', 'Sjöfart Två AB', 'SE', 'SEK');
-- ids 1 .. 24 from the identity; zero-rated, so an invoice's total is its
-- line's price
INSERT INTO ar.invoice (entity_id, customer_id, currency, issue_date)
SELECT 1, CASE WHEN n IN (10, 11) THEN 2 ELSE 1 END, 'SEK', '2026-10-01'
  FROM generate_series(1, 24) n ORDER BY n;
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_category, vat_rate)
SELECT v.id, 1, 'Tjänst', 1, v.price, 'Z', 0
  FROM (VALUES (1, 1000), (2, 500), (3, 300), (4, 200), (5, 400), (6, 600), (7, 800), (8, 250),
			   (9, 150), (10, 350), (11, 100), (12, 120), (13, 130), (14, 90), (15, 1000),
			   (16, 500), (17, 1000), (18, 500), (19, 400), (20, 600), (21, 400),
			   (22, 250), (23, 1000), (24, 500)) AS v (id, price);
SELECT count(*) AS issued FROM ar.issue(ARRAY(SELECT generate_series(1, 24))::bigint[]);
SELECT id, customer_id, number, payment_reference, total FROM ar.invoice ORDER BY id;
-- F-00015 is credited 300.00 before it is paid: open 700.00
SELECT ar.credit(15, 'Rabatt', '300.00 SEK') AS credit_note \gset
SELECT number, kind, total, (SELECT open_amount FROM ar.invoice WHERE id = 15) AS open_f15
  FROM ar.invoice WHERE id = :credit_note;
-- C2 paid from this account before
INSERT INTO ar.payer_account (entity_id, payer_account, customer_id) VALUES
	(1, 'SE1460000000000000000044', 2);

SELECT ar.import_camt(:'camt') AS camt, ar.import_bgmax(decode(:'bgmax64', 'base64'), 1) AS bgmax;
-- what the matcher reads: the reference, then the extra references in order
SELECT p.id, p.source, p.amount, p.reference,
	   array_agg(x.reference || coalesce(' ' || x.amount::text, '') ORDER BY x.seq)
		 FILTER (WHERE x.seq IS NOT NULL) AS extra
  FROM ar.payment p LEFT JOIN ar.payment_extra_ref x ON x.payment_id = p.id
 GROUP BY p.id ORDER BY p.id;

SELECT * FROM ar.match_payments(1);

-- camt:
--  1: two references, the sum of both invoices: both paid by rule a
--  2: a reference and an invoice number (RfrdDocInf/Nb): both paid
--  3: two references, less than their sum, no amounts given: suggestions
--  4: a reference and the number of the same invoice, less than it: partial
--  5: a reference and a valid one that names no invoice: a suggestion
--  6: a reference of F-00001, which payment 1 paid, and one of F-00009
--  7: C2's account and the amount of F-00010, which payment 8 names: not
--     taken by the payer rule, whatever the order
--  8: two references of C2's invoices, their sum: both paid
--  9: two references and their sum, but the text names F-00014: suggestions
-- BgMax:
-- 10: TK22 F-00015 (open 700.00 after the credit) and F-00016 with a TK23
--     deduction: the payment is the sum of the open amounts, both paid
-- 11: TK22 amounts 300.00 for F-00017 and 500.00 for F-00018 that add up
--     to the payment: 300.00 of F-00017 and all of F-00018
-- 12: TK22 amounts 0 (none given), less than the sum: suggestions
-- 13: the TK20's own reference F-00021 and a TK22 F-00022, their sum
-- 14: TK22 amounts 700.00 for F-00023 and 500.00 for F-00024 that add up
--     to the payment, but a TK23 deducts 300.00: the amounts are not what
--     is paid, and the payment is not the sum of the open amounts either:
--     suggestions
SELECT p.id, p.status, p.unallocated, a.number, a.amount, a.rule, a.confidence
  FROM ar.payment p
  LEFT JOIN (SELECT a.payment_id, i.number, a.amount, a.rule, a.confidence, a.id
			   FROM ar.allocation a JOIN ar.invoice i ON i.id = a.invoice_id) a ON a.payment_id = p.id
 ORDER BY p.id, a.id;
SELECT s.payment_id, i.number, s.score, s.rule
  FROM ar.match_suggestion s JOIN ar.invoice i ON i.id = s.invoice_id
 ORDER BY s.payment_id, s.score DESC, i.number;
SELECT number, status, open_amount FROM ar.invoice WHERE kind = 'invoice' ORDER BY id;
-- learned: payment 1 taught C1's account
SELECT payer_account, customer_id, learned_from, rule FROM ar.payer_account ORDER BY learned_from;

-- a second run decides the same
SELECT * FROM ar.match_payments(1);
SELECT count(*) AS allocations FROM ar.allocation;

-- a person confirms payment 3's suggestions: 400.00 to F-00005, the rest
-- 300.00 to F-00006, which stays partially paid
SELECT ar.allocate(3, 5) IS NOT NULL AS allocated, ar.allocate(3, 6) IS NOT NULL AS allocated;
SELECT p.status, p.unallocated, (SELECT count(*) FROM ar.match_suggestion s WHERE s.payment_id = 3) AS suggestions
  FROM ar.payment p WHERE p.id = 3;
SELECT number, status, open_amount FROM ar.invoice WHERE id IN (5, 6) ORDER BY id;

-- every invoice's open amount is its total less what is allocated to it
SELECT i.number FROM ar.invoice i
 WHERE i.kind = 'invoice'
   AND i.open_amount <> i.total - coalesce((SELECT sum(a.amount) FROM ar.allocation a
											  WHERE a.invoice_id = i.id), '0 SEK');

--
-- Entity 2: edge cases, written as rows.  Its series gives plain numbers
-- 1, 2, ..; the reference of number k is k and a Luhn digit, so the
-- reference of number 1 ('18') is also the number of invoice 18, which
-- belongs to another customer.  Invoice number k is 100.00 + k.
--
INSERT INTO ar.entity (id, code, name, country, vat_id, currency, reference_scheme) VALUES
	(2, 'SE2', 'Söder AB', 'SE', 'SE556677889902', 'SEK', 'ocr');
INSERT INTO ar.series (id, entity_id, code, kind, pattern) VALUES (3, 2, 'N', 'invoice', '{N}');
INSERT INTO ar.customer (id, entity_id, customer_no, name, country, currency) VALUES
	(3, 2, 'X', 'Xylit AB', 'SE', 'SEK'),
	(4, 2, 'Y', 'Ymer AB', 'SE', 'SEK');
CREATE TEMP TABLE e2 AS
SELECT k, (SELECT max(id) FROM ar.invoice) + k AS id FROM generate_series(1, 50) k;
INSERT INTO ar.invoice (id, entity_id, customer_id, currency, issue_date)
SELECT id, 2, CASE WHEN k IN (18, 26) THEN 4 ELSE 3 END, 'SEK', '2026-10-01' FROM e2 ORDER BY k;
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_category, vat_rate)
SELECT id, 1, 'Tjänst', 1, 100 + k, 'Z', 0 FROM e2;
SELECT count(*) AS issued FROM ar.issue(ARRAY(SELECT id FROM e2 ORDER BY k));
SELECT number, payment_reference, customer_id, total FROM ar.invoice
 WHERE entity_id = 2 AND number IN ('1', '3', '14', '18') ORDER BY total;
INSERT INTO ar.payer_account (entity_id, payer_account, customer_id) VALUES
	(2, 'SE7280000810340009783242', 3);

-- number 1 is paid first
INSERT INTO ar.payment (id, entity_id, bank_ref, booking_date, amount, reference) VALUES
	(101, 2, 'E2-1', '2026-11-20', '101.00 SEK', '18');
SELECT * FROM ar.match_payments(2) WHERE payments > 0;

INSERT INTO ar.payment (id, entity_id, bank_ref, booking_date, amount, reference, payer_account) VALUES
	-- 102: the reference of the paid number 1 ('18', also number 18's
	-- number) and number 3's; the amount is 18 and 3 together
	(102, 2, 'E2-2', '2026-11-20', '221.00 SEK', '18', NULL),
	-- 103: X's account and the amount of number 4, less a TK23 deduction
	(103, 2, 'E2-3', '2026-11-20', '104.00 SEK', NULL, 'SE7280000810340009783242'),
	-- 104: X's account and the amount of number 5, which 105 names later
	(104, 2, 'E2-4', '2026-11-20', '105.00 SEK', NULL, 'SE7280000810340009783242'),
	-- 105: numbers 5 and 6, less than their sum: suggestions
	(105, 2, 'E2-5', '2026-11-20', '200.00 SEK', '59', NULL),
	-- 106: numbers 7 and 8, less than their sum: suggestions ...
	(106, 2, 'E2-6', '2026-11-20', '200.00 SEK', '75', NULL),
	-- 107: ... and X's account with the amount of number 7 after it
	(107, 2, 'E2-7', '2026-11-20', '107.00 SEK', NULL, 'SE7280000810340009783242'),
	-- 108: numbers 9 and 10 with a blank extra reference between them
	(108, 2, 'E2-8', '2026-11-20', '219.00 SEK', '91', NULL),
	-- 109: numbers 11 and 12 with TK22 amounts too large to add up, but
	-- the payment is their open amounts' sum
	(109, 2, 'E2-9', '2026-11-20', '223.00 SEK', NULL, NULL),
	-- 110: number 13 and '14' as an invoice number: digits only, so not
	-- taken as a number (it could be any number)
	(110, 2, 'E2-10', '2026-11-20', '227.00 SEK', '133', NULL);
INSERT INTO ar.payment_extra_ref (entity_id, payment_id, seq, reference, amount, reference_code) VALUES
	(2, 102, 1, '34', NULL, 'SCOR'),
	(2, 103, 1, 'K-1', '-20.00 SEK', '4'),
	(2, 105, 1, '67', NULL, 'SCOR'),
	(2, 106, 1, '83', NULL, 'SCOR'),
	(2, 108, 1, '   ', NULL, 'SCOR'),
	(2, 108, 2, '109', NULL, 'SCOR'),
	(2, 109, 1, '117', '92233720368547758.07 SEK', '2'),
	(2, 109, 2, '125', '92233720368547758.07 SEK', '2'),
	(2, 110, 1, '14', NULL, 'CINV');
SELECT * FROM ar.match_payments(2);
SELECT p.id, p.status, p.unallocated, i.number, a.amount, a.rule
  FROM ar.payment p
  LEFT JOIN ar.allocation a ON a.payment_id = p.id
  LEFT JOIN ar.invoice i ON i.id = a.invoice_id
 WHERE p.entity_id = 2 ORDER BY p.id, i.total;
SELECT s.payment_id, i.number, s.score, s.rule
  FROM ar.match_suggestion s JOIN ar.invoice i ON i.id = s.invoice_id
 WHERE s.payment_id > 100
 ORDER BY s.payment_id, s.score DESC, i.total;
SELECT number, status, open_amount FROM ar.invoice
 WHERE entity_id = 2 AND number IN ('4', '5', '7', '18') ORDER BY total;

-- 111: X's account and the amount of number 15, with only a blank extra
--      reference: as if it had none, rule c
-- 112: number 16's reference and '16' as its number (digits only): the
--      number confirms the reference
-- 113: number 17's reference with 50.00 of its 117.00: partial ...
-- 114: ... and X's account with the rest: number 17 stays claimed by 113
--      for this run, as it would be had 114 come first
-- 115: references of the 17 numbers 31 .. 47 and their sum: only 16 are
--      weighed, so suggestions (the best 10) ...
-- 116: ... and X's account with the amount of number 47, the 17th, which
--      115 does not claim
INSERT INTO ar.payment (id, entity_id, bank_ref, booking_date, amount, reference, payer_account) VALUES
	(111, 2, 'E2-11', '2026-11-21', '115.00 SEK', NULL, 'SE7280000810340009783242'),
	(112, 2, 'E2-12', '2026-11-21', '116.00 SEK', ar.payment_reference('ocr', '16'), NULL),
	(113, 2, 'E2-13', '2026-11-21', '50.00 SEK', ar.payment_reference('ocr', '17'), NULL),
	(114, 2, 'E2-14', '2026-11-21', '67.00 SEK', NULL, 'SE7280000810340009783242'),
	(115, 2, 'E2-15', '2026-11-21', (SELECT ar.sum(total) FROM ar.invoice WHERE entity_id = 2
									AND number::integer BETWEEN 31 AND 47), NULL, NULL),
	(116, 2, 'E2-16', '2026-11-21', '147.00 SEK', NULL, 'SE7280000810340009783242');
INSERT INTO ar.payment_extra_ref (entity_id, payment_id, seq, reference, amount, reference_code)
VALUES (2, 111, 1, '   ', NULL::ar.amount, '0'), (2, 112, 1, '16', NULL, 'CINV')
UNION ALL
SELECT 2, 115, k - 30, ar.payment_reference('ocr', k::text), NULL, 'SCOR' FROM generate_series(31, 47) k;
SELECT * FROM ar.match_payments(2) WHERE payments > 0;
SELECT p.id, p.status, p.unallocated, i.number, a.amount, a.rule
  FROM ar.payment p
  LEFT JOIN ar.allocation a ON a.payment_id = p.id
  LEFT JOIN ar.invoice i ON i.id = a.invoice_id
 WHERE p.id > 110 ORDER BY p.id, i.total;
SELECT count(*) AS suggestions_115 FROM ar.match_suggestion WHERE payment_id = 115;
-- the next run: 113 is decided, so 114 pays the rest of number 17
SELECT * FROM ar.match_payments(2) WHERE payments > 0;
SELECT p.id, p.status, i.number, a.amount, a.rule
  FROM ar.payment p JOIN ar.allocation a ON a.payment_id = p.id JOIN ar.invoice i ON i.id = a.invoice_id
 WHERE p.id = 114;

-- 117: a reference field that lists the references of numbers 48 and 49
--      (a BgMax TK20 of code 3, as in Bankgirot's sample), repeated as
--      extra references, and their sum: both paid by the reference rule
-- 118: number 50's reference written in groups, with a blank extra
--      reference: one reference, not its groups; paid in full
INSERT INTO ar.payment (id, entity_id, bank_ref, booking_date, amount, reference) VALUES
	(117, 2, 'E2-17', '2026-11-22', '297.00 SEK',
	 ar.payment_reference('ocr', '48') || ' ' || ar.payment_reference('ocr', '49')),
	(118, 2, 'E2-18', '2026-11-22', '150.00 SEK',
	 regexp_replace(ar.payment_reference('ocr', '50'), '^(..)', '\1 '));
INSERT INTO ar.payment_extra_ref (entity_id, payment_id, seq, reference, amount, reference_code) VALUES
	(2, 117, 1, ar.payment_reference('ocr', '48'), NULL, '2'),
	(2, 117, 2, ar.payment_reference('ocr', '49'), NULL, '2'),
	(2, 118, 1, '   ', NULL, '0');
SELECT id, reference FROM ar.payment WHERE id IN (117, 118) ORDER BY id;
SELECT * FROM ar.match_payments(2) WHERE payments > 0;
SELECT p.id, p.status, p.unallocated, i.number, a.amount, a.rule, a.confidence
  FROM ar.payment p
  LEFT JOIN ar.allocation a ON a.payment_id = p.id
  LEFT JOIN ar.invoice i ON i.id = a.invoice_id
 WHERE p.id > 116 ORDER BY p.id, i.total;

--
-- Other written forms of a reference (ar.reference_normal).  Entity 3
-- (Finland, fi references) and entity 4 (Denmark, FIK ids).  The invoices
-- of entity 3 cost 300.00 + k EUR, those of entity 4 400.00 + k DKK.
--
SELECT ar.reference_normal('fi', 'rf81 1234 53') AS rf_wrapped,
	   ar.reference_normal('fi', '00000000000000123453') AS zero_padded,
	   ar.reference_normal('fi', 'RF81000000000000123453') AS both,
	   ar.reference_normal('fi', '000123453') AS short_zeros,
	   ar.reference_normal('fi', '123453') AS as_given,
	   ar.reference_normal('fi', 'RF81123454') AS wrong_inner_check,
	   ar.reference_normal('fi', 'RF71123453') AS wrong_rf_check,
	   ar.reference_normal('fi', ar.payment_reference('rf', 'ABC1')) AS rf_of_no_fi_ref,
	   ar.reference_normal('fik', '18') AS fik_unpadded,
	   ar.reference_normal('fik', '19') AS fik_wrong_check,
	   ar.reference_normal('rf', 'rf81 123453') AS rf,
	   ar.reference_normal('ocr', '0125') AS ocr_keeps_zeros,
	   ar.reference_normal('fi', repeat('0', 40) || '123453') AS too_long;
SELECT ar.reference_normal('bogus', '123');
INSERT INTO ar.entity (id, code, name, country, vat_id, currency, reference_scheme) VALUES
	(3, 'FI3', 'Pohjoinen Oy', 'FI', 'FI12345671', 'EUR', 'fi'),
	(4, 'DK4', 'Nordlys ApS', 'DK', 'DK12345678', 'DKK', 'fik');
INSERT INTO ar.series (id, entity_id, code, kind, pattern) VALUES
	(4, 3, 'L', 'invoice', '{YYYY}-{N:4}'),
	(5, 4, 'D', 'invoice', '{N}');
INSERT INTO ar.customer (id, entity_id, customer_no, name, country, currency) VALUES
	(5, 3, 'A', 'Asiakas Oy', 'FI', 'EUR'),
	(6, 4, 'B', 'Kunde ApS', 'DK', 'DKK');
CREATE TEMP TABLE e34 AS
SELECT e, k, (SELECT max(id) FROM ar.invoice) + (e - 3) * 10 + k AS id
  FROM generate_series(3, 4) e, generate_series(1, 9) k;
INSERT INTO ar.invoice (id, entity_id, customer_id, currency, issue_date)
SELECT id, e, e + 2, CASE e WHEN 3 THEN 'EUR' ELSE 'DKK' END, '2026-10-01' FROM e34 ORDER BY id;
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_category, vat_rate)
SELECT id, 1, 'Palvelu', 1, e * 100 + k, 'Z', 0 FROM e34;
SELECT count(*) AS issued FROM ar.issue(ARRAY(SELECT id FROM e34 ORDER BY id));
CREATE TEMP TABLE r34 AS
SELECT i.entity_id AS e, t.k, i.payment_reference AS ref, i.total
  FROM e34 t JOIN ar.invoice i ON i.id = t.id;
SELECT e, k, ref, total FROM r34 WHERE k IN (1, 2) ORDER BY e, k;
INSERT INTO ar.payer_account (entity_id, payer_account, customer_id) VALUES
	(3, 'FI2112345600000785', 5);
-- 201: invoice 3/1's reference wrapped in RF: paid by rule a
-- 202: 3/2's padded with zeros to 20 digits, as Finnish banks give it: paid
-- 200: 3/9's with three zeros in front: not taken for a reference (001232
--      may be an invoice number), so it names nothing
-- 203: 3/3's in RF, lower case, in groups: paid
-- 204: 3/4's padded and wrapped in RF: paid
-- 205: 3/5's padded, with a wrong check digit: the corrected reference is
--      a suggestion, as for one written without zeros
-- 206: no reference field; the text gives 3/6's in RF: rule b
-- 207: a valid RF reference whose inner part is no Finnish reference: it
--      names nothing
-- 208: the known payer with the amount of 3/7, but the text names 3/1 (paid
--      by 201) in RF: not applied by the payer rule
-- 211: invoice 4/1's FIK id without its zeros: not padded (18 could as
--      well be invoice number 18), so it names nothing
-- 212: 4/2's FIK id without its zeros, in the text: the same
INSERT INTO ar.payment (id, entity_id, bank_ref, booking_date, amount, reference, remittance, payer_account)
SELECT v.id, v.e, 'F-' || v.id, '2026-11-22', r.total, v.ref, v.txt, v.acct
  FROM (VALUES
	(200, 3, 9, (SELECT '000' || ref FROM r34 WHERE e = 3 AND k = 9), NULL, NULL),
	(201, 3, 1, (SELECT ar.payment_reference('rf', ref) FROM r34 WHERE e = 3 AND k = 1), NULL, NULL),
	(202, 3, 2, (SELECT lpad(ref, 20, '0') FROM r34 WHERE e = 3 AND k = 2), NULL, NULL),
	(203, 3, 3, (SELECT lower(regexp_replace(ar.payment_reference('rf', ref), '(....)', '\1 ', 'g'))
				   FROM r34 WHERE e = 3 AND k = 3), NULL, NULL),
	(204, 3, 4, (SELECT ar.payment_reference('rf', lpad(ref, 18, '0')) FROM r34 WHERE e = 3 AND k = 4), NULL, NULL),
	(205, 3, 5, (SELECT lpad(left(ref, -1) || (right(ref, 1)::integer + 1) % 10, 20, '0')
				   FROM r34 WHERE e = 3 AND k = 5), NULL, NULL),
	(206, 3, 6, NULL, (SELECT 'Lasku ' || ar.payment_reference('rf', ref) || '.' FROM r34 WHERE e = 3 AND k = 6),
	 NULL),
	(207, 3, 8, ar.payment_reference('rf', 'ABC1'), NULL, NULL),
	(208, 3, 7, NULL, (SELECT 'Viite ' || ar.payment_reference('rf', ref) FROM r34 WHERE e = 3 AND k = 1),
	 'FI2112345600000785'),
	(211, 4, 1, (SELECT ltrim(ref, '0') FROM r34 WHERE e = 4 AND k = 1), NULL, NULL),
	(212, 4, 2, NULL, (SELECT 'FIK ' || ltrim(ref, '0') FROM r34 WHERE e = 4 AND k = 2), NULL)
  ) AS v (id, e, k, ref, txt, acct)
  JOIN r34 r ON r.e = v.e AND r.k = v.k;
SELECT id, reference, remittance FROM ar.payment WHERE id >= 200 ORDER BY id;
SELECT * FROM ar.match_payments(3) WHERE payments > 0;
SELECT * FROM ar.match_payments(4) WHERE payments > 0;
SELECT p.id, p.status, p.unallocated, i.number, a.amount, a.rule, a.confidence
  FROM ar.payment p
  LEFT JOIN ar.allocation a ON a.payment_id = p.id
  LEFT JOIN ar.invoice i ON i.id = a.invoice_id
 WHERE p.id >= 200 ORDER BY p.id, i.total;
SELECT s.payment_id, i.number, s.score, s.rule
  FROM ar.match_suggestion s JOIN ar.invoice i ON i.id = s.invoice_id
 WHERE s.payment_id >= 200
 ORDER BY s.payment_id, s.score DESC, i.total;
-- 209, in a later run: the known payer with the amount of 3/9, the text
--      names 3/2 (paid by 202 in the run before) padded with zeros: not
--      applied by the payer rule either
INSERT INTO ar.payment (id, entity_id, bank_ref, booking_date, amount, remittance, payer_account)
SELECT 209, 3, 'F-209', '2026-11-23', (SELECT total FROM r34 WHERE e = 3 AND k = 9),
	   'Maksu ' || lpad(ref, 20, '0'), 'FI2112345600000785'
  FROM r34 WHERE e = 3 AND k = 2;
SELECT * FROM ar.match_payments(3) WHERE payments > 0;
-- 210: the known payer with the amount of 3/8, and a text that names F-00003,
--      an invoice of entity 1 (money for a sister company): not applied by
--      the payer rule
INSERT INTO ar.payment (id, entity_id, bank_ref, booking_date, amount, remittance, payer_account)
SELECT 210, 3, 'F-210', '2026-11-23', total, 'Invoice F-00003', 'FI2112345600000785'
  FROM r34 WHERE e = 3 AND k = 8;
SELECT * FROM ar.match_payments(3) WHERE payments > 0;
SELECT p.id, p.status, p.remittance, i.number, s.score, s.rule
  FROM ar.payment p
  LEFT JOIN ar.match_suggestion s ON s.payment_id = p.id
  LEFT JOIN ar.invoice i ON i.id = s.invoice_id
 WHERE p.id IN (209, 210) ORDER BY p.id;

-- Entity 5 gave RF references (invoice L1: the RF of 1000711), then changed
-- to Finnish ones (invoice M1: 1000711).  A reference is looked up as
-- written before its normal form:
-- 221: L1's reference and amount: L1, not M1
-- 222: L1's reference as written again, now that L1 is paid, with M1's
--      amount: a second payment of L1, so not applied to M1
INSERT INTO ar.entity (id, code, name, country, vat_id, currency, reference_scheme) VALUES
	(5, 'FI5', 'Etelä Oy', 'FI', 'FI12345672', 'EUR', 'rf');
INSERT INTO ar.series (id, entity_id, code, kind, pattern, reference_prefix) VALUES
	(6, 5, 'L', 'invoice', 'L{N}', '100071');
INSERT INTO ar.customer (id, entity_id, customer_no, name, country, currency) VALUES
	(7, 5, 'A', 'Asiakas Oy', 'FI', 'EUR');
INSERT INTO ar.invoice (id, entity_id, customer_id, currency, issue_date)
SELECT max(id) + 1, 5, 7, 'EUR', '2026-10-01' FROM ar.invoice;
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_category, vat_rate)
SELECT max(id), 1, 'Palvelu', 1, 501, 'Z', 0 FROM ar.invoice;
SELECT count(*) AS issued FROM ar.issue(ARRAY(SELECT max(id) FROM ar.invoice));
UPDATE ar.entity SET reference_scheme = 'fi' WHERE id = 5;
UPDATE ar.series SET is_default = false WHERE id = 6;
INSERT INTO ar.series (id, entity_id, code, kind, pattern, reference_prefix) VALUES
	(7, 5, 'M', 'invoice', 'M{N}', '10007');
INSERT INTO ar.invoice (id, entity_id, customer_id, currency, issue_date)
SELECT max(id) + 1, 5, 7, 'EUR', '2026-11-01' FROM ar.invoice;
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_category, vat_rate)
SELECT max(id), 1, 'Palvelu', 1, 502, 'Z', 0 FROM ar.invoice;
SELECT count(*) AS issued FROM ar.issue(ARRAY(SELECT max(id) FROM ar.invoice));
SELECT number, payment_reference, total FROM ar.invoice WHERE entity_id = 5 ORDER BY id;
INSERT INTO ar.payment (id, entity_id, bank_ref, booking_date, amount, reference)
SELECT 221, 5, 'F-221', '2026-11-23', total, payment_reference FROM ar.invoice WHERE number = 'L1';
SELECT * FROM ar.match_payments(5) WHERE payments > 0;
INSERT INTO ar.payment (id, entity_id, bank_ref, booking_date, amount, reference)
SELECT 222, 5, 'F-222', '2026-11-23', (SELECT total FROM ar.invoice WHERE number = 'M1'), payment_reference
  FROM ar.invoice WHERE number = 'L1';
SELECT * FROM ar.match_payments(5) WHERE payments > 0;
SELECT p.id, p.reference, p.status, p.unallocated, i.number, a.amount, a.rule
  FROM ar.payment p
  LEFT JOIN ar.allocation a ON a.payment_id = p.id
  LEFT JOIN ar.invoice i ON i.id = a.invoice_id
 WHERE p.id > 220 ORDER BY p.id;
SELECT s.payment_id, i.number, s.score, s.rule
  FROM ar.match_suggestion s JOIN ar.invoice i ON i.id = s.invoice_id
 WHERE s.payment_id > 220 ORDER BY s.payment_id, i.number;

-- every invoice's open amount is its total less what is allocated to it,
-- and every payment's unallocated amount its amount less its allocations
SELECT i.number FROM ar.invoice i
 WHERE i.kind = 'invoice'
   AND i.open_amount <> i.total - coalesce((SELECT ar.sum(a.amount) FROM ar.allocation a
											  WHERE a.invoice_id = i.id AND a.reversed_at IS NULL),
											 ar.amount(0, i.currency));
SELECT p.id FROM ar.payment p
 WHERE p.unallocated <> p.amount - coalesce((SELECT ar.sum(a.amount) FROM ar.allocation a
											   WHERE a.payment_id = p.id AND a.reversed_at IS NULL),
											  ar.amount(0, ar.currency_of(p.amount)));
