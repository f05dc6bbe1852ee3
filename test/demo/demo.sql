-- test/demo/demo.sql: the ar walk-through on generated data.
\pset border 2
\pset null '∅'
SELECT setseed(0.42) \gset

\echo
\echo '================================================================'
\echo ' ar demo: accounts receivable inside PostgreSQL'
\echo '================================================================'

\echo
\echo '1. Money with currency: ar.amount is exact (int64 minor units + ISO 4217)'
SELECT '1234.5 SEK'::ar.amount AS "1234.5 SEK", 'NOK 99'::ar.amount AS "NOK 99",
       '-5 JPY'::ar.amount AS "-5 JPY", '0.125 KWD'::ar.amount AS "0.125 KWD",
       '0.1 EUR'::ar.amount + '0.2 EUR' AS "0.1 + 0.2 EUR";

\echo
\echo '   Line amounts rounded half away from zero, VAT at 25 / 12 / 6 %'
SELECT q AS quantity, p AS unit_price, ar.round_amount(q * p, 'SEK') AS net,
       r AS vat_pct, ar.round_amount(q * p, 'SEK') * (r / 100.0) AS vat
  FROM (VALUES (3, 19.99, 25), (7, 0.125, 12), (1, 1005.005, 6), (2, 12.345, 25)) v(q, p, r);

\echo
\echo '   10 000 generated invoice totals per currency: sum, min, max (exact)'
CREATE TEMP TABLE demo_invoice AS
SELECT g AS id, c AS currency,
       ar.amount_of_minor((100000 + floor(random() * 5000000))::bigint, c) AS total
  FROM generate_series(1, 10000) g,
       LATERAL (SELECT (ARRAY['SEK', 'NOK', 'DKK', 'EUR'])[1 + g % 4] AS c) cur;
SELECT currency, count(*) AS invoices, sum(total) AS total, min(total) AS smallest,
       max(total) AS largest
  FROM demo_invoice GROUP BY currency ORDER BY currency;

\echo
\echo '   Mixing currencies is refused, naming both:'
DO $$
BEGIN
	PERFORM '100 SEK'::ar.amount + '100 EUR'::ar.amount;
EXCEPTION WHEN others THEN
	RAISE NOTICE 'refused: %', SQLERRM;
END $$;

\echo
\echo '   Conversion at the dated rate (ar.fx_rate)'
INSERT INTO ar.fx_rate (from_currency, to_currency, valid_on, rate, source) VALUES
	('EUR', 'SEK', '2026-10-01', 11.0215, 'demo'),
	('EUR', 'SEK', '2026-11-01', 10.9870, 'demo'),
	('NOK', 'SEK', '2026-11-01', 0.9412, 'demo');
SELECT a AS amount, d AS on_date, ar.convert(a, 'SEK', d) AS in_sek
  FROM (VALUES ('1500.00 EUR'::ar.amount, '2026-10-15'::date),
               ('1500.00 EUR', '2026-11-20'), ('2499.90 NOK', '2026-11-20')) v(a, d);

\echo
\echo '2. Payment references built from invoice numbers, and checked'
SELECT n AS invoice_no,
       ar.payment_reference('ocr', n::text) AS "SE ocr",
       ar.payment_reference('ocr_len', n::text) AS "SE ocr_len",
       ar.payment_reference('kid10', n::text) AS "NO kid10",
       ar.payment_reference('kid11', n::text) AS "NO kid11",
       ar.payment_reference('fi', n::text) AS "FI viite",
       ar.payment_reference('rf', n::text) AS "RF",
       ar.payment_reference('fik', n::text) AS "DK fik"
  FROM (VALUES (202600001), (202600002), (202600417)) v(n);

\echo
\echo '   A typo in a reference is caught by its check digit'
SELECT ref, note, ar.reference_valid('ocr', ref) AS valid
  FROM (VALUES ('2026000014', 'as issued'), ('2026000015', 'last digit mistyped'),
               ('2026000104', 'two digits swapped'), ('202600001', 'check digit left out')) v(ref, note);

