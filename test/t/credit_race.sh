#!/usr/bin/env bash
# test/t/credit_race.sh: two sessions issue for one customer whose credit
# limit has room for one invoice only.  The credit check locks the customer
# until commit, so the second session waits for the first, then sees its
# invoice and is refused.  Without the lock both would pass the check on
# the same room.
#
# Session A issues invoice 1 and holds its transaction open (pg_sleep);
# session B issues invoice 2 meanwhile.  The test asserts that B waits on a
# lock while A is open, that B then fails with the exact credit-limit error,
# and that only invoice 1 is issued.
set -euo pipefail
source "$(dirname "$0")/common.bash"
DB=ar_credit_race

test_cluster credit-race
setup_books
sql >/dev/null <<'SQL' || fail "setup of the drafts failed"
UPDATE ar.customer SET credit_limit = '1000.00 SEK' WHERE id = 1;
INSERT INTO ar.invoice (id, entity_id, customer_id, currency, issue_date) VALUES
	(1, 1, 1, 'SEK', '2026-11-02'), (2, 1, 1, 'SEK', '2026-11-02');
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_rate)
VALUES (1, 1, 'Konsult', 1, 500, 25), (2, 1, 'Konsult', 1, 500, 25);
SQL

race part1 "BEGIN;
SELECT ar.issue(1::bigint);
SELECT 'a issued', pg_sleep(4);
COMMIT;" 'a issued' "SELECT ar.issue(2::bigint)"
[ "$RACE_WAITED" = yes ] || fail "session B did not wait for session A's credit check"
say "ok: session B waited on a lock while session A's transaction was open"
[ "$RACE_B_RC" -ne 0 ] || { cat "$TMP/part1.b"; fail "session B issued past the credit limit"; }
grep -qx 'ERROR:  customer C1 (Kund 1 AB) would exceed the credit limit: exposure 1250.00 SEK > limit 1000.00 SEK' \
	"$TMP/part1.b" || { cat "$TMP/part1.b"; fail "session B failed with another error"; }
say "ok: session B was refused with the credit-limit error, counting A's invoice"
state=$(sql -c "SELECT string_agg(id || ':' || status, ' ' ORDER BY id) FROM ar.invoice")
[ "$state" = "1:issued 2:draft" ] || fail "unexpected invoice states: $state"
say "ok: invoice 1 issued, invoice 2 still a draft"

# Part 2: the customer locks come after the series counter, so issuers into
# one series do not deadlock on them.  A issues for customer 4 and keeps its
# transaction open; B issues for customer 5 and waits for the counter; A
# then issues for customer 5 too.  Had B locked customer 5 before waiting
# for the counter, A would wait for B and B for A: a deadlock.
sql >/dev/null <<'SQL' || fail "setup of part 2 failed"
UPDATE ar.customer SET credit_limit = '100000.00 SEK' WHERE id IN (4, 5);
INSERT INTO ar.invoice (id, entity_id, customer_id, currency, issue_date) VALUES
	(3, 1, 4, 'SEK', '2026-11-03'), (4, 1, 5, 'SEK', '2026-11-03'), (5, 1, 5, 'SEK', '2026-11-03');
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_rate)
SELECT g, 1, 'Konsult', 1, 100, 25 FROM generate_series(3, 5) g;
SQL
psql -X -q -At -v ON_ERROR_STOP=1 -d "$DB" >"$TMP/a2.out" 2>&1 <<'SQL' &
BEGIN;
SELECT ar.issue(3::bigint);
SELECT 'a2 open', pg_sleep(1.5);
SELECT ar.issue(5::bigint);
COMMIT;
SQL
a_pid=$!
wait_open 'a2 open'
psql -X -q -At -v ON_ERROR_STOP=1 -d "$DB" -c "SELECT ar.issue(4::bigint)" >"$TMP/b2.out" 2>&1 &
b_pid=$!
wait "$a_pid" && a_rc=0 || a_rc=$?
wait "$b_pid" && b_rc=0 || b_rc=$?
if [ "$a_rc" -ne 0 ] || [ "$b_rc" -ne 0 ]; then
	cat "$TMP/a2.out" "$TMP/b2.out"
	fail "part 2: an issuer failed (a deadlock between the customer and counter locks?)"
fi
state=$(sql -c "SELECT string_agg(id || ':' || number, ' ' ORDER BY id) FROM ar.invoice WHERE id >= 3")
[ "$state" = "3:INV-2026-000002 4:INV-2026-000004 5:INV-2026-000003" ] || fail "part 2: unexpected numbers: $state"
say "ok: no deadlock; B numbered after A's commit"

