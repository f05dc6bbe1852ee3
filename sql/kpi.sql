--
-- KPIs: the formulas with the worked examples of DOMAIN.md section 4, aging
-- on any past day, the monthly KPIs from real documents, the views by entity
--
DROP EXTENSION ar CASCADE;
CREATE EXTENSION ar;
SET search_path = public, ar;
\set SHOW_CONTEXT never
SET datestyle = ISO, YMD;

-- the worked examples: DSO 45, countback DSO 73.71, best possible DSO 12,
-- ADD 33, CEI 55.9 %
SELECT ar.dso(15000, 10000, 30) AS dso,
	   ar.countback_dso(212000, ARRAY[100000, 80000, 70000], ARRAY[30, 30, 30]) AS countback_dso,
	   ar.dso(4000, 10000, 30) AS best_possible_dso,
	   ar.dso(15000, 10000, 30) - ar.dso(4000, 10000, 30) AS add,
	   ar.cei(6200, 10890, 3, 6340, 3590) AS cei;
-- undefined: no sales, months that do not cover the receivables, nothing
-- to collect; receivables of nil count back to 0 days
SELECT ar.dso(100, 0, 30) AS no_sales, ar.countback_dso(500, ARRAY[100, 100], ARRAY[31, 30]) AS uncovered,
	   ar.cei(0, 0, 1, 0, 0) AS nothing, ar.countback_dso(0, '{}', '{}') AS nil;
-- a month without sales counts whole; the month the receivables run out in pro rata
SELECT ar.countback_dso(150, ARRAY[0, 100, 100], ARRAY[31, 30, 31]) AS skip_empty_month;
-- bad arguments
SELECT ar.countback_dso(100, ARRAY[100, 50], ARRAY[30]);
SELECT ar.countback_dso(100, ARRAY[50, 100], ARRAY[30, 0]);
SELECT ar.cei(1, 1, 0, 1, 1);
-- minor units as major units, at the currency's scale: exact beyond bigint
SELECT ar.major_units(12345, 'SEK') AS sek, ar.major_units(-5, 'EUR') AS eur, ar.major_units(7, 'JPY') AS jpy,
	   ar.major_units(1234567, 'KWD') AS kwd, ar.major_units(0, 'SEK') AS zero,
	   ar.major_units(123456789012345678901234567890, 'SEK') AS beyond_bigint;
SELECT ar.major_units(100, 'XYZ');
SELECT ar.major_units(100, 'XAU');

INSERT INTO ar.entity (id, code, name, country, vat_id, currency, iban, reference_scheme, time_zone) VALUES
	(1, 'SE1', 'Nordvind AB', 'SE', 'SE556677889901', 'SEK', 'SE4550000000058398257466', 'ocr', 'Europe/Stockholm'),
	(2, 'FI1', 'Tuuli Oy', 'FI', 'FI12345671', 'EUR', 'FI2112345600000785', 'rf', 'Europe/Helsinki');
INSERT INTO ar.series (entity_id, code, kind, pattern) VALUES
	(1, 'F', 'invoice', 'F{N:5}'), (1, 'K', 'credit_note', 'K{N:5}'), (2, 'F', 'invoice', 'T{N:5}');
INSERT INTO ar.customer (id, entity_id, customer_no, name, country, currency) VALUES
	(1, 1, 'C1', 'Alfa AB', 'SE', 'SEK'), (2, 1, 'C2', 'Beta AB', 'SE', 'SEK'),
	(3, 1, 'C3', 'Gamma AB', 'SE', 'SEK'), (4, 1, 'C4', 'Euro AB', 'SE', 'EUR'),
	(11, 2, 'K1', 'Asiakas Oy', 'FI', 'EUR');
INSERT INTO ar.fx_rate (from_currency, to_currency, valid_on, rate) VALUES ('EUR', 'SEK', '2026-01-01', 11.10);
-- entity 1, the DSO example for September 2026 (30 days): A 7 000.00 from
-- August, due 9 September; B 6 000.00 and C 4 000.00 sold in September,
-- B due 20 September and paid 2 000.00 on the 15th, C not due until
-- 25 October.  At the end of September: receivables 15 000.00, of them
-- current 4 000.00 (C), sales 10 000.00.  D, in euro, is aged on its own.
INSERT INTO ar.invoice (id, entity_id, customer_id, currency, issue_date, due_date) VALUES
	(1, 1, 1, 'SEK', '2026-08-10', '2026-09-09'),
	(2, 1, 2, 'SEK', '2026-09-05', '2026-09-20'),
	(3, 1, 3, 'SEK', '2026-09-25', '2026-10-25'),
	(4, 1, 4, 'EUR', '2026-05-04', '2026-06-03');