\echo
\echo '   IBANs (ISO 13616: country length + MOD 97-10)'
SELECT iban, ar.iban_valid(iban) AS valid
  FROM (VALUES ('SE45 5000 0000 0583 9825 7466'), ('NO93 8601 1117 947'),
               ('DK50 0040 0440 1162 43'), ('FI21 1234 5600 0007 85'),
               ('SE45 5000 0000 0583 9825 7467')) v(iban);

\echo
\echo '3. Invoice status: the transition rule'
SELECT f AS "from", string_agg(t::text, ', ' ORDER BY t) AS "may become"
  FROM unnest(enum_range(NULL::ar.invoice_status)) f,
       unnest(enum_range(NULL::ar.invoice_status)) t
 WHERE ar.status_transition_allowed(f, t)
 GROUP BY f ORDER BY f;
DO $$
BEGIN
	PERFORM ar.check_status_transition('paid', 'draft');
EXCEPTION WHEN others THEN
	RAISE NOTICE 'refused: %', SQLERRM;
END $$;

\echo
\echo '4. Orders become invoices: an ERP writes 2 000 orders and marks them delivered'
INSERT INTO ar.entity (code, name, country, vat_id, company_id, currency, street, city, postal_code,
                       iban, bic, bankgiro, peppol_scheme, peppol_id, reference_scheme)
VALUES ('NV', 'Nordvind AB', 'SE', 'SE556677889901', '5566778899', 'SEK', 'Storgatan 1', 'Stockholm',
        '11122', 'SE4550000000058398257466', 'ESSESESS', '5050-1055', '0007', '5566778899', 'ocr');
INSERT INTO ar.series (entity_id, code, kind, pattern, reset)
SELECT e.id, v.code, v.kind, v.pattern, 'yearly'
  FROM ar.entity e, (VALUES ('INV', 'invoice', 'INV-{YYYY}-{N:6}'),
                            ('CN', 'credit_note', 'CN-{YYYY}-{N:5}')) v(code, kind, pattern)
 WHERE e.code = 'NV';
INSERT INTO ar.customer (entity_id, customer_no, name, country, vat_id, currency,
                         payment_terms_days, credit_limit, segment, auto_issue)
SELECT e.id, 'K' || lpad(g::text, 4, '0'),
       (ARRAY['Berg', 'Lund', 'Ek', 'Holm', 'Strand', 'Dal'])[1 + g % 6] || ' '
       || (ARRAY['Bygg', 'Data', 'Konsult', 'Handel', 'Transport'])[1 + g % 5] || ' AB',
       'SE', 'SE' || (5560000000 + g * 7) || '01', 'SEK',
       (ARRAY[10, 15, 30, 30, 30, 45])[1 + g % 6], ar.amount(500000, 'SEK'),
       CASE WHEN g % 25 = 0 THEN 'key' ELSE 'standard' END, g % 10 = 0
  FROM ar.entity e, generate_series(1, 200) g WHERE e.code = 'NV';
-- every fifth customer takes e-invoices over Peppol: a Swedish org. no.
-- (Luhn) as company id, endpoint 0007 and VAT id, and a postal address
UPDATE ar.customer c
   SET company_id = o.orgno, vat_id = 'SE' || o.orgno || '01', peppol_scheme = '0007',
       peppol_id = o.orgno, channel = 'peppol', street = 'Industrivägen ' || o.n,
       city = (ARRAY['Göteborg', 'Malmö', 'Uppsala', 'Västerås'])[1 + o.n % 4],
       postal_code = (40000 + o.n * 7)::text
  FROM (SELECT id, substring(customer_no FROM 2)::int AS n,
               ar.payment_reference('ocr', (556100000 + substring(customer_no FROM 2)::int)::text) AS orgno
          FROM ar.customer) o
 WHERE o.id = c.id AND o.n % 5 = 0;
