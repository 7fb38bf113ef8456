# bench_lib.sh -- helpers every bench/run_*.sh shares (sourced, bash):
# reading JSON lines, medians, times, and the CPU and memory of process
# trees from /proc. One definition each, so that every scenario computes
# its figures the same way.

# b_now_ms -- wall clock, Unix milliseconds.
b_now_ms() { date +%s%3N; }

# b_jnum JSON NAME -- the first number member NAME of a one-line JSON text
# (negative numbers too), or nothing.
b_jnum() { grep -o "\"$2\":-\?[0-9.]*" <<<"$1" | head -n 1 | cut -d: -f2; }

# b_ms US -- microseconds as milliseconds with two decimals.
b_ms() { awk -v u="$1" 'BEGIN{printf "%.2f", u / 1000}'; }

# b_median [EMPTY] -- the median of the numbers on stdin (the mean of the
# two middle ones, two decimals, for an even count); EMPTY (default nan)
# when there are none.
b_median() {
    sort -n | awk -v e="${1:-nan}" '{v[NR] = $1}
        END {if (NR == 0) print e; else if (NR % 2) print v[(NR + 1) / 2];
             else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}

# b_tree_pids PID -- PID and every process below it.
b_tree_pids() {
    local c
    echo "$1"
    for c in $(ps -o pid= --ppid "$1" || true); do b_tree_pids "$c"; done
}

# b_cpu PID... -- "PID TICKS" per line: CPU time used so far (user +
# system, clock ticks; the fields after the command name's ")" -- which
# may hold spaces -- are counted), for each PID still there.
b_cpu() {
    local p
    for p in "$@"; do
        awk -v p="$p" '{sub(/^.*\) /, ""); print p, $12 + $13}' "/proc/$p/stat" 2>/dev/null || true
    done
}

# b_cpu_sum PID... -- the ticks of b_cpu, summed.
b_cpu_sum() { b_cpu "$@" | awk '{s += $2} END {print s + 0}'; }

# b_us_per TICKS0 TICKS1 N -- the CPU between two b_cpu_sum readings, in
# microseconds per one of N (requests, leads...); 0 when N is 0.
b_us_per() {
    awk -v a="$1" -v b="$2" -v n="$3" -v hz="$(getconf CLK_TCK)" \
        'BEGIN{printf "%.2f", (n > 0 ? (b - a) / hz * 1e6 / n : 0)}'
}

# b_hwm PID -- peak RSS (VmHWM) in kB, or 0 when gone.
b_hwm() { awk '/^VmHWM:/{print $2; f=1} END{if (!f) print 0}' "/proc/$1/status" 2>/dev/null || echo 0; }