-- entity 2, the days-to-pay example: five invoices all paid on 20 July
-- 2026, 18, 27, 15, 39 and 15 days after their dates, 1 200.00, 500.00,
-- 2 000.00, 300.00 and 1 000.00: weighted 18.36 days; due 10 days after
-- their dates, so 8.36 days beyond terms
INSERT INTO ar.invoice (id, entity_id, customer_id, currency, issue_date, due_date) VALUES
	(11, 2, 11, 'EUR', '2026-06-11', '2026-06-21'),
	(12, 2, 11, 'EUR', '2026-06-23', '2026-07-03'),
	(13, 2, 11, 'EUR', '2026-07-02', '2026-07-12'),
	(14, 2, 11, 'EUR', '2026-07-05', '2026-07-15'),
	(15, 2, 11, 'EUR', '2026-07-05', '2026-07-15');
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_category, vat_rate)
SELECT i.id, 1, 'Konsult', 1, v.price, 'Z', 0
  FROM ar.invoice i
  JOIN (VALUES (1, 7000), (2, 6000), (3, 4000), (4, 900), (11, 300), (12, 500), (13, 1200), (14, 2000), (15, 1000))
	   v(id, price) ON v.id = i.id;
SELECT ar.issue(4) IS NOT NULL AS issued_d;
SELECT count(*) FROM ar.issue(ARRAY[1, 2, 3, 11, 12, 13, 14, 15]);
SELECT setval(pg_get_serial_sequence('ar.invoice', 'id'), 100);
INSERT INTO ar.payment (id, entity_id, bank_ref, booking_date, amount) VALUES
	(1, 1, 'B-PART', '2026-09-15', '2000.00 SEK'),
	(11, 2, 'P11', '2026-07-20', '300.00 EUR'), (12, 2, 'P12', '2026-07-20', '500.00 EUR'),
	(13, 2, 'P13', '2026-07-20', '1200.00 EUR'), (14, 2, 'P14', '2026-07-20', '2000.00 EUR'),
	(15, 2, 'P15', '2026-07-20', '1000.00 EUR');
SELECT ar.allocate(1, 2) IS NOT NULL AS allocated;
SELECT count(ar.allocate(p, p)) FROM generate_series(11, 15) p;

-- aging on a day counts what was booked by then: the part payment of B
-- (booked 15 September) counts on the 30th, not on the 14th
SELECT * FROM ar.aging('2026-09-14', 1);
SELECT * FROM ar.aging('2026-09-30', 1);
-- later events do not change a past day: A paid in October, a credit note
-- of 1 000.00 on C on 10 October, and B's part payment undone today
INSERT INTO ar.payment (id, entity_id, bank_ref, booking_date, amount) VALUES
	(2, 1, 'A-FULL', '2026-10-05', '7000.00 SEK');
SELECT ar.allocate(2, 1) IS NOT NULL AS allocated;
SELECT ar.credit(3, 'Price reduction', '1000.00 SEK', '2026-10-10') IS NOT NULL AS credited;
SELECT ar.unallocate((SELECT id FROM ar.allocation WHERE payment_id = 1));
-- ... and that payment applied again today, to C: it counts from today, so
-- no past day counts its 2 000.00 twice (B's until today, C's from today)
SELECT ar.allocate(1, 3) IS NOT NULL AS reapplied;
SELECT a.invoice_id, a.units, a.applied_on = '2026-09-15' AS from_booking, a.applied_on = ar.today(1) AS from_today,
	   a.undone_on = ar.today(1) AS undone_today
  FROM ar.allocation_span a WHERE a.payment_id = 1 ORDER BY a.allocation_id;
SELECT * FROM ar.aging('2026-09-30', 1);
SELECT customer_id, currency, current, d1_30, total FROM ar.aging('2026-10-12', 1);
-- today: B is open again in full (its payment went to C); D is over 90
-- days past due; the open amounts agree with the invoices', and each lies
-- in the bucket of its days past due (the buckets move with the day the
-- test runs, so they are compared, not printed)
CREATE FUNCTION pg_temp.aging_by_hand(e integer)
RETURNS TABLE (customer_id bigint, currency text, current numeric, d1_30 numeric, d31_60 numeric,
			   d61_90 numeric, d90_plus numeric, total numeric) LANGUAGE sql AS $$
	SELECT i.customer_id, i.currency,
		   coalesce(sum(v.o) FILTER (WHERE v.late <= 0), 0),
		   coalesce(sum(v.o) FILTER (WHERE v.late BETWEEN 1 AND 30), 0),
		   coalesce(sum(v.o) FILTER (WHERE v.late BETWEEN 31 AND 60), 0),
		   coalesce(sum(v.o) FILTER (WHERE v.late BETWEEN 61 AND 90), 0),
		   coalesce(sum(v.o) FILTER (WHERE v.late > 90), 0), sum(v.o)
	  FROM ar.invoice i
	 CROSS JOIN LATERAL (SELECT ar.value_of(i.open_amount) AS o, ar.today(e) - i.due_date AS late) v
	 WHERE i.entity_id = e AND i.kind = 'invoice' AND i.status IN ('issued', 'partially_paid')
	 GROUP BY 1, 2