INSERT INTO ar.sales_order (entity_id, customer_id, order_no, currency, buyer_reference)
SELECT c.entity_id, c.id, 'SO-' || lpad(g::text, 6, '0'), 'SEK', 'Ref ' || (g % 97)
  FROM generate_series(1, 2000) g
  JOIN ar.customer c ON c.customer_no = 'K' || lpad((1 + g % 200)::text, 4, '0');
INSERT INTO ar.sales_order_line (order_id, line_no, item_name, quantity, unit_price, vat_category, vat_rate)
SELECT o.id, l,
       (ARRAY['Konsulttimme', 'Licens', 'Frakt', 'Bok', 'Livsmedel'])[1 + (o.id + l) % 5],
       1 + (o.id * l) % 12,
       round((50 + random() * 2000)::numeric, 2),
       'S', (ARRAY[25, 25, 25, 6, 12])[1 + (o.id + l) % 5]
  FROM ar.sales_order o, generate_series(1, 3) l;
UPDATE ar.sales_order SET status = 'delivered';
SELECT count(*) FILTER (WHERE i.status = 'draft') AS drafts,
       count(*) FILTER (WHERE i.status = 'issued') AS "issued at once (auto_issue)"
  FROM ar.sales_order o JOIN ar.invoice i ON i.id = o.invoice_id;

\echo
\echo '   The drafts are issued in one set-based call: gapless numbers in id order'
SELECT count(*) AS issued, min(number) AS first, max(number) AS last
  FROM ar.issue(ARRAY(SELECT id FROM ar.invoice WHERE status = 'draft' ORDER BY id));
SELECT number, issue_date, due_date, net_total, tax_total, total, payment_reference
  FROM ar.invoice WHERE kind = 'invoice' ORDER BY id LIMIT 5;
SELECT vat_rate AS "VAT %", count(DISTINCT invoice_id) AS invoices, sum(taxable_amount) AS base,
       sum(tax_amount) AS vat
  FROM ar.invoice_tax GROUP BY vat_rate ORDER BY vat_rate;

\echo
\echo '   A returned delivery is credited in full; the series stay sound'
SELECT ar.credit(min(i.id), 'Returned goods') AS cn_id
  FROM ar.invoice i JOIN ar.customer c ON c.id = i.customer_id
 WHERE i.status = 'issued' AND c.channel = 'peppol' \gset
SELECT cn.number AS credit_note, i.number AS credits, i.status AS invoice_status, cn.total,
       i.open_amount AS invoice_open
  FROM ar.invoice cn JOIN ar.invoice i ON i.id = cn.credited_invoice_id WHERE cn.id = :cn_id;
SELECT s.code AS series, count(i.id) AS documents,
       coalesce((SELECT string_agg(v.problem, ', ') FROM ar.verify_series(s.id) v), 'sound') AS verify_series
  FROM ar.series s LEFT JOIN ar.invoice i ON i.series_id = s.id
 GROUP BY s.id, s.code ORDER BY s.code;
SELECT channel, kind, count(*) AS queued FROM ar.outbox GROUP BY channel, kind ORDER BY 1, 2;


\echo
\echo '   Each document is queued for its customer''s channel: Peppol UBL or a readable text'
SELECT channel, count(*) AS documents, min(length(payload)) AS min_bytes, max(length(payload)) AS max_bytes
  FROM ar.outbox GROUP BY channel ORDER BY channel;
\echo '   One Peppol invoice, as queued and as generated again (byte-identical):'
SELECT o.invoice_id, length(o.payload) AS bytes, ar.invoice_ubl(o.invoice_id)::text = o.payload AS same_as_queued
  FROM ar.outbox o WHERE o.channel = 'peppol' ORDER BY o.id LIMIT 1;
\echo '   Its first elements (ar.invoice_ubl):'
\pset format unaligned
\pset tuples_only on
SELECT regexp_replace(left(ar.invoice_ubl(o.invoice_id)::text, 1500), '><', E'>\n<', 'g') || E'\n...'
  FROM ar.outbox o WHERE o.channel = 'peppol' ORDER BY o.id LIMIT 1;
