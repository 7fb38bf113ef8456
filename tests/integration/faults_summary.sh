#!/usr/bin/env bash
# faults_summary.sh -- prints the table of faults x outcome that the
# fault-injection tests (faults_*.sh) appended to $C360_FAULTS_TABLE, one
# row per scenario; fails if a row lost an event or did not recover. It
# runs after them (ctest fixture cleanup), so `ctest -V` or
# `ctest --output-on-failure` shows the table at the end of a run.
set -euo pipefail
: "${C360_FAULTS_TABLE:?}"
if [ ! -s "$C360_FAULTS_TABLE" ]; then
    echo "no fault rows in $C360_FAULTS_TABLE (no faults_* test ran)"
    exit 0
fi
echo
echo "Fault injection: faults x outcome ($(grep -c '^FAULT |' "$C360_FAULTS_TABLE") scenarios)"
awk -F' [|] ' '/^FAULT \|/ {
        n++; for (i = 2; i <= NF; i++) { v = $i; if (i > 2) sub(/^(accepted|delivered|dlq|lost|recovered) /, "", v); c[n, i] = v; $i = v; if (length($i) > w[i]) w[i] = length($i) }
        if (NF > nf) nf = NF
    }
    END {
        split("fault|accepted|delivered|dlq (cause)|lost|recovered", h, "|")
        for (i = 2; i <= nf; i++) if (length(h[i - 1]) > w[i]) w[i] = length(h[i - 1])
        line = ""; sep = ""
        for (i = 2; i <= nf; i++) { line = line sprintf("| %-" w[i] "s ", h[i - 1]); sep = sep "|" sprintf("%" (w[i] + 2) "s", "") }
        gsub(/ /, "-", sep)
        print line "|"; print sep "|"
        for (r = 1; r <= n; r++) {
            line = ""
            for (i = 2; i <= nf; i++) line = line sprintf("| %-" w[i] "s ", c[r, i])
            print line "|"
        }
    }' "$C360_FAULTS_TABLE"
bad=$(grep '^FAULT |' "$C360_FAULTS_TABLE" | grep -v '| lost 0 | recovered yes$' || true)
if [ -n "$bad" ]; then
    echo "FAIL: scenarios that lost events or did not recover:"
    echo "$bad"
    exit 1
fi
echo "every accepted event delivered or dead-lettered with its cause; c360d recovered by itself each time"
