-- test/demo/camt053.sql: a bank statement for the demo.
--
-- A psql fragment (no functions are created) that builds a realistic
-- camt.053.001.02 statement for one entity's IBAN, paying most of its open
-- invoices, and imports it with ar.import_camt.  Include it with \i after
-- invoices have been issued:
--
--     \set camt_entity NV          -- entity code; NV when not set
--     \i test/demo/camt053.sql
--
-- It leaves the document in the psql variable :camt053_doc (so that
-- SELECT ar.import_camt(:'camt053_doc') can be shown again: it adds 0).
-- Everything is derived from the invoices' ids, numbers and amounts, with
-- no randomness, so the same invoices give the same statement.  Of the open
-- invoices, in id order (n = 0, 1, 2, ...), by n % 10:
--
--   0-3  paid in full with the exact structured reference (Strd/CdtrRefInf,
--        SCOR), one entry each;
--   4    paid in full with the exact reference, but delivered as batch
--        entries (one "Bankgiro" entry per booking day, split on import);
--   5    paid in part (half the open amount) with the exact reference;
--   6    paid in full with a typo in the reference (last two digits
--        swapped, or the last digit changed when they are equal);
--   7    paid in full with the invoice number only in the free text (Ustrd);
--   8,9  not paid.
--
-- Booking dates spread from 3 days before to 5 days after each due date,
-- but never after today: a statement reports what has been booked.
-- Noise: rent and a bank fee (debits), interest and a tax refund (credits
-- without reference), a EUR payment naming an invoice, and the reversal of
-- one of the exact payments.  The entity needs an IBAN (ar.entity.iban).

\if :{?camt_entity}
\else
\set camt_entity NV
\endif

