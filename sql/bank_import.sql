--
-- Bank statement import: ar.import_camt (camt.053, camt.054) and ar.import_bgmax
--
-- The files are the real samples in ../shared/einv/assets/bank and the ones in
-- test/fixtures/bank, read with psql's backquotes from the repository root
-- (where pg_regress runs).  Broken files are derived from them with sed.
--
DROP EXTENSION ar CASCADE;
CREATE EXTENSION ar;
SET search_path = public, ar;
\set SHOW_CONTEXT never
SET datestyle = ISO, YMD;

\set bank ../shared/einv/assets/bank
\set fixtures test/fixtures/bank
\set iso `cat :bank/camt-samples/camt.053.001.02_iso-business-example_AAAASESS-FP-STAT001.xml`
\set nl `cat :bank/camt-samples/camt.053.001.02_nl-bank-style_sepa-dd-returns.xml`
\set s053v8 `cat :bank/camt-samples/camt.053.001.08_genkgo-fixture.xml`
\set s054v2 `cat :bank/camt-samples/camt.054.001.02_genkgo-fixture.xml`
\set s054v4 `cat :bank/camt-samples/camt.054.001.04_qrr-reference.xml`
\set s054v8 `cat :bank/camt-samples/camt.054.001.08_genkgo-fixture.xml`
\set two `cat :fixtures/camt053_two_accounts.xml`
\set bgocr :bank/bgmax/bankgiroinbetalningar_exempelfil_avtal-om-ocr-kontroll_checksiffra_langd_sv.txt
\set bgfree :bank/bgmax/bankgiroinbetalningar_exempelfil_avtal-utan-tillval-kontroller_sv.txt
\set bgextra :fixtures/bgmax_extra_refs.txt

-- Entities and their accounts.  Files are routed by account: ar.entity.iban,
-- ar.entity.bankgiro, or ar.bank_account for any other account id.
INSERT INTO ar.entity (id, code, name, country, currency, iban, bankgiro) VALUES
	(1, 'SE1', 'Norrsken AB', 'SE', 'SEK', 'SE45 5000 0000 0583 9825 7466', '991-2346'),
	(2, 'NL1', 'Example company BV', 'NL', 'EUR', 'NL77ABNA0574908765', NULL),
	(3, 'SE3', 'Finpetrol AB', 'SE', 'SEK', 'SE3550000000054910000003', NULL),
	(4, 'CH1', 'Unifits GmbH', 'CH', 'CHF', 'CH2801234000123456789', NULL),
	(5, 'SE5', 'Tom AB', 'SE', 'SEK', NULL, NULL);
INSERT INTO ar.bank_account (entity_id, account, note) VALUES
	(3, '5000 0000 0549 1000 0003', 'the ISO example statement names this account by Othr/Id'),
	(4, 'NL26-VAYB-8060-4768-90', 'an IBAN given as Othr/Id');
SELECT entity_id, account, account_key FROM ar.bank_account ORDER BY id;
SELECT a AS account, ar.normalize_account(a), ar.account_entity(a)
  FROM (VALUES ('se45 5000 0000 0583 9825 7466'), ('0009912346'), ('991-2346'),
               ('50000000054910000003'), ('NL26VAYB8060476890'), ('NL91ABNA0417164300')) v(a);
-- an account belongs to one entity: the same account again, written differently
INSERT INTO ar.bank_account (entity_id, account) VALUES (5, '00050000000054910000003');
INSERT INTO ar.bank_account (entity_id, account, currency) VALUES (5, 'SE7280000810340009783242', 'XAG');

-- An issued invoice of entity 1, to show what only credits can do.
INSERT INTO ar.series (entity_id, code, kind, pattern) VALUES (1, 'F', 'invoice', 'F{N}');
INSERT INTO ar.customer (id, entity_id, customer_no, name, country, currency) VALUES
	(1, 1, 'C1', 'Kund Ett AB', 'SE', 'SEK');
INSERT INTO ar.invoice (id, entity_id, customer_id, currency, issue_date) VALUES (1, 1, 1, 'SEK', '2026-10-01');
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_rate) VALUES
	(1, 1, 'Konsult', 10, 100, 25);
SELECT ar.issue(1::bigint);

--
-- camt: what the parser makes of a file
--
SELECT seq, location, entry_status, kind, bank_ref, booking_date, value_date, amount
  FROM ar.camt_transactions(:'two') ORDER BY seq;
SELECT seq, reference, reference_code, extra_references, extra_codes, payer_name, payer_account,
       payer_address, payer_org_no
  FROM ar.camt_transactions(:'two') ORDER BY seq;
SELECT seq, end_to_end_id, transaction_code, return_reason, remittance
  FROM ar.camt_transactions(:'two') ORDER BY seq;

