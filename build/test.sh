#!/usr/bin/env bash
# Runs every test of the repository: one `dotnet test` at the root (Microsoft.Testing.Platform, see global.json); every
# test project (as just built) again on the .NET 11 runtime by roll-forward (build/test-runtime.sh; NOLEAKS_SKIP_NET11=1
# leaves that out); the core, heap, FluentAssertions and adapter suites built for net8.0 on .NET 8 and 9
# (build/test-net8.sh; NOLEAKS_SKIP_NET8=1 leaves them out); the compatibility check of the packed packages
# (build/compat.sh; NOLEAKS_SKIP_COMPAT=1 leaves it out) and the samples on those packages (build/samples.sh; NOLEAKS_SKIP_SAMPLES=1
# leaves them out).
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet test --configuration Release "$@"
# The suites on the other runtimes run side by side, in two rounds (each mostly waits out grace periods, but three core
# suites at once, each reading threads' stacks, slowed those reads past their bound); each one's output is printed when
# it has ended, and any failure fails the whole run once its round has ended.
pids=()
logs=()
side() {
  local log
  log=$(mktemp)
  "$@" > "$log" 2>&1 &
  pids+=("$!")
  logs+=("$log")
}
round_end() {
  local failed=0 i
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || failed=1
    cat "${logs[$i]}"
    rm -f "${logs[$i]}"
  done
  pids=()
  logs=()
  [ "$failed" = 0 ] || { echo "a test run on another runtime failed (its output is above)" >&2; exit 1; }
}
on11() {
  # The heap project's two stress tests (about 60 s each: 1,000 snapshots under churn, 300 checks racing Task.Run) run
  # on .NET 10 only; every other heap test runs on both.
  local filters=()
  [ "$1" = NoLeaks.Heap.Tests ] && filters=(-class- NoLeaks.Heap.Tests.SnapshotUnderChurnTests -class- NoLeaks.Heap.Tests.WalkRaceTests)
  side env NOLEAKS_RUNTIME_NO_BUILD=1 bash build/test-runtime.sh 11.0.0 "tests/$1" "${filters[@]}"
}
net11=$([ "${NOLEAKS_SKIP_NET11:-}" != 1 ] && echo 1 || true)
net8=$([ "${NOLEAKS_SKIP_NET8:-}" != 1 ] && echo 1 || true)
[ -n "$net8" ] && NOLEAKS_NET8_RUNTIMES= bash build/test-net8.sh   # the build only, before anything runs beside it
# Not NoLeaks.Cli.Tests on .NET 11: the noleaks tool runs on .NET 10 where installed (compat.sh reads a .NET 11 process
# with it). The first (short) run lays the .NET 11 runtime out for the others.
[ -n "$net11" ] && NOLEAKS_RUNTIME_NO_BUILD=1 bash build/test-runtime.sh 11.0.0 tests/NoLeaks.FluentAssertions.Tests
if [ -n "$net11" ]; then
  for project in NoLeaks.Xunit.Tests NoLeaks.NUnit.Tests NoLeaks.Heap.Tests NoLeaks.Analyzers.Tests; do on11 "$project"; done
fi
net8on() {
  side env NOLEAKS_RUNTIME_NO_BUILD=1 NOLEAKS_NET8_RUNTIMES="$1" NOLEAKS_NET8_SUITES="$2" bash build/test-net8.sh
}
# The core, heap and FluentAssertions suites on one runtime, the adapter suites on the other, swapped in the second
# round.
[ -n "$net8" ] && net8on 8.0.34 "NoLeaks.Tests NoLeaks.Heap.Tests NoLeaks.FluentAssertions.Tests"
[ -n "$net8" ] && net8on 9.0.23 "NoLeaks.Xunit.Tests NoLeaks.NUnit.Tests"
round_end
# The compatibility check's packages are packed while round 2's suites run (they mostly wait out grace periods; no
# build runs beside the pack: the suites run the builds in place).
compat=$([ "${NOLEAKS_SKIP_COMPAT:-}" != 1 ] && echo 1 || true)
if [ -n "$compat" ]; then
  rm -rf artifacts/compat/packages
  mkdir -p artifacts/compat
  side bash -c 'build/pack.sh artifacts/compat/packages 0.0.0-compat > artifacts/compat/pack.log 2>&1 || { cat artifacts/compat/pack.log; exit 1; }'
fi
[ -n "$net11" ] && on11 NoLeaks.Tests
[ -n "$net8" ] && net8on 9.0.23 "NoLeaks.Tests NoLeaks.Heap.Tests NoLeaks.FluentAssertions.Tests"
[ -n "$net8" ] && net8on 8.0.34 "NoLeaks.Xunit.Tests NoLeaks.NUnit.Tests"
round_end
if [ -n "$compat" ]; then
  NOLEAKS_COMPAT_REUSE=1 bash build/compat.sh
fi
if [ "${NOLEAKS_SKIP_SAMPLES:-}" != 1 ]; then
  packages=()
  [ "${NOLEAKS_SKIP_COMPAT:-}" != 1 ] && packages=(artifacts/compat/packages)   # what compat.sh packed
  bash build/samples.sh --quiet "${packages[@]}"
fi
