#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time over a corpus seeded by a
# generator script; fails on any crash, leak, sanitizer report, timeout
# (a hang: 10 s on one input) or out-of-memory (2 GB). Prints the number of
# executions.
#   run_fuzzer.sh FUZZER SECONDS WORKDIR SEEDER [SEEDER ARGS...]
set -euo pipefail
fuzzer=$1 seconds=$2 work=$3 seeder=$4
shift 4
mkdir -p "$work/corpus" "$work/seeds" "$work/artifacts"
if [ -z "$(ls -A "$work/seeds")" ]; then
  "$seeder" "$work/seeds" "$@"
fi
log=$work/fuzz.log
status=0
"$fuzzer" "$work/corpus" "$work/seeds" -max_total_time="$seconds" \
  -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$work/artifacts/" > "$log" 2>&1 || status=$?
execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
echo "$(basename "$fuzzer"): $execs executions in ${seconds} s, exit $status"
if [ "$status" -ne 0 ]; then
  grep -m1 -B2 -A30 'ERROR:\|==ERROR\|runtime error\|deadly signal\|timeout after\|out-of-memory' "$log" || tail -40 "$log"
  ls "$work/artifacts"
  exit 1
fi