--
-- camt: malformed files raise an error naming the element, and import nothing
--
SELECT count(*) AS payments_before FROM ar.payment \gset
\set bad `sed 's/camt.053.001.02/camt.053.001.03/' :bank/camt-samples/camt.053.001.02_iso-business-example_AAAASESS-FP-STAT001.xml`
SELECT ar.import_camt(:'bad');
\set bad `sed 's/Document/Dokument/g' :bank/camt-samples/camt.053.001.02_nl-bank-style_sepa-dd-returns.xml`
SELECT ar.import_camt(:'bad');
\set bad `sed '/<MsgId>AAAASESS-FP-STAT001/d' :bank/camt-samples/camt.053.001.02_iso-business-example_AAAASESS-FP-STAT001.xml`
SELECT ar.import_camt(:'bad');
\set bad `sed '/>200000</d' :bank/camt-samples/camt.053.001.02_iso-business-example_AAAASESS-FP-STAT001.xml`
SELECT ar.import_camt(:'bad');
\set bad `sed 's/105678.50/105678,50/' :bank/camt-samples/camt.053.001.02_iso-business-example_AAAASESS-FP-STAT001.xml`
SELECT ar.import_camt(:'bad');
\set bad `sed 's/>30000</>30000.005</' :bank/camt-samples/camt.053.001.02_iso-business-example_AAAASESS-FP-STAT001.xml`
SELECT ar.import_camt(:'bad');
\set bad `sed 's/>30000</>-30000</' :bank/camt-samples/camt.053.001.02_iso-business-example_AAAASESS-FP-STAT001.xml`
SELECT ar.import_camt(:'bad');
\set bad `sed 's/>30000</>1e5</' :bank/camt-samples/camt.053.001.02_iso-business-example_AAAASESS-FP-STAT001.xml`
SELECT ar.import_camt(:'bad');
\set bad `sed 's/>30000</>92233720368547758.08</' :bank/camt-samples/camt.053.001.02_iso-business-example_AAAASESS-FP-STAT001.xml`
SELECT ar.import_camt(:'bad');
\set bad `sed 's/Ccy="SEK">30000/Ccy="SEX">30000/' :bank/camt-samples/camt.053.001.02_iso-business-example_AAAASESS-FP-STAT001.xml`
SELECT ar.import_camt(:'bad');
\set bad `sed 's/Ccy="SEK">30000/Ccy="XAU">30000/' :bank/camt-samples/camt.053.001.02_iso-business-example_AAAASESS-FP-STAT001.xml`
SELECT ar.import_camt(:'bad');
\set bad `sed 's/ Ccy="SEK">30000/>30000/' :bank/camt-samples/camt.053.001.02_iso-business-example_AAAASESS-FP-STAT001.xml`
SELECT ar.import_camt(:'bad');
\set bad `sed '0,/DBIT/s//DEBT/' :bank/camt-samples/camt.053.001.02_nl-bank-style_sepa-dd-returns.xml`
SELECT ar.import_camt(:'bad');
\set bad `sed 's/<RvslInd>true/<RvslInd>yes/' :bank/camt-samples/camt.053.001.02_nl-bank-style_sepa-dd-returns.xml`
SELECT ar.import_camt(:'bad');
\set bad `sed '0,/<Sts>BOOK<.Sts>/{/<Sts>BOOK<.Sts>/d}' :bank/camt-samples/camt.053.001.02_nl-bank-style_sepa-dd-returns.xml`
SELECT ar.import_camt(:'bad');
\set bad `sed 's/2010-10-18T13:15/2010-13-18T13:15/' :bank/camt-samples/camt.053.001.02_iso-business-example_AAAASESS-FP-STAT001.xml`
SELECT ar.import_camt(:'bad');
-- an entry status that is not a code of ExternalEntryStatus1Code: it could be a booked entry lost
\set bad `sed '0,/<Sts>BOOK</s//<Sts>BOKD</' :bank/camt-samples/camt.053.001.02_nl-bank-style_sepa-dd-returns.xml`
SELECT ar.import_camt(:'bad');
\set bad `sed 's|<Cd>BOOK</Cd>|<Cd>book</Cd>|' :bank/camt-samples/camt.053.001.08_genkgo-fixture.xml`
SELECT ar.import_camt(:'bad');
\set bad `sed 's/BookgDt>/BookingDate>/g' :bank/camt-samples/camt.054.001.04_qrr-reference.xml`
SELECT ar.import_camt(:'bad');
\set bad `sed 's|<IBAN>NL77ABNA0574908765</IBAN>|<Prtry>x</Prtry>|' :bank/camt-samples/camt.054.001.04_qrr-reference.xml`
SELECT ar.import_camt(:'bad');
-- a batch of incoming payments must add up, and each must state its amount
\set bad `sed 's/>2000.00</>2100.00</' :fixtures/camt053_two_accounts.xml`
SELECT ar.import_camt(:'bad');
\set bad `sed '/>1500.00</d' :fixtures/camt053_two_accounts.xml`
SELECT ar.import_camt(:'bad');
-- a transaction of a batch may state only the instructed amount (InstdAmt)
\set odd `sed 's|<TxAmt><Amt Ccy="SEK">2000.00</Amt></TxAmt>|<InstdAmt><Amt Ccy="SEK">2000.00</Amt></InstdAmt>|' :fixtures/camt053_two_accounts.xml`
SELECT seq, location, bank_ref, amount FROM ar.camt_transactions(:'odd') WHERE location LIKE '%TxDtls%' ORDER BY seq LIMIT 4;
-- ... but not in another currency than the entry
\set bad `sed 's|<TxAmt><Amt Ccy="SEK">2000.00</Amt></TxAmt>|<InstdAmt><Amt Ccy="EUR">2000.00</Amt></InstdAmt>|' :fixtures/camt053_two_accounts.xml`
SELECT ar.import_camt(:'bad');
-- zeros past the minor unit are the same amount; other digits are an error
\set odd `sed 's|>1500.00<|>1500.0000<|; s|>4500.00<|>4500.000<|' :fixtures/camt053_two_accounts.xml`
SELECT seq, location, amount FROM ar.camt_transactions(:'odd') WHERE amount::text LIKE '%500.00 SEK' ORDER BY seq;
\set bad `sed 's|>1500.00<|>1500.001<|' :fixtures/camt053_two_accounts.xml`
SELECT ar.import_camt(:'bad');
-- an entry or a transaction of 0 moves no money: skipped, with a notice
\set odd `sed 's|<Amt Ccy="SEK">750.00</Amt>|<Amt Ccy="SEK">0.00</Amt>|; s|<Amt Ccy="SEK">1000.00</Amt></TxAmt>|<Amt Ccy="SEK">0</Amt></TxAmt>|; s|<Amt Ccy="SEK">4500.00</Amt>|<Amt Ccy="SEK">3500.00</Amt>|' :fixtures/camt053_two_accounts.xml`
SELECT count(*) AS rows, sum(ar.minor_units(amount)) AS minor_units FROM ar.camt_transactions(:'odd');
SELECT count(*) AS rows, sum(ar.minor_units(amount)) AS minor_units FROM ar.camt_transactions(:'two');
-- a batch entry of 0 whose transactions state no amount is skipped whole;
-- one whose transactions do state amounts contradicts itself
\set odd `sed 's|<Amt Ccy="SEK">4500.00</Amt>|<Amt Ccy="SEK">0.00</Amt>|; /<TxAmt><Amt Ccy="SEK">[12][05]00.00</d' :fixtures/camt053_two_accounts.xml`
SELECT count(*) AS rows FROM ar.camt_transactions(:'odd');
\set bad `sed 's|<Amt Ccy="SEK">4500.00</Amt>|<Amt Ccy="SEK">0.00</Amt>|' :fixtures/camt053_two_accounts.xml`
SELECT ar.import_camt(:'bad');
-- a DOCTYPE is refused (no entity is ever expanded); so is what is not XML
SELECT ar.import_camt(('<!DOCTYPE Document [<!ENTITY x "y">]>' || :'nl')::xml);
SELECT ar.import_camt(left(:'nl', 300)::xml);
SELECT ar.import_camt('<a>b</a> <c/>');
SELECT count(*) - :payments_before AS imported FROM ar.payment;

