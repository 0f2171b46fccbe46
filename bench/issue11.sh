#!/usr/bin/env bash
# Runs every figure of issue 11 (PERFORMANCE.md, "Orleans 10.4.2 (issue 11)") once, one part after
# the other, with the load average before each part; logs go to ${OUT:-/tmp/issue11}/<pass>-<part>.log.
# The Orleans build is this work tree; the build it is compared with is 8028aee, built beside it:
#   git worktree add /tmp/old-build 8028aee
#   dotnet build /tmp/old-build/Silo -c Release && dotnet build /tmp/old-build/bench/Bench -c Release
# Usage: bench/issue11.sh [pass-name] [parts...]   parts: calls network memory endtoend kinesis kinesis-old failover
#        (all but kinesis-old by default; the old build's calls, network and memory run right after
#        the new one's; kinesis-old is the Kinesis bench on the old build's silo; E2E_ORDER=new,old
#        reverses the end-to-end order)
set -euo pipefail
cd "$(dirname "$0")/.."
pass=${1:-1}
shift || true
parts=("$@")
[ ${#parts[@]} -eq 0 ] && parts=(calls network memory endtoend kinesis failover)
out=${OUT:-/tmp/issue11}
old=${OLD:-/tmp/old-build}
mkdir -p "$out"

run() {
  local name=$1; shift
  echo "== $(date -u +%H:%M:%S) $name; load average $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/$pass-summary.log"
  "$@" > "$out/$pass-$name.log" 2>&1 || echo "   $name failed: exit $?" | tee -a "$out/$pass-summary.log"
}

for part in "${parts[@]}"; do
  case $part in
    calls)
      run calls dotnet bench/Bench/bin/Release/net10.0/Bench.dll calls
      run calls-old dotnet "$old/bench/Bench/bin/Release/net10.0/Bench.dll" calls --cpu-only ;;
    network)
      run network dotnet bench/Bench/bin/Release/net10.0/Bench.dll network
      run network-old dotnet "$old/bench/Bench/bin/Release/net10.0/Bench.dll" network ;;
    memory)
      run memory dotnet bench/Bench/bin/Release/net10.0/Bench.dll memory
      run memory-old dotnet "$old/bench/Bench/bin/Release/net10.0/Bench.dll" memory ;;
    endtoend)
      run endtoend dotnet bench/EndToEnd/bin/Release/net10.0/EndToEndBench.dll 15 4 1000 10000 warmup=5 silos=${E2E_ORDER:-old,new} ;;
    kinesis)
      run kinesis dotnet bench/Kinesis/bin/Release/net10.0/KinesisBench.dll ;;
    kinesis-old)
      run kinesis-old dotnet bench/Kinesis/bin/Release/net10.0/KinesisBench.dll silo="$old/Silo/bin/Release/net10.0/Analytics.Silo.dll" ;;
    failover)
      run failover dotnet bench/Kinesis/bin/Release/net10.0/KinesisBench.dll failover ;;
    *) echo "unknown part $part" >&2; exit 2 ;;
  esac
done
echo "== $(date -u +%H:%M:%S) done; load average $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/$pass-summary.log"
