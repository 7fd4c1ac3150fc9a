#!/usr/bin/env bash
# Runs the heap suite (tests/NoLeaks.Heap.Tests, which reads this process's heap in-process) again and again, looking
# for the rare native crash or hang of that reading (docs/reliability.md), alternately on .NET 10 and on .NET 11:
#   build/heap-soak.sh [runs]            (default 20; each run takes about a minute on 2 cores)
# NOLEAKS_SOAK_TIMEOUT=300               seconds after which a run counts as hung: its threads are captured with gdb
#                                        and dotnet-stack, then it is killed;
# NOLEAKS_SOAK_ENV="DOTNET_GCgen0size=0x10000"  variables for every run (this one: a GC every few allocations);
# NOLEAKS_RUNTIME_NO_BUILD=1             runs the build in place.
# Writes artifacts/soak/runs.log (one line per run) and, for a run that failed, crashed or hung, its output; a crash
# leaves a dump and the runtime's crash report (native stacks of every thread, JSON) beside it. Exits 1 when any run
# did not pass.
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
runs=${1:-20}
limit=${NOLEAKS_SOAK_TIMEOUT:-300}
extra=(${NOLEAKS_SOAK_ENV:-})
out="$PWD/artifacts/soak"
mkdir -p "$out"
dotnet="$(build/install-runtimes.sh)"
[ "${NOLEAKS_RUNTIME_NO_BUILD:-}" = 1 ] || dotnet build tests/NoLeaks.Heap.Tests --configuration Release > "$out/build.log" 2>&1 \
  || { cat "$out/build.log"; exit 1; }
suite="$PWD/tests/NoLeaks.Heap.Tests/bin/Release/net10.0/NoLeaks.Heap.Tests.dll"
tools="$PWD/artifacts/tools"
[ -x "$tools/dotnet-stack" ] || dotnet tool install --tool-path "$tools" dotnet-stack --version 10.0.750501 > /dev/null 2>&1 \
  || echo "dotnet-stack could not be installed: a hung run gets gdb's stacks only"
ten="$(ls "$(dirname "$dotnet")/shared/Microsoft.NETCore.App" | grep '^10\.' | sort -V | tail -1)"
bad=0
for run in $(seq 1 "$runs"); do
  for version in "$ten" 11.0.0; do
    name="run$run-$version"
    start=$(date +%s)
    env "${extra[@]}" DOTNET_ROOT="$(dirname "$dotnet")" DOTNET_DbgEnableMiniDump=1 DOTNET_DbgMiniDumpType=2 \
      DOTNET_EnableCrashReport=1 DOTNET_DbgMiniDumpName="$out/$name-%p.dmp" \
      "$dotnet" exec --fx-version "$version" "$suite" -noColor > "$out/$name.log" 2>&1 &
    pid=$!
    hung=0
    while kill -0 "$pid" 2> /dev/null; do
      if [ $(($(date +%s) - start)) -ge "$limit" ]; then
        hung=1
        gdb -p "$pid" -batch -ex "thread apply all bt" > "$out/$name-gdb.txt" 2>&1 || true
        [ -x "$tools/dotnet-stack" ] && { "$tools/dotnet-stack" report -p "$pid" > "$out/$name-dotnet-stack.txt" 2>&1 || true; }
        kill -9 "$pid" 2> /dev/null || true
        break
      fi
      sleep 1
    done
    status=0
    wait "$pid" 2> /dev/null || status=$?
    summary=$(grep -ao 'Total: [0-9]*, Errors: [0-9]*, Failed: [0-9]*' "$out/$name.log" | tail -1 || true)
    verdict=passed
    if [ "$hung" = 1 ]; then verdict="HUNG after ${limit} s (threads in $name-gdb.txt)"
    elif [ "$status" -ge 128 ]; then verdict="CRASHED: signal $((status - 128)) (dump and crash report in $out)"
    elif [ "$status" != 0 ]; then verdict="failed: exit $status"
    fi
    echo "$(date +%T) $name ${NOLEAKS_SOAK_ENV:-} $((($(date +%s) - start))) s: $verdict ${summary}" | tee -a "$out/runs.log"
    if [ "$verdict" = passed ]; then rm -f "$out/$name.log"; else bad=1; fi
  done
done
exit "$bad"