--
-- camt: entity resolution, all or nothing
--
-- an account of no entity
\set bad `sed 's/NL77ABNA0574908765/NL91ABNA0417164300/' :bank/camt-samples/camt.053.001.02_nl-bank-style_sepa-dd-returns.xml`
SELECT ar.import_camt(:'bad');
-- the second statement's account belongs to no entity: the first statement is not imported either
\set bad `sed '/ARTEST-STMT-2/,$ s/SE3550000000054910000003/NL91ABNA0417164300/' :fixtures/camt053_two_accounts.xml`
SELECT ar.import_camt(:'bad');
-- an account claimed by two entities
INSERT INTO ar.bank_account (entity_id, account) VALUES (5, 'NL77 ABNA 0574 9087 65');
SELECT ar.import_camt(:'nl');
DELETE FROM ar.bank_account WHERE entity_id = 5;
SELECT count(*) - :payments_before AS imported FROM ar.payment;

--
-- camt: every sample imports, each statement to the entity of its account
--
SELECT ar.import_camt(:'iso') AS "053.001.02 ISO";
SELECT ar.import_camt(:'nl') AS "053.001.02 NL";
SELECT ar.import_camt(:'s053v8') AS "053.001.08";
SELECT ar.import_camt(:'s054v2') AS "054.001.02";
SELECT ar.import_camt(:'s054v4') AS "054.001.04";
SELECT ar.import_camt(:'s054v8') AS "054.001.08";
SELECT ar.import_camt(:'two') AS "two accounts";
SELECT id, entity_id, source, kind, status, bank_ref, booking_date, value_date, amount, unallocated
  FROM ar.payment ORDER BY id;
SELECT id, reference, reference_code, payer_name, payer_account, statement_id, import_file
  FROM ar.payment ORDER BY id;
SELECT payment_id, seq, reference, amount, reference_code FROM ar.payment_extra_ref ORDER BY 1, 2;
-- an entry not booked yet (Sts PDNG) is not imported
SELECT count(*) AS pending FROM ar.payment WHERE end_to_end_id = 'E2E-PENDING';