# Part 3: the same under REPEATABLE READ, where B's snapshot is taken before
# A commits.  B waits for the series, then numbers after A and counts A's
# invoice in the exposure, both read after the wait: without that B failed
# on the counter (40001), or passed the check on the room A had taken.
sql >/dev/null <<'SQL' || fail "setup of part 3 failed"
UPDATE ar.customer SET credit_limit = '1000.00 SEK' WHERE id = 6;
INSERT INTO ar.invoice (id, entity_id, customer_id, currency, issue_date) VALUES
	(6, 1, 6, 'SEK', '2026-11-04'), (7, 1, 6, 'SEK', '2026-11-04');
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_rate)
VALUES (6, 1, 'Konsult', 1, 500, 25), (7, 1, 'Konsult', 1, 500, 25);
SQL
race part3 "BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT ar.issue(6::bigint);
SELECT 'a3 issued', pg_sleep(3);
COMMIT;" 'a3 issued' "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM ar.invoice; SELECT ar.issue(7::bigint); COMMIT;"
[ "$RACE_WAITED" = yes ] || fail "part 3: session B did not wait for session A"
[ "$RACE_B_RC" -ne 0 ] || { cat "$TMP/part3.b"; fail "part 3: session B issued past the credit limit"; }
grep -qx 'ERROR:  customer C6 (Kund 6 AB) would exceed the credit limit: exposure 1250.00 SEK > limit 1000.00 SEK' \
	"$TMP/part3.b" || { cat "$TMP/part3.b"; fail "part 3: session B failed with another error"; }
state=$(sql -c "SELECT string_agg(id || ':' || status || ':' || coalesce(number, '-'), ' ' ORDER BY id) FROM ar.invoice WHERE id >= 6")
[ "$state" = "6:issued:INV-2026-000005 7:draft:-" ] || fail "part 3: unexpected invoice states: $state"
say "ok: REPEATABLE READ: B waited, then was refused counting A's invoice; A numbered INV-2026-000005"

# Parts 4 to 8: ar.issue derives terms, due date, reference and channel
# from the customer and entity as it first reads them, and renders the
# payload in its last statement.  Under READ COMMITTED that statement sees
# a party changed while ar.issue waited for the series: a serialization
# failure (40001), as the document would mix old and new (before: queued
# for the old channel with the new data; a payload that failed named the
# number that was rolled back).  A issues and keeps its transaction open; B
# issues and waits for the series; meanwhile CHANGE commits.
# channel_race LABEL A_ID B_ID CUSTOMER BEGIN CHANGE WANT: while B (for
# customer CUSTOMER, in a transaction begun with BEGIN) waits for the series,
# the statement CHANGE commits.  WANT is the channel B must then queue its
# document for, or the exact error B must fail with, leaving its draft a
# draft and no number taken.
channel_race() {
	local label=$1 a_id=$2 b_id=$3 cust=$4 begin=$5 change=$6 want=$7 a_pid b_pid b_sql b_rc state
	sql >/dev/null <<SQL || fail "$label: setup failed"
INSERT INTO ar.invoice (id, entity_id, customer_id, currency, issue_date, buyer_reference) VALUES
	($a_id, 1, 1, 'SEK', '2026-11-05', 'Ref $a_id'), ($b_id, 1, $cust, 'SEK', '2026-11-05', 'Ref $b_id');
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_rate)
VALUES ($a_id, 1, 'Konsult', 1, 100, 25), ($b_id, 1, 'Konsult', 1, 100, 25);
SQL
	sql >"$TMP/$label.a" 2>&1 <<SQL &
BEGIN;
SELECT ar.issue($a_id::bigint);
SELECT '$label open', pg_sleep(2);
COMMIT;
SQL
	a_pid=$!
	wait_open "$label open"
	b_sql="$begin; SELECT count(*) FROM ar.customer; SELECT ar.issue($b_id::bigint); COMMIT;"
	psql -X -q -At -v ON_ERROR_STOP=1 -d "$DB" -c "$b_sql" >"$TMP/$label.b" 2>&1 &
	b_pid=$!
	[ "$(lock_waited "$b_sql")" = yes ] || fail "$label: session B did not wait for the series"
	sql -c "$change" >/dev/null || fail "$label: the change failed: $change"
	wait "$a_pid" || { cat "$TMP/$label.a"; fail "$label: session A failed"; }
	wait "$b_pid" && b_rc=0 || b_rc=$?
	state=$(sql -c "SELECT string_agg(o.invoice_id || ':' || o.channel, ' ' ORDER BY o.invoice_id)
					  FROM ar.outbox o WHERE o.invoice_id IN ($a_id, $b_id)")
	if [[ $want != ERROR:* ]]; then
		[ "$b_rc" -eq 0 ] || { cat "$TMP/$label.b"; fail "$label: session B failed"; }
		[ "$state" = "$a_id:email $b_id:$want" ] || fail "$label: unexpected outbox channels: $state"
		say "ok: $label, $begin: B waited for the series, then issued its document, queued for $want"
		return
	fi
	[ "$b_rc" -ne 0 ] || fail "$label: session B issued, but should have failed with: $want"
	grep -qxF "$want" "$TMP/$label.b" || { cat "$TMP/$label.b"; fail "$label: session B failed with another error"; }
	[ "$state" = "$a_id:email" ] || fail "$label: unexpected outbox rows: $state"
	state=$(sql -c "SELECT status || ':' || coalesce(number, '-') FROM ar.invoice WHERE id = $b_id")
	[ "$state" = "draft:-" ] || fail "$label: B's draft is $state"
	state=$(sql -c "$(numbering_sql ar.invoice)")
	[ -z "$state" ] || fail "$label: numbering: $state"
	say "ok: $label, $begin: B waited for the series, then failed, its draft left a draft and no number taken: $want"
}
sql -c "UPDATE ar.customer SET credit_limit = NULL WHERE id = 1" >/dev/null || fail "setup of parts 4-8 failed"
channel_race part4 8 9 7 "BEGIN" "UPDATE ar.customer SET channel = 'print' WHERE id = 7" \
	"ERROR:  could not serialize access: customer C7 (Kund 7 AB) changed while ar.issue ran"
