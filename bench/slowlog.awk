# slowlog.awk -- redis-cli's formatted SLOWLOG GET output (not --raw) as
# one "usec command" line per entry, an EVALSHA as "evalsha:<sha 8>:<first
# key without the tenant's prefix>", which names the script: the C360_BENCH_SLOWLOG
# option of run_lead_e2e.sh. Entry: 1) id, 2) time, 3) usec, 4) the
# arguments, 5) client, 6) name; redis-cli right-aligns the numbers, so
# every index may carry leading spaces. A script's own commands are logged
# too (client "?:0"): their time is inside the script's as well.
/^ *[0-9]+\) +1\) \(integer\)/ { st = 1; next }
st == 1 && /^ +3\) +\(integer\)/ { us = $NF; next }
st == 1 && /^ +4\) +1\) "/ { c = tolower($NF); gsub(/"/, "", c); st = 2; next }
st == 2 {
    a = $NF; gsub(/"/, "", a)
    if (c != "evalsha") { print us, c; st = 0 } else { sha = substr(a, 1, 8); st = 3 }
    next
}
st == 3 { st = 4; next } # the number of keys
st == 4 {
    k = $NF; gsub(/"/, "", k); sub(/^c360:\{t:[^}]*\}:/, "", k)
    print us, "evalsha:" sha ":" k; st = 0
}