-- re-importing adds nothing
SELECT ar.import_camt(:'iso') + ar.import_camt(:'nl') + ar.import_camt(:'s053v8')
       + ar.import_camt(:'s054v2') + ar.import_camt(:'s054v4') + ar.import_camt(:'s054v8')
       + ar.import_camt(:'two') AS added;
SELECT count(*) AS payments FROM ar.payment;

-- reversals, returns and debits are recorded, never as incoming payments
SELECT kind, count(*) AS payments, string_agg(DISTINCT status, ',') AS status,
       count(*) FILTER (WHERE ar.minor_units(unallocated) = 0) AS nothing_to_allocate
  FROM ar.payment GROUP BY kind ORDER BY kind;
SELECT ar.allocate(p.id, 1) FROM ar.payment p WHERE p.bank_ref = 'SE4550000000058398257466:SEB2026110200006';
SELECT ar.allocate(p.id, 1) FROM ar.payment p WHERE p.bank_ref = 'SE4550000000058398257466:SEB2026110200004';
SELECT ar.allocate(p.id, 1) FROM ar.payment p WHERE p.bank_ref = 'SE4550000000058398257466:SEB2026110200005';
-- a payment in a foreign currency keeps its currency
SELECT entity_id, kind, amount, unallocated FROM ar.payment WHERE ar.currency_of(amount) <> 'SEK' AND entity_id = 1;
SELECT ar.allocate(p.id, 1) FROM ar.payment p WHERE p.end_to_end_id = 'INV-2026-0420-EUR';
-- a credit can be allocated
SELECT ar.allocate(p.id, 1, '1000.00 SEK') FROM ar.payment p WHERE p.bank_ref = 'SE4550000000058398257466:SEB2026110200001';
SELECT number, status, open_amount FROM ar.invoice WHERE id = 1;

--
-- BgMax: both official samples and a file with every record type
--
\set bgocr64 `base64 -w0 :bgocr`
\set bgfree64 `base64 -w0 :bgfree`
\set bgextra64 `base64 -w0 :bgextra`
\set bgocrtext `iconv -f ISO-8859-1 -t UTF-8 :bgocr`
\set bgfreetext `iconv -f ISO-8859-1 -t UTF-8 :bgfree`
-- the file's bytes (ISO-8859-1) and the same file as text give the same rows
SELECT count(*) AS rows,
       (SELECT count(*) FROM (SELECT * FROM ar.bgmax_transactions(:'bgocrtext')
                              EXCEPT ALL
                              SELECT * FROM ar.bgmax_transactions(decode(:'bgocr64', 'base64'))) d) AS different
  FROM ar.bgmax_transactions(decode(:'bgocr64', 'base64'));
-- the same file re-encoded as UTF-8, with and without a byte order mark,
-- reads the same (its Å, Ä and Ö are not taken as two characters each)
\set bgocrutf8 `iconv -f ISO-8859-1 -t UTF-8 :bgocr | base64 -w0`
\set bgocrbom `{ printf '\357\273\277'; iconv -f ISO-8859-1 -t UTF-8 :bgocr; } | base64 -w0`
SELECT (SELECT count(*) FROM (SELECT * FROM ar.bgmax_transactions(decode(:'bgocrutf8', 'base64'))
                              EXCEPT ALL
                              SELECT * FROM ar.bgmax_transactions(decode(:'bgocr64', 'base64'))) d) AS "UTF-8 different",
       (SELECT count(*) FROM (SELECT * FROM ar.bgmax_transactions(decode(:'bgocrbom', 'base64'))
                              EXCEPT ALL
                              SELECT * FROM ar.bgmax_transactions(decode(:'bgocr64', 'base64'))) d) AS "with BOM different",
       (SELECT count(*) FROM ar.bgmax_transactions(decode(:'bgocrutf8', 'base64'))
         WHERE payer_name ~ '[ÅÄÖåäö]' OR payer_address ~ '[ÅÄÖåäö]') AS "names with ÅÄÖ";
-- ISO-8859-1 that happens to be valid UTF-8 (Ö and a no-break space,
-- 0xD6 0xA0, is U+05A0) is refused as bytes, naming the character, and
-- reads as ISO-8859-1 when passed as text decoded from LATIN1
-- (the file of several references has no other letter beyond ASCII)
\set nbsp `sed '0,/^26/s/^26Kund Ett/26Kund \xd6\xa0tt/' :fixtures/bgmax_several_refs.txt | base64 -w0`
SELECT count(*) FROM ar.bgmax_transactions(decode(:'nbsp', 'base64'));
SELECT payer_name FROM ar.bgmax_transactions(convert_from(decode(:'nbsp', 'base64'), 'LATIN1'))
 WHERE payer_name ~ 'Ö' ORDER BY seq LIMIT 1;