$$;
SELECT customer_id, currency, total, as_of = ar.today(1) AS today,
	   (current, d1_30, d31_60, d61_90, d90_plus) =
	   (SELECT h.current, h.d1_30, h.d31_60, h.d61_90, h.d90_plus FROM pg_temp.aging_by_hand(1) h
		 WHERE h.customer_id = a.customer_id AND h.currency = a.currency) AS buckets_agree
  FROM ar.aging(NULL, 1) a;
SELECT i.customer_id, ar.value_of(i.open_amount) = a.total AS agrees
  FROM ar.invoice i JOIN ar.aging(NULL, 1) a USING (customer_id)
 WHERE i.kind = 'invoice' ORDER BY 1;
-- every entity at once; nothing before the first invoice
SELECT entity_id, count(*), sum(total) FROM ar.aging('2026-09-30') GROUP BY 1 ORDER BY 1;
SELECT count(*) FROM ar.aging('2026-01-01');
-- bad calls
SELECT * FROM ar.aging('infinity');
SELECT * FROM ar.aging('2026-09-30', 99);
-- (the dates named, so the output is the same every day)
DO $$
BEGIN
	PERFORM ar.aging(ar.today(1) + 2, 1);
EXCEPTION WHEN invalid_parameter_value THEN
	RAISE NOTICE '%', replace(replace(SQLERRM, (ar.today(1) + 2)::text, '<today + 2>'), ar.today(1)::text, '<today>');
END
$$;

-- the stored KPIs: empty until refreshed
SELECT count(*) FROM ar.kpi_aging;
SELECT ar.refresh_kpis();
SELECT entity_id, customer_id, currency, total,
	   (current, d1_30, d31_60, d61_90, d90_plus) =
	   (SELECT h.current, h.d1_30, h.d31_60, h.d61_90, h.d90_plus FROM pg_temp.aging_by_hand(k.entity_id) h
		 WHERE h.customer_id = k.customer_id AND h.currency = k.currency) AS buckets_agree
  FROM ar.kpi_aging k ORDER BY 1, 2, 3;
-- the months: September is the DSO example (DSO 45, best possible 12,
-- ADD 33); countback: September's 10 000.00 of sales cover 30 days, the
-- remaining 5 000.00 are 5/7 of August's 31 days; CEI (7 000 + 10 000 -
-- 15 000) / (7 000 + 10 000 - 4 000); October: the credit note lowers the
-- sales, A's payment and the credit note the receivables
SELECT month, days, credit_sales, beginning_ar, ending_ar, ending_current_ar, dso, countback_dso,
	   best_possible_dso, add, cei, pct_current, avg_days_to_pay
  FROM ar.kpi_monthly
 WHERE entity_id = 1 AND currency = 'SEK' AND month BETWEEN '2026-08-01' AND '2026-10-01'
 ORDER BY month;
-- entity 2: July's payments, 18.36 days to pay and 8.36 beyond terms
SELECT month, credit_sales, ending_ar, avg_days_to_pay, avg_days_beyond_terms
  FROM ar.kpi_monthly WHERE entity_id = 2 AND month BETWEEN '2026-06-01' AND '2026-08-01' ORDER BY month;
-- a month per currency from the first document to the current month
SELECT entity_id, currency, min(month), max(month) = date_trunc('month', ar.today(entity_id))::date AS to_now,
	   count(*) = (SELECT count(*) FROM generate_series(min(month), max(month), interval '1 month')) AS every_month
  FROM ar.kpi_monthly GROUP BY 1, 2 ORDER BY 1, 2;

-- each role sees its entities' KPIs; the stored rows only through the views
CREATE ROLE kpi_reader_1 IN ROLE ar_reader;
INSERT INTO ar.entity_access VALUES ('kpi_reader_1', 1);
SET ROLE kpi_reader_1;
SELECT DISTINCT entity_id FROM ar.kpi_aging;
SELECT DISTINCT entity_id FROM ar.kpi_monthly;
SELECT DISTINCT entity_id FROM ar.aging('2026-09-30');
SELECT count(*) FROM ar.kpi_aging_mv;
SELECT ar.refresh_kpis();
RESET ROLE;
DROP OWNED BY kpi_reader_1;
DROP ROLE kpi_reader_1;