\pset tuples_only off
\pset format aligned
\echo '   An invoice for a customer on e-mail (ar.invoice_text):'
SELECT ar.invoice_text(min(o.invoice_id)) AS text FROM ar.outbox o WHERE o.channel = 'email' AND o.kind = 'invoice';

\echo
\echo '5. The bank sends a camt.053 statement: payments for most invoices, some partial,'
\echo '   some with a mistyped reference or only the invoice number in the text, and noise'
\set camt_entity NV
\ir camt053.sql
\echo '   The same file again adds nothing:'
SELECT ar.import_camt(:'camt053_doc') AS payments_imported_again;


\echo
\echo '   The matcher goes once through every unmatched payment (set-based, in C):'
SELECT * FROM ar.match_payments();
\echo '   What it applied, per rule, and what it left for a person:'
SELECT a.rule, count(*) AS allocations, min(a.confidence) AS confidence, sum(a.amount) AS amount
  FROM ar.allocation a WHERE a.payment_id IS NOT NULL OR a.rule = 'write_off'
 GROUP BY a.rule ORDER BY count(*) DESC;
SELECT s.rule, count(*) AS suggestions, round(avg(s.score), 2) AS avg_score
  FROM ar.match_suggestion s GROUP BY s.rule ORDER BY 1;
SELECT i.status, count(*) AS invoices, sum(i.open_amount) AS open
  FROM ar.invoice i WHERE i.kind = 'invoice' GROUP BY i.status ORDER BY 1;
\echo '   A person confirms one suggestion with ar.allocate:'
SELECT p.bank_ref, p.amount, p.remittance, i.number, i.open_amount, s.score, s.rule,
       ar.allocate(s.payment_id, s.invoice_id) AS allocation_id
  FROM (SELECT x.* FROM ar.match_suggestion x
          JOIN ar.payment p ON p.id = x.payment_id JOIN ar.invoice i ON i.id = x.invoice_id
         WHERE p.unallocated = i.open_amount ORDER BY x.score DESC, x.payment_id LIMIT 1) s
  JOIN ar.payment p ON p.id = s.payment_id JOIN ar.invoice i ON i.id = s.invoice_id;
\echo '   Interest from the bank and a tax refund are no customer''s payments: a person sets'
\echo '   them aside with a reason, and the matcher no longer examines them on every run:'
SELECT p.bank_ref, p.amount, p.transaction_code, p.payer_name, p.remittance,
       ar.set_aside(p.id, 'not a customer payment') AS status
  FROM ar.payment p
 WHERE p.kind = 'credit' AND p.status = 'unmatched' AND ar.currency_of(p.amount) = 'SEK'
 ORDER BY p.id;
SELECT p.status, count(*) AS payments, sum(p.unallocated) AS unallocated
  FROM ar.payment p WHERE p.kind = 'credit' AND ar.currency_of(p.amount) = 'SEK'
 GROUP BY p.status ORDER BY 1;

\echo
\echo '6. Dunning: 120 older invoices (a series of their own, issued 40 to 100 days ago) are unpaid'
INSERT INTO ar.series (entity_id, code, kind, pattern, reset, is_default)
SELECT e.id, 'OLD', 'invoice', 'OLD-{YYYY}-{N:5}', 'yearly', false FROM ar.entity e WHERE e.code = 'NV';
INSERT INTO ar.dunning_policy (entity_id, name, is_default)
SELECT e.id, 'standard', true FROM ar.entity e WHERE e.code = 'NV';
INSERT INTO ar.dunning_level (policy_id, level, days_after_due, action, fee, charge_interest, deadline_days)
SELECT p.id, v.* FROM ar.dunning_policy p,
       (VALUES (1, 7, 'reminder', '60.00 SEK'::ar.amount, true, 10),
               (2, 21, 'reminder', '60.00 SEK', true, 10),
               (3, 35, 'collection_notice', '180.00 SEK', true, 3)) v
 WHERE p.name = 'standard';