-- a UTF-8 file with a letter ISO-8859-1 lacks is refused, not read as
-- ISO-8859-1 (its å would become Ã¥): š, U+0161, on line 4
\set bad `{ iconv -f ISO-8859-1 -t UTF-8 :bgocr | sed '4s/Kalles Plåt AB  /Kalles Plåt Mušk/'; } | base64 -w0`
SELECT count(*) FROM ar.bgmax_transactions(decode(:'bad', 'base64'));
-- € (U+20AC) likewise
\set bad `{ iconv -f ISO-8859-1 -t UTF-8 :bgocr | sed '3s/^\(.\{40\}\).../\1€/'; } | base64 -w0`
SELECT count(*) FROM ar.bgmax_transactions(decode(:'bad', 'base64'));
-- a NUL is named with its line, whatever the encoding
\set bad `{ iconv -f ISO-8859-1 -t UTF-8 :bgocr | sed '4s/^26K/26\x00/'; } | base64 -w0`
SELECT count(*) FROM ar.bgmax_transactions(decode(:'bad', 'base64'));
-- a BOM and nothing else is an empty file, as without it
SELECT count(*) FROM ar.bgmax_transactions('\xefbbbf'::bytea);
-- text read with its BOM (pg_read_file of a UTF-8 file) reads the same
SELECT count(*) AS rows FROM ar.bgmax_transactions(convert_from(decode(:'bgocrbom', 'base64'), 'UTF8'));
SELECT ar.import_bgmax(decode(:'bgocr64', 'base64'), 1) AS "OCR control sample";
SELECT ar.import_bgmax(decode(:'bgfree64', 'base64'), 1) AS "no options sample";
SELECT ar.import_bgmax(decode(:'bgextra64', 'base64'), 1) AS "extra references";
-- re-importing adds nothing, from bytes or from text
SELECT ar.import_bgmax(decode(:'bgocr64', 'base64'), 1) + ar.import_bgmax(:'bgocrtext', 1)
       + ar.import_bgmax(:'bgfreetext', 1) + ar.import_bgmax(decode(:'bgextra64', 'base64'), 1) AS added;
SELECT id, kind, bank_ref, booking_date, amount, unallocated, reference, reference_code, transaction_code
  FROM ar.payment WHERE source = 'bgmax' ORDER BY id;
SELECT id, payer_name, payer_account, payer_address, payer_org_no, statement_id, import_file, remittance
  FROM ar.payment WHERE source = 'bgmax' ORDER BY id;
SELECT x.payment_id, x.seq, x.reference, x.amount, x.reference_code
  FROM ar.payment_extra_ref x JOIN ar.payment p ON p.id = x.payment_id
 WHERE p.source = 'bgmax' ORDER BY 1, 2;

-- a BgMax file for another entity's bankgiro, or for no entity's
SELECT ar.import_bgmax(decode(:'bgocr64', 'base64'), 2);
SELECT ar.import_bgmax(decode(:'bgocr64', 'base64'), 99);
\set bad `sed 's/^050009912346/050050501055/' :bgocr | base64 -w0`
SELECT ar.import_bgmax(decode(:'bad', 'base64'), 1);

