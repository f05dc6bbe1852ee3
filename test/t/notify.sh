#!/usr/bin/env bash
# test/t/notify.sh: NOTIFY ar_outbox fires at the commit of every transaction
# that writes outbox rows (CONTRACT.md §5), whoever writes them: ar.issue,
# ar.credit, an application's own INSERT.  Not before the commit, not after
# a rollback, not for a transaction that writes no outbox row.
#
# One psql session LISTENs and runs the statements; psql prints a
# notification after the statement whose commit delivered it.  The output,
# with the sender's PID blanked, must be exactly the expected text below.
set -euo pipefail
source "$(dirname "$0")/common.bash"
DB=ar_notify

test_cluster notify
setup_books
sql >/dev/null <<'SQL' || fail "setup of the drafts failed"
INSERT INTO ar.series (entity_id, code, kind, pattern) VALUES (1, 'CN', 'credit_note', 'CN-{N}');
INSERT INTO ar.invoice (entity_id, customer_id, currency) VALUES (1, 1, 'SEK'), (1, 2, 'SEK');
INSERT INTO ar.invoice_line (invoice_id, line_no, item_name, quantity, unit_price)
VALUES (1, 1, 'Konsult', 1, 100), (2, 1, 'Konsult', 2, 100);
SQL

psql -X -q -At -v ON_ERROR_STOP=1 -d "$DB" >"$TMP/out" 2>&1 <<'SQL' || { cat "$TMP/out"; fail "the session failed"; }
LISTEN ar_outbox;
SELECT 'issue, autocommit';
SELECT ar.issue(1::bigint);
SELECT 'issue, rolled back';
BEGIN;
SELECT ar.issue(2::bigint);
ROLLBACK;
SELECT 'no outbox row';
UPDATE ar.invoice SET note = 'ringt' WHERE id = 1;
SELECT 'credit';
SELECT ar.credit(1) > 0;
SELECT 'insert in a transaction';
BEGIN;
INSERT INTO ar.outbox (entity_id, customer_id, kind, channel, payload)
VALUES (1, 1, 'reminder', 'email', 'Påminnelse'), (1, 2, 'reminder', 'email', 'Påminnelse');
SELECT 'before commit';
COMMIT;
SELECT 'end';
SQL

cat >"$TMP/want" <<'EOF2'
issue, autocommit
INV-2026-000001
Asynchronous notification "ar_outbox" received from server process with PID N.
issue, rolled back
INV-2026-000002
no outbox row
credit
t
Asynchronous notification "ar_outbox" received from server process with PID N.
insert in a transaction
before commit
Asynchronous notification "ar_outbox" received from server process with PID N.
end
EOF2
sed -i "s/INV-$(date +%Y)-/INV-2026-/; s/with PID [0-9]*\./with PID N./" "$TMP/out"
if diff -u "$TMP/want" "$TMP/out"; then
	say "PASS: NOTIFY ar_outbox at each commit that wrote outbox rows, and only then"
else
	fail "the notifications differ from the expected ones (diff above)"
fi