-- two customers in three agreed to reminder fees in their contract (Sweden
-- allows a fee only when agreed before the debt arose)
UPDATE ar.customer SET fee_agreed_on = current_date - 400
 WHERE substring(customer_no FROM 2)::int % 3 <> 0;
INSERT INTO ar.invoice (entity_id, customer_id, series_id, currency, issue_date, due_date, buyer_reference)
SELECT c.entity_id, c.id, s.id, 'SEK', current_date - 100 + g / 2, current_date - 100 + g / 2 + 30, 'Avtal ' || g
  FROM generate_series(1, 120) g
  JOIN ar.customer c ON c.customer_no = 'K' || lpad((1 + g * 7 % 200)::text, 4, '0')
  JOIN ar.series s ON s.code = 'OLD' AND s.entity_id = c.entity_id
 ORDER BY g;
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_category, vat_rate)
SELECT i.id, 1, 'Serviceavtal', 1, 1000 + i.id % 50 * 100, 'S', 25
  FROM ar.invoice i JOIN ar.series s ON s.id = i.series_id WHERE s.code = 'OLD';
SELECT count(*) AS issued, min(number) AS first, max(number) AS last
  FROM ar.issue(ARRAY(SELECT i.id FROM ar.invoice i JOIN ar.series s ON s.id = i.series_id
                       WHERE s.code = 'OLD' AND i.status = 'draft' ORDER BY i.id));
\echo '   One customer disputes an invoice: an open dispute stops its dunning'
INSERT INTO ar.dispute (invoice_id, reason)
SELECT min(i.id), 'The service was not delivered' FROM ar.invoice i JOIN ar.series s ON s.id = i.series_id
 WHERE s.code = 'OLD';
\echo '   Dunning runs 30 and 15 days ago and today (one level per run, after the last deadline):'
SELECT 'today - 30' AS run, d.* FROM ar.run_dunning(current_date - 30) d
UNION ALL SELECT 'today - 15', d.* FROM ar.run_dunning(current_date - 15) d
UNION ALL SELECT 'today', d.* FROM ar.run_dunning() d;
\echo '   Running it again today changes nothing:'
SELECT count(*) AS letters_from_a_second_run FROM ar.run_dunning();
\echo '   Letters per level: fees within the legal cap (60 SEK; only where agreed), daily late interest'
SELECT l.level, l.action, count(*) AS letters, sum(l.open_total) AS open, sum(l.fee) AS fees,
       sum(l.interest) AS interest, count(*) FILTER (WHERE ar.minor_units(l.fee) > 0) AS with_fee
  FROM ar.dunning_letter l GROUP BY l.level, l.action ORDER BY 1, 2;
\echo '   One reminder as queued in ar.outbox:'
SELECT o.payload FROM ar.outbox o JOIN ar.dunning_letter l ON l.outbox_id = o.id
 WHERE l.action = 'reminder' AND ar.minor_units(l.fee) > 0 ORDER BY l.id LIMIT 1;
\echo '   The dispute is accepted: the invoice is credited and leaves dunning'
UPDATE ar.dispute SET status = 'accepted' WHERE status = 'open';
SELECT d.status, i.number, i.status AS invoice_status, c.number AS credit_note, c.total
  FROM ar.dispute d JOIN ar.invoice i ON i.id = d.invoice_id JOIN ar.invoice c ON c.id = d.credit_note_id;

\echo
\echo '7. KPIs (ar.refresh_kpis: materialized views, refreshed without blocking readers)'
SELECT ar.refresh_kpis();
\echo '   The same refresh is a job (ar.job): the background worker runs it every hour; by hand:'
SELECT name, schedule, time_zone, enabled, run_as FROM ar.job ORDER BY name;
SELECT job_name, run_by, status FROM ar.run_job('refresh_kpis');
\echo '   Aging today (ar.kpi_aging), by days past due:'
SELECT currency, count(*) AS customers, sum(current) AS current, sum(d1_30) AS "1-30", sum(d31_60) AS "31-60",
       sum(d61_90) AS "61-90", sum(d90_plus) AS "90+", sum(total) AS total
  FROM ar.kpi_aging GROUP BY currency ORDER BY currency;