--
-- BgMax: malformed files raise an error naming record, line and field, and import nothing
--
SELECT count(*) AS payments_before FROM ar.payment \gset
-- the record counts are checked against TK70
\set bad `sed 's/^7000000008/7000000009/' :bgocr | base64 -w0`
SELECT ar.import_bgmax(decode(:'bad', 'base64'), 1);
\set bad `sed 's/^70000000080000000100000009/70000000080000000100000010/' :bgocr | base64 -w0`
SELECT ar.import_bgmax(decode(:'bad', 'base64'), 1);
\set bad `sed 's/00000003 *$/00000002/' :bgocr | sed 's/^7000000008000000010000000900000003/7000000008000000010000000900000004/' | base64 -w0`
SELECT ar.import_bgmax(decode(:'bad', 'base64'), 1);
-- and the deposits against their TK15
\set bad `sed 's/000000000000190000SEK/000000000000190100SEK/' :bgocr | base64 -w0`
SELECT ar.import_bgmax(decode(:'bad', 'base64'), 1);
\set bad `sed 's/190000SEK00000003/190000SEK00000004/' :bgocr | base64 -w0`
SELECT ar.import_bgmax(decode(:'bad', 'base64'), 1);
-- fields
\set bad `sed '3s/000000000000100000/0000000000001O0000/' :bgocr | base64 -w0`
SELECT ar.import_bgmax(decode(:'bad', 'base64'), 1);
\set bad `sed '3s/000000000000100000/000000000000000000/' :bgocr | base64 -w0`
SELECT ar.import_bgmax(decode(:'bad', 'base64'), 1);
\set bad `sed 's/2004052500074/2004053200074/' :bgocr | base64 -w0`
SELECT ar.import_bgmax(decode(:'bad', 'base64'), 1);
\set bad `sed '2s/SEK/JPY/' :bgocr | base64 -w0`
SELECT ar.import_bgmax(decode(:'bad', 'base64'), 1);
\set bad `sed '3s/^20/2X/' :bgocr | base64 -w0`
SELECT ar.import_bgmax(decode(:'bad', 'base64'), 1);
\set bad `sed '3s/$/EXTRA/' :bgocr | base64 -w0`
SELECT ar.import_bgmax(decode(:'bad', 'base64'), 1);
\set bad `sed '4s/Kalles/Kal\x01les/' :bgocr | base64 -w0`
SELECT ar.import_bgmax(decode(:'bad', 'base64'), 1);
SELECT ar.import_bgmax(replace(:'bgfreetext', 'Här', 'H€r'), 1);
-- the start record
\set bad `sed '1d' :bgocr | base64 -w0`
SELECT ar.import_bgmax(decode(:'bad', 'base64'), 1);
\set bad `sed '1s/BGMAX/BGMIN/' :bgocr | base64 -w0`
SELECT ar.import_bgmax(decode(:'bad', 'base64'), 1);
\set bad `sed '1s/^\(01BGMAX *\)01/\102/' :bgocr | base64 -w0`
SELECT ar.import_bgmax(decode(:'bad', 'base64'), 1);
-- records out of place
\set bad `sed '2d' :bgocr | base64 -w0`
SELECT ar.import_bgmax(decode(:'bad', 'base64'), 1);
\set bad `sed '3d' :bgfree | base64 -w0`
SELECT ar.import_bgmax(decode(:'bad', 'base64'), 1);
\set bad `sed '0,/^15/{/^15/d}' :bgocr | base64 -w0`
SELECT ar.import_bgmax(decode(:'bad', 'base64'), 1);
\set bad `sed '/^70/d' :bgocr | base64 -w0`
SELECT ar.import_bgmax(decode(:'bad', 'base64'), 1);
\set bad `sed '$a 200003783511                   655969000000000000100000220000000000100' :bgfree | base64 -w0`
SELECT ar.import_bgmax(decode(:'bad', 'base64'), 1);
-- serial numbers are all digits: a padded one would be another bank_ref for the same payment
\set bad `awk 'NR == 3 { $0 = substr($0, 1, 57) "   000000010" substr($0, 70) } { print }' :bgocr | base64 -w0`
SELECT ar.import_bgmax(decode(:'bad', 'base64'), 1);
\set bad `sed '23s/2004052500074/2004052500 74/' :bgocr | base64 -w0`
SELECT ar.import_bgmax(decode(:'bad', 'base64'), 1);
-- the TK01 timestamp is a date and a time of day
\set bad `sed '1s/20040525173035/20041399173035/' :bgocr | base64 -w0`
SELECT ar.import_bgmax(decode(:'bad', 'base64'), 1);
\set bad `sed '1s/20040525173035/20040525253035/' :bgocr | base64 -w0`
SELECT ar.import_bgmax(decode(:'bad', 'base64'), 1);
-- DEL and the C1 controls are refused like the C0 ones
\set bad `sed '4s/Kalles/Kal\x7fles/' :bgocr | base64 -w0`
SELECT ar.import_bgmax(decode(:'bad', 'base64'), 1);
\set bad `sed '4s/Kalles/Kal\x85les/' :bgocr | base64 -w0`
SELECT ar.import_bgmax(decode(:'bad', 'base64'), 1);
-- NULL: an error, not a NULL that looks like nothing to do
SELECT ar.import_bgmax(decode(:'bgocr64', 'base64'), NULL);
SELECT ar.import_bgmax(NULL::bytea, 1);
SELECT ar.import_bgmax(:'bgocrtext', NULL);
SELECT ar.import_camt(NULL);
SELECT ar.import_bgmax('', 1);
SELECT count(*) - :payments_before AS imported FROM ar.payment;

--
-- Imported rows are bank records
--
UPDATE ar.payment SET payer_address = 'Elsewhere' WHERE bank_ref = '9912346:20040525/00074/000000000010';
UPDATE ar.payment SET reference = '1' WHERE bank_ref = '9912346:20040525/00074/000000000010';
DELETE FROM ar.payment_extra_ref WHERE seq = 1;
UPDATE ar.payment_extra_ref SET reference = '1' WHERE seq = 1;

--
-- camt: a pending entry does not take the bank_ref of its booked self, so a
-- statement that reports the booked entry again adds nothing
--
\set pb `cat :fixtures/camt054_pending_and_batch.xml`
\set later `cat :fixtures/camt053_booked_later.xml`
SELECT seq, entry_status, kind, bank_ref, booking_date, amount
  FROM ar.camt_transactions(:'pb') ORDER BY seq;
SELECT ar.import_camt(:'pb') AS notification;
SELECT ar.import_camt(:'later') AS "statement with the booked entry again";
-- a batch whose transactions go both ways: the debit counts against the entry
SELECT kind, bank_ref, booking_date, amount, unallocated FROM ar.payment
 WHERE bank_ref LIKE 'SE4550000000058398257466:SEB20261103%' ORDER BY id;