# Part 5: under REPEATABLE READ the document is derived and rendered from
# the transaction's snapshot alone, which still has the old channel: B
# issues as serialized before the change
channel_race part5 10 11 8 "BEGIN ISOLATION LEVEL REPEATABLE READ" \
	"UPDATE ar.customer SET channel = 'print' WHERE id = 8" email
channel_race part6 12 13 2 "BEGIN" \
	"UPDATE ar.customer SET channel = 'peppol', peppol_scheme = '0007', peppol_id = '5567321707' WHERE id = 2" \
	"ERROR:  could not serialize access: customer C2 (Kund 2 AB) changed while ar.issue ran"
# Part 7: another customer's change does not concern B, which issues
channel_race part7 14 15 3 "BEGIN" "UPDATE ar.customer SET channel = 'print' WHERE id = 4" email
# Part 8: the entity changes (here its reference scheme, which B's payment
# reference was derived from)
channel_race part8 16 17 3 "BEGIN" \
	"UPDATE ar.entity SET reference_scheme = 'rf' WHERE id = 1" \
	"ERROR:  could not serialize access: entity SE1 (Nordvind AB) changed while ar.issue ran"

# Part 9: no document mixes old and new.  For 8 s, 3 sessions flip customer
# 5 between (Kund T0, 10 days) and (Kund T1, 20 days) while 2 sessions issue
# for it, retrying 40001 (pgbench --max-tries=0).  Every issued document's
# payload must name the customer whose terms gave its due date.  (With a
# separate check before the rendering statement, 49 of 1 279 mixed.)
sql -c "UPDATE ar.customer SET name = 'Kund T0', payment_terms_days = 10, credit_limit = NULL WHERE id = 5" \
	-c "SELECT setval(pg_get_serial_sequence('ar.invoice', 'id'), 1000)" >/dev/null || fail "part 9: setup failed"
cat >"$TMP/flip.sql" <<'SQL'
\set r random(0, 1)
UPDATE ar.customer SET name = 'Kund T' || :r, payment_terms_days = 10 + 10 * :r WHERE id = 5;
SQL
cat >"$TMP/issue5.sql" <<'SQL'
BEGIN;
INSERT INTO ar.invoice (entity_id, customer_id, currency, issue_date, note) VALUES (1, 5, 'SEK', '2026-11-05', 'flip') RETURNING id \gset
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price, vat_rate) VALUES (:id, 1, 'Konsult', 1, 100, 25);
SELECT ar.issue(:id);
COMMIT;
SQL
pgbench -n -c 3 -j 3 -T 8 -f "$TMP/flip.sql" "$DB" >"$TMP/flip.log" 2>&1 &
flip_pid=$!
pgbench -n -c 2 -j 2 -T 8 --max-tries=0 --latency-limit=100000 -f "$TMP/issue5.sql" "$DB" >"$TMP/issue5.log" 2>&1 \
	|| { cat "$TMP/issue5.log"; fail "part 9: the issuers failed"; }
wait "$flip_pid" || { cat "$TMP/flip.log"; fail "part 9: the flipping sessions failed"; }
grep -q '^number of failed transactions: 0 ' "$TMP/issue5.log" || { cat "$TMP/issue5.log"; fail "part 9: issues failed"; }
state=$(sql -c "SELECT count(*) || ':' || count(*) FILTER (WHERE (o.payload LIKE '%Kund T0%') <> (i.due_date - i.issue_date = 10))
                  FROM ar.invoice i JOIN ar.outbox o ON o.invoice_id = i.id
                 WHERE i.note = 'flip' AND i.status = 'issued'")
[ "${state%%:*}" -gt 0 ] || fail "part 9: nothing was issued"
[ "${state#*:}" = 0 ] || fail "part 9: ${state#*:} of ${state%%:*} documents mix the old and the new customer"
state=$(sql -c "$(numbering_sql ar.invoice)")
[ -z "$state" ] || fail "part 9: numbering: $state"
say "ok: part 9: $(sql -c "SELECT count(*) FROM ar.invoice WHERE note = 'flip' AND status = 'issued'") documents issued while the customer flipped; none mixes old and new, and the numbers have no gap"