WITH ent AS (
	SELECT e.id, e.code, e.iban, e.currency FROM ar.entity e WHERE e.code = :'camt_entity'
), inv AS (
	SELECT i.id, i.number, i.payment_reference AS ref, i.due_date, i.open_amount, c.name AS payer,
		   (row_number() OVER (ORDER BY i.id) - 1)::int AS n
	  FROM ar.invoice i
	  JOIN ent ON ent.id = i.entity_id
	  JOIN ar.customer c ON c.id = i.customer_id
	 WHERE i.kind = 'invoice' AND i.status IN ('issued', 'partially_paid')
	   AND ar.minor_units(i.open_amount) > 0
), pay AS (
	-- one row per transaction: the customers' payments ...
	SELECT inv.n AS ord,
		   least(inv.due_date - 3 + inv.n % 9, current_date) AS booked,
		   CASE WHEN inv.n % 10 = 5 THEN inv.open_amount OPERATOR(ar./) 2 ELSE inv.open_amount END AS amount,
		   'CRDT' AS cdi, false AS rvsl, inv.n % 10 = 4 AS batch,
		   'RCDT' AS fmly, 'DMCT' AS subfmly,
		   inv.payer AS party,
		   CASE WHEN inv.n % 10 IN (0, 1, 2, 3, 4, 5) THEN inv.ref
				WHEN inv.n % 10 = 6 THEN
					CASE WHEN substr(inv.ref, length(inv.ref) - 1, 1) <> right(inv.ref, 1)
						 THEN left(inv.ref, -2) || right(inv.ref, 1) || substr(inv.ref, length(inv.ref) - 1, 1)
						 ELSE left(inv.ref, -1) || ((right(inv.ref, 1)::int + 1) % 10)::text END
		   END AS ref,
		   CASE WHEN inv.n % 10 = 7 THEN 'Betalning faktura ' || inv.number END AS ustrd,
		   'E2E-' || inv.number AS e2e
	  FROM inv WHERE inv.n % 10 < 8
	UNION ALL
	-- ... and the noise
	SELECT 1000000 + v.k, v.booked, v.amount, v.cdi, v.rvsl, false, v.fmly, v.subfmly, v.party, v.ref,
		   v.ustrd, v.e2e
	  FROM (SELECT min(inv.due_date) AS d0, max(inv.due_date) AS d1,
				   -- the first exact payment is reversed
				   (array_agg(inv.number ORDER BY inv.n) FILTER (WHERE inv.n % 10 = 0))[1] AS r_number,
				   (array_agg(inv.due_date ORDER BY inv.n) FILTER (WHERE inv.n % 10 = 0))[1] AS r_due,
				   (array_agg(inv.open_amount ORDER BY inv.n) FILTER (WHERE inv.n % 10 = 0))[1] AS r_amount,
				   (array_agg(inv.payer ORDER BY inv.n) FILTER (WHERE inv.n % 10 = 0))[1] AS r_payer,
				   (array_agg(inv.ref ORDER BY inv.n) FILTER (WHERE inv.n % 10 = 0))[1] AS r_ref,
				   -- an unpaid invoice is named by a payment in EUR
				   (array_agg(inv.number ORDER BY inv.n) FILTER (WHERE inv.n % 10 = 9))[1] AS eur_no
			  FROM inv) s,
		   ent,
		   LATERAL (VALUES
			(1, s.d0, ar.amount(25000, ent.currency), 'DBIT', false, 'ICDT', 'DMCT',
			 'Fastighets AB Kvarnen', NULL, 'Hyra ' || to_char(s.d0, 'YYYY-MM'), NULL),
			(2, s.d1, ar.amount(150, ent.currency), 'DBIT', false, 'CHRG', 'BRKF',
			 NULL, NULL, 'Kontoavgift', NULL),
			(3, s.d1, ar.amount(12.34, ent.currency), 'CRDT', false, 'INTR', 'INTR',
			 NULL, NULL, 'Ränta', NULL),
			(4, s.d0 + 5, ar.amount(4711, ent.currency), 'CRDT', false, 'RCDT', 'DMCT',
			 'Skatteverket', NULL, 'Skatteåterbäring', 'SKV-2026-4711'),
			(5, s.d0 + 7, '850.00 EUR'::ar.amount, 'CRDT', false, 'RCDT', 'XBCT',
			 'Nordic Trading GmbH', NULL, 'Invoice ' || s.eur_no, 'NTG-' || s.eur_no),
			(6, s.r_due + 4, s.r_amount, 'DBIT', true, 'RCDT', 'DMCT',
			 s.r_payer, s.r_ref, NULL, 'E2E-' || s.r_number)
		   ) v(k, booked, amount, cdi, rvsl, fmly, subfmly, party, ref, ustrd, e2e)
	 WHERE s.d0 IS NOT NULL AND (v.k <> 6 OR s.r_number IS NOT NULL)
), tx AS (
	-- each transaction as TxDtls; the batch ones carry their own amount
	SELECT p.*,
		   CASE WHEN p.batch THEN p.booked::text ELSE 'single-' || p.ord END AS entry_key,
		   xmlelement(name "TxDtls",
			   xmlelement(name "Refs",
				   CASE WHEN p.batch THEN xmlelement(name "AcctSvcrRef", 'DEMOB' || lpad(p.ord::text, 8, '0')) END,
				   xmlelement(name "EndToEndId", coalesce(p.e2e, 'NOTPROVIDED'))),
			   CASE WHEN p.batch THEN
				   xmlelement(name "AmtDtls", xmlelement(name "TxAmt",
					   xmlelement(name "Amt", xmlattributes(ar.currency_of(p.amount) AS "Ccy"),
								  ar.value_of(p.amount)))) END,
			   -- the other party: who paid in (also for the reversal of a payment),
			   -- or who was paid
			   CASE WHEN p.party IS NOT NULL AND (p.cdi = 'CRDT' OR p.rvsl) THEN
				   xmlelement(name "RltdPties", xmlelement(name "Dbtr", xmlelement(name "Nm", p.party)))
					WHEN p.party IS NOT NULL THEN
				   xmlelement(name "RltdPties", xmlelement(name "Cdtr", xmlelement(name "Nm", p.party))) END,
			   CASE WHEN p.ref IS NOT NULL OR p.ustrd IS NOT NULL THEN
				   xmlelement(name "RmtInf",
					   CASE WHEN p.ustrd IS NOT NULL THEN xmlelement(name "Ustrd", p.ustrd) END,
					   CASE WHEN p.ref IS NOT NULL THEN
						   xmlelement(name "Strd", xmlelement(name "CdtrRefInf",
							   xmlelement(name "Tp", xmlelement(name "CdOrPrtry", xmlelement(name "Cd", 'SCOR'))),
							   xmlelement(name "Ref", p.ref))) END) END
		   ) AS txdtls
	  FROM pay p
), entry AS (
	SELECT row_number() OVER (ORDER BY min(t.booked), min(t.ord)) AS no,
		   min(t.booked) AS booked, ar.sum(t.amount) AS amount, min(t.cdi) AS cdi, bool_or(t.rvsl) AS rvsl,
		   min(t.fmly) AS fmly, min(t.subfmly) AS subfmly, count(*) AS txs,
		   xmlagg(t.txdtls ORDER BY t.ord) AS details
	  FROM tx t
	 GROUP BY t.entry_key
), ntry AS (
	SELECT e.no, e.booked, e.amount, e.cdi,
		   xmlelement(name "Ntry",
			   xmlelement(name "Amt", xmlattributes(ar.currency_of(e.amount) AS "Ccy"), ar.value_of(e.amount)),
			   xmlelement(name "CdtDbtInd", e.cdi),
			   CASE WHEN e.rvsl THEN xmlelement(name "RvslInd", 'true') END,
			   xmlelement(name "Sts", 'BOOK'),
			   xmlelement(name "BookgDt", xmlelement(name "Dt", e.booked)),
			   xmlelement(name "ValDt", xmlelement(name "Dt", e.booked)),
			   xmlelement(name "AcctSvcrRef", 'DEMO' || lpad(e.no::text, 8, '0')),
			   xmlelement(name "BkTxCd", xmlelement(name "Domn",
				   xmlelement(name "Cd", CASE WHEN e.fmly IN ('CHRG', 'INTR') THEN 'ACMT' ELSE 'PMNT' END),
				   xmlelement(name "Fmly",
					   xmlelement(name "Cd", CASE WHEN e.fmly IN ('CHRG', 'INTR') THEN 'MDOP' ELSE e.fmly END),
					   xmlelement(name "SubFmlyCd", e.subfmly)))),
			   CASE WHEN e.fmly NOT IN ('CHRG', 'INTR') THEN
				   xmlelement(name "NtryDtls",
					   CASE WHEN e.txs > 1 THEN
						   xmlelement(name "Btch", xmlelement(name "NbOfTxs", e.txs),
									  xmlelement(name "TtlAmt", xmlattributes(ar.currency_of(e.amount) AS "Ccy"),
												 ar.value_of(e.amount)),
									  xmlelement(name "CdtDbtInd", e.cdi)) END,
					   e.details) END,
			   CASE WHEN e.fmly IN ('CHRG', 'INTR') THEN
				   xmlelement(name "AddtlNtryInf", CASE WHEN e.fmly = 'CHRG' THEN 'Kontoavgift' ELSE 'Ränta' END) END
		   ) AS x
	  FROM entry e
), bal AS (
	-- balances of the account's own currency (exact: numeric, never float)
	SELECT ar.amount(100000, ent.currency) AS opening,
		   ar.amount(100000 + coalesce(sum(CASE WHEN n.cdi = 'CRDT' THEN ar.value_of(n.amount)
												ELSE -ar.value_of(n.amount) END)
										   FILTER (WHERE ar.currency_of(n.amount) = ent.currency), 0),
					 ent.currency) AS closing,
		   min(n.booked) AS d0, max(n.booked) AS d1
	  FROM ent LEFT JOIN ntry n ON true
	 GROUP BY ent.currency
)
SELECT xmlroot(
		   xmlelement(name "Document",
			   xmlattributes('urn:iso:std:iso:20022:tech:xsd:camt.053.001.02' AS xmlns),
			   xmlelement(name "BkToCstmrStmt",
				   xmlelement(name "GrpHdr",
					   xmlelement(name "MsgId", 'AR-DEMO-' || ent.code || '-' || to_char(bal.d1, 'YYYYMMDD')),
					   xmlelement(name "CreDtTm", to_char(bal.d1, 'YYYY-MM-DD') || 'T18:00:00')),
				   xmlelement(name "Stmt",
					   xmlelement(name "Id", 'AR-DEMO-' || ent.code || '-1'),
					   xmlelement(name "CreDtTm", to_char(bal.d1, 'YYYY-MM-DD') || 'T18:00:00'),
					   xmlelement(name "FrToDt",
						   xmlelement(name "FrDtTm", to_char(bal.d0, 'YYYY-MM-DD') || 'T00:00:00'),
						   xmlelement(name "ToDtTm", to_char(bal.d1, 'YYYY-MM-DD') || 'T23:59:59')),
					   xmlelement(name "Acct",
						   xmlelement(name "Id", xmlelement(name "IBAN", replace(ent.iban, ' ', ''))),
						   xmlelement(name "Ccy", ent.currency)),
					   xmlelement(name "Bal",
						   xmlelement(name "Tp", xmlelement(name "CdOrPrtry", xmlelement(name "Cd", 'OPBD'))),
						   xmlelement(name "Amt", xmlattributes(ent.currency AS "Ccy"), ar.value_of(bal.opening)),
						   xmlelement(name "CdtDbtInd", 'CRDT'),
						   xmlelement(name "Dt", xmlelement(name "Dt", bal.d0))),
					   xmlelement(name "Bal",
						   xmlelement(name "Tp", xmlelement(name "CdOrPrtry", xmlelement(name "Cd", 'CLBD'))),
						   xmlelement(name "Amt", xmlattributes(ent.currency AS "Ccy"), abs(ar.value_of(bal.closing))),
						   xmlelement(name "CdtDbtInd", CASE WHEN ar.minor_units(bal.closing) < 0 THEN 'DBIT' ELSE 'CRDT' END),
						   xmlelement(name "Dt", xmlelement(name "Dt", bal.d1))),
					   (SELECT xmlagg(n.x ORDER BY n.no) FROM ntry n)))),
		   version '1.0', standalone yes)::text AS camt053_doc
  FROM ent, bal
\gset

SELECT ar.import_camt(:'camt053_doc') AS payments_imported;
SELECT p.kind, count(*) AS payments, count(p.reference) AS with_reference,
	   count(p.remittance) AS with_text, string_agg(DISTINCT ar.currency_of(p.amount), ', ') AS currencies
  FROM ar.payment p JOIN ar.entity e ON e.id = p.entity_id
 WHERE e.code = :'camt_entity' AND p.source = 'camt053'
 GROUP BY p.kind ORDER BY p.kind;