SELECT count(*) AS payments_before FROM ar.payment \gset
\set bad `sed 's|<Amt Ccy="SEK">900.00</Amt>|<Amt Ccy="SEK">1100.00</Amt>|; s|SEB2026110300002|SEB2026110300003|' :fixtures/camt054_pending_and_batch.xml`
SELECT ar.import_camt(:'bad');
-- the time and zone of a DtTm are checked, not only its date
\set bad `sed 's|2026-11-03T08:15:00.250+01:00|2026-11-04Tgarbage|' :fixtures/camt053_booked_later.xml`
SELECT ar.import_camt(:'bad');
\set bad `sed 's|2026-11-03T08:15:00.250+01:00|2026-11-04T25:00:00|' :fixtures/camt053_booked_later.xml`
SELECT ar.import_camt(:'bad');
\set bad `sed 's|2026-11-03T08:15:00.250+01:00|2026-11-04T08:15:00+1:00|' :fixtures/camt053_booked_later.xml`
SELECT ar.import_camt(:'bad');
\set bad `sed 's|<Dt>2026-11-03</Dt></ValDt>|<Dt>2026-11-04Z</Dt></ValDt>|; s|SEB2026110300001|SEB2026110300009|' :fixtures/camt053_booked_later.xml`
SELECT ar.import_camt(:'bad') AS "a date with a zone";

-- BgMax: Bankgirot's serial number is digits; the TK15 currency is the TK05 one, as written
\set bad `sed '3s/220000000000100/2200000000001X0/' :bgocr | base64 -w0`
SELECT ar.import_bgmax(decode(:'bad', 'base64'), 1);
\set bad `sed 's/190000SEK/190000sek/' :bgocr | base64 -w0`
SELECT ar.import_bgmax(decode(:'bad', 'base64'), 1);
-- amounts that each fit but add up past what an amount holds
\set bad `awk 'NR == 3 { sub(/000000000000100000/, "999999999999999999"); for (i = 0; i < 10; i++) print; next } { print }' :bgocr | base64 -w0`
SELECT ar.import_bgmax(decode(:'bad', 'base64'), 1);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) - :payments_before AS imported FROM ar.payment
 WHERE bank_ref <> 'SE4550000000058398257466:SEB2026110300009';
-- xs:decimal allows a leading +
\set odd `sed 's|<Amt Ccy="SEK">250.00</Amt>|<Amt Ccy="SEK">+250.00</Amt>|' :fixtures/camt053_booked_later.xml`
SELECT bank_ref, amount FROM ar.camt_transactions(:'odd');

