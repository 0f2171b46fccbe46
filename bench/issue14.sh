#!/usr/bin/env bash
# The figures of issue 14 (PERFORMANCE.md, "Issue 14: throughput, query latency, freshness"), one
# part after the other, with the load average before each; logs go to ${OUT:-/tmp/issue14}/<part>.log.
# The build it compares with ("old") is fe4d9dc, the build before the source groups (36582fa, before
# any of issue 14's changes, works too), built beside this tree:
#   git worktree add /tmp/base-build fe4d9dc && dotnet build /tmp/base-build/Silo -c Release
# Usage: bench/issue14.sh [parts...]   parts: endtoend checkpoint groups kinesis kinesis8k (all but checkpoint by default)
#   endtoend    old and new build on the same load, 3 rounds, order reversed every other round
#   checkpoint  this build at a 1 s and at the 5 s embedded checkpoint, 2 rounds
#   groups      this build with 16, 64 (the default) and 256 source groups, 2 rounds
#   kinesis     AWS mode on kinesis-mock and dynalite: read rate against a raw GetRecords reader,
#               DynamoDB write items per event, freshness (sustained 2,000 events/s, twice)
#   kinesis8k   the same with the sustained phase at 8,000 events/s
# Each bench's last line is the JSON summary {"eventsPerSec", "baselinePerSec", ...}.
set -euo pipefail
cd "$(dirname "$0")/.."
parts=("$@")
[ ${#parts[@]} -eq 0 ] && parts=(endtoend groups kinesis kinesis8k)
out=${OUT:-/tmp/issue14}
old=${OLD:-/tmp/base-build}
mkdir -p "$out"
dotnet build bench/EndToEnd -c Release -v q > /dev/null
dotnet build bench/Kinesis -c Release -v q > /dev/null
dotnet build Silo -c Release -v q > /dev/null

run() {
  local name=$1; shift
  echo "== $(date -u +%H:%M:%S) $name; load average $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/summary.log"
  "$@" > "$out/$name.log" 2>"$out/$name.err" || echo "   $name failed: exit $?" | tee -a "$out/summary.log"
  tail -1 "$out/$name.log" | tee -a "$out/summary.log"
}

for part in "${parts[@]}"; do
  case $part in
    endtoend)
      run endtoend dotnet bench/EndToEnd/bin/Release/net10.0/EndToEndBench.dll seconds=12 warmup=3 rounds=3 silos=old,new \
        old="$old/Silo/bin/Release/net10.0/Analytics.Silo.dll" ;;
    checkpoint)
      E2E_SILO_ARGS_one="--Streams:CheckpointInterval=00:00:01 --Analytics:FlushInterval=00:00:01" \
        run checkpoint dotnet bench/EndToEnd/bin/Release/net10.0/EndToEndBench.dll seconds=12 warmup=3 rounds=2 silos=one,new ;;
    groups)
      E2E_SILO_ARGS_g16="--Analytics:SourceGroups=16" E2E_SILO_ARGS_g256="--Analytics:SourceGroups=256" \
        run groups dotnet bench/EndToEnd/bin/Release/net10.0/EndToEndBench.dll seconds=12 warmup=3 rounds=2 silos=g16,new,g256 ;;
    kinesis)
      Tests/Emulators/install.sh > /dev/null
      run kinesis dotnet bench/Kinesis/bin/Release/net10.0/KinesisBench.dll events=100000 sources=1000 shards=4 rate=2000 seconds=70
      run kinesis-2 dotnet bench/Kinesis/bin/Release/net10.0/KinesisBench.dll events=100000 sources=1000 shards=4 rate=2000 seconds=70 ;;
    kinesis8k)
      Tests/Emulators/install.sh > /dev/null
      run kinesis8k dotnet bench/Kinesis/bin/Release/net10.0/KinesisBench.dll events=100000 sources=1000 shards=4 rate=8000 seconds=60 ;;
    *) echo "unknown part $part" >&2; exit 2 ;;
  esac
done