\echo '   The customers with the most past due:'
SELECT c.customer_no, c.name, k.total, k.total - k.current AS past_due, k.d90_plus AS "90+"
  FROM ar.kpi_aging k JOIN ar.customer c ON c.id = k.customer_id
 ORDER BY k.total - k.current DESC, c.customer_no LIMIT 5;
\echo '   Aging 30 days ago (ar.aging), as the books stood that day (the credit note since does not count):'
SELECT as_of, sum(current) AS current, sum(d1_30) AS "1-30", sum(d31_60) AS "31-60", sum(d61_90) AS "61-90",
       sum(d90_plus) AS "90+", sum(total) AS total
  FROM ar.aging(current_date - 30) GROUP BY as_of;
\echo '   Monthly (ar.kpi_monthly): DSO, countback DSO, best possible DSO, ADD, CEI, days to pay'
SELECT to_char(month, 'YYYY-MM') AS month, credit_sales, ending_ar, dso, countback_dso AS countback,
       best_possible_dso AS best, add, cei, avg_days_to_pay AS days_to_pay, pct_current AS "% current"
  FROM ar.kpi_monthly WHERE currency = 'SEK' ORDER BY month DESC LIMIT 4;

\echo
\echo '8. The audit trail: every change to documents and money, sha256-chained per transaction'
SELECT table_name, op, count(*) AS rows FROM ar.audit GROUP BY table_name, op ORDER BY 1, 2;
SELECT count(*) AS seals, max(seq) AS head, sum(row_count) AS sealed_rows,
       coalesce((SELECT problem FROM ar.verify_audit()), 'intact') AS verify_audit
  FROM ar.audit_seal;
\echo '   Someone edits an audited amount behind the triggers (rolled back afterwards):'
BEGIN;
ALTER TABLE ar.audit DISABLE TRIGGER audit_append_only;
UPDATE ar.audit SET data = jsonb_set(data, '{total}', '"1.00 SEK"')
 WHERE id = (SELECT min(id) FROM ar.audit WHERE table_name = 'invoice' AND op = 'UPDATE');
SELECT * FROM ar.verify_audit();
ROLLBACK;
\echo '   ... or marks an open invoice paid with the triggers off (rolled back afterwards):'
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE ar.invoice SET open_amount = ar.amount(0, currency), status = 'paid'
 WHERE id = (SELECT min(id) FROM ar.invoice WHERE status IN ('issued', 'partially_paid'));
SELECT * FROM ar.verify_audit();
ROLLBACK;

\echo
\echo '9. Row-level security: a clerk of another entity sees none of Nordvind''s invoices'
INSERT INTO ar.entity (code, name, country, vat_id, currency, reference_scheme)
VALUES ('FJ', 'Fjellvind AS', 'NO', 'NO912345678MVA', 'NOK', 'kid10');
CREATE ROLE ar_demo_clerk_nv IN ROLE ar_clerk;
CREATE ROLE ar_demo_clerk_fj IN ROLE ar_clerk;
INSERT INTO ar.entity_access (role_name, entity_id)
SELECT 'ar_demo_clerk_' || lower(code), id FROM ar.entity;
SET ROLE ar_demo_clerk_nv;
SELECT current_user AS role, ar.my_entities() AS entities, count(*) AS invoices_seen FROM ar.invoice;
SET ROLE ar_demo_clerk_fj;
SELECT current_user AS role, ar.my_entities() AS entities, count(*) AS invoices_seen FROM ar.invoice;
RESET ROLE;
DELETE FROM ar.entity_access;
DROP ROLE ar_demo_clerk_nv, ar_demo_clerk_fj;