--
-- camt: an EndToEndId is the payer's choice.  Two payers who both use "1"
-- on one day for one amount are two payments; and the payer who came first
-- in a notification is recognized in the later statement that lists the
-- other payer before it (the ref carries the payer's account).
--
CREATE FUNCTION pg_temp.e2e_tx(payer text, acct text) RETURNS text LANGUAGE sql AS $$
  SELECT '<Ntry><Amt Ccy="SEK">100.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts><BookgDt><Dt>2026-11-20</Dt></BookgDt>'
      || '<NtryDtls><TxDtls><Refs><EndToEndId>1</EndToEndId></Refs><RltdPties><Dbtr><Nm>' || payer
      || '</Nm></Dbtr><DbtrAcct><Id><IBAN>' || acct || '</IBAN></Id></DbtrAcct></RltdPties></TxDtls></NtryDtls></Ntry>' $$;
CREATE FUNCTION pg_temp.e2e_doc(ns text, root text, rep text, msg text, entries text) RETURNS xml LANGUAGE sql AS $$
  SELECT ('<Document xmlns="urn:iso:std:iso:20022:tech:xsd:' || ns || '"><' || root || '><GrpHdr><MsgId>' || msg
      || '</MsgId></GrpHdr><' || rep || '><Id>' || msg || '</Id><Acct><Id><IBAN>SE4550000000058398257466</IBAN></Id></Acct>'
      || entries || '</' || rep || '></' || root || '></Document>')::xml $$;
SELECT ar.import_camt(pg_temp.e2e_doc('camt.054.001.02', 'BkToCstmrDbtCdtNtfctn', 'Ntfctn', 'E2E-N1',
       pg_temp.e2e_tx('Payer X', 'SE3550000000054910000003'))) AS "notification: X";
SELECT ar.import_camt(pg_temp.e2e_doc('camt.053.001.02', 'BkToCstmrStmt', 'Stmt', 'E2E-S1',
       pg_temp.e2e_tx('Payer Y', 'SE7280000810340009783242')
       || pg_temp.e2e_tx('Payer X', 'SE3550000000054910000003'))) AS "statement: Y, then X again";
SELECT bank_ref, payer_name, amount FROM ar.payment
 WHERE bank_ref LIKE 'SE4550000000058398257466:1/2026-11-20/%' ORDER BY id;

--
-- camt: a transaction's own CdtDbtInd says which way its money went.  A
-- CRDT transaction in a DBIT batch is an incoming payment from its debtor
-- (the batch nets to the DBIT entry: 300.00 out, 200.00 in).
--
SELECT ar.import_camt('<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>
<GrpHdr><MsgId>MIXED-1</MsgId></GrpHdr><Stmt><Id>MIXED-1</Id><Acct><Id><IBAN>SE4550000000058398257466</IBAN></Id></Acct>
<Ntry><Amt Ccy="SEK">100.00</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts>BOOK</Sts><BookgDt><Dt>2026-11-20</Dt></BookgDt>
<NtryDtls>
 <TxDtls><Refs><AcctSvcrRef>MIXED-T1</AcctSvcrRef></Refs><AmtDtls><TxAmt><Amt Ccy="SEK">300.00</Amt></TxAmt></AmtDtls>
  <RltdPties><Cdtr><Nm>Hyresvärden AB</Nm></Cdtr></RltdPties></TxDtls>
 <TxDtls><Refs><AcctSvcrRef>MIXED-T2</AcctSvcrRef></Refs><AmtDtls><TxAmt><Amt Ccy="SEK">200.00</Amt></TxAmt></AmtDtls><CdtDbtInd>CRDT</CdtDbtInd>
  <RltdPties><Dbtr><Nm>Kund Ett AB</Nm></Dbtr><Cdtr><Nm>Nordvind AB</Nm></Cdtr></RltdPties>
  <RmtInf><Strd><CdtrRefInf><Ref>202600011</Ref></CdtrRefInf></Strd></RmtInf></TxDtls>
</NtryDtls></Ntry></Stmt></BkToCstmrStmt></Document>'::xml) AS imported;
SELECT bank_ref, kind, amount, unallocated, payer_name, reference FROM ar.payment
 WHERE bank_ref LIKE 'SE4550000000058398257466:MIXED-%' ORDER BY id;

--
-- camt: one account named two ways.  A camt.054 names entity 1's account by
-- its domestic number (the IBAN's BBAN, registered in ar.bank_account), the
-- camt.053 by its IBAN: the bank_refs carry the IBAN in both, so the entry
-- with the bank's AcctSvcrRef is one payment.  The entry without one
-- (EndToEndId only) is not imported again either, but with a warning: it
-- could be a second payment.
--
INSERT INTO ar.bank_account (entity_id, account, note) VALUES
	(1, '5000 0000 0583 9825 7466', 'Norrsken''s account by its domestic number');
\set bban `cat :fixtures/camt054_account_by_bban.xml`
\set byiban `sed -e 's/camt.054.001.02/camt.053.001.02/; s/BkToCstmrDbtCdtNtfctn>/BkToCstmrStmt>/g; s/Ntfctn>/Stmt>/g; s/BBAN-NTF-1/BBAN-STM-1/g' -e 's|<Othr><Id>5000 0000 0583 9825 7466</Id></Othr>|<IBAN>SE4550000000058398257466</IBAN>|' :fixtures/camt054_account_by_bban.xml`
SELECT ar.import_camt(:'bban') AS notification;
SELECT ar.import_camt(:'byiban') AS "statement by IBAN";
SELECT bank_ref, account, amount, import_file FROM ar.payment
 WHERE import_file IN ('camt.054.001.02 BBAN-NTF-1', 'camt.053.001.02 BBAN-STM-1') ORDER BY id;
-- the same file again adds nothing, and says nothing
SELECT ar.import_camt(:'bban') AS "notification again";

--
-- camt: a batch of credits booked net of the bank's charges (Ntry/Chrgs).
-- Each payment keeps what its payer paid, and the charges are a debit row
-- of their own, so the rows still add up to the entry.  A single payment
-- keeps the entry's amount, charges or not (a notification without them
-- and the statement with them must agree on it).
--
\set chrg `cat :fixtures/camt053_charges.xml`
SELECT location, kind, bank_ref, amount, transaction_code, remittance
  FROM ar.camt_transactions(:'chrg') ORDER BY seq;
SELECT ar.import_camt(:'chrg') AS "entries net of charges";
-- camt.053.001.08 records (Chrgs/Rcrd); one not included in the entry's
-- amount (ChrgInclInd false) does not count
\set chrg8 `sed -e 's/camt.053.001.02/camt.053.001.08/; s/CHRG-1/CHRG-8/g; s/CHRG-2026/CHRG8-2026/g' -e 's|<Chrgs><TtlChrgsAndTaxAmt Ccy="SEK">5.00</TtlChrgsAndTaxAmt><Amt Ccy="SEK">5.00</Amt><CdtDbtInd>DBIT</CdtDbtInd></Chrgs>|<Chrgs><TtlChrgsAndTaxAmt Ccy="SEK">5.00</TtlChrgsAndTaxAmt><Rcrd><Amt Ccy="SEK">5.00</Amt><CdtDbtInd>DBIT</CdtDbtInd><ChrgInclInd>true</ChrgInclInd></Rcrd><Rcrd><Amt Ccy="SEK">9.00</Amt><ChrgInclInd>false</ChrgInclInd></Rcrd></Chrgs>|' :fixtures/camt053_charges.xml`
SELECT location, kind, amount FROM ar.camt_transactions(:'chrg8') ORDER BY seq;
-- charges that do not explain the difference leave a batch that cannot be split
\set bad `sed 's|<Amt Ccy="SEK">5.00</Amt><CdtDbtInd>DBIT|<Amt Ccy="SEK">4.00</Amt><CdtDbtInd>DBIT|; s/CHRG-2026/CHRGX-2026/g' :fixtures/camt053_charges.xml`
SELECT ar.import_camt(:'bad');
