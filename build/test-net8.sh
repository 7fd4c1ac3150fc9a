#!/usr/bin/env bash
# Builds the core, the heap, the FluentAssertions and the adapter suites for net8.0 (tests/<suite>.Net8, with the
# net8.0 builds of the adapters' fixture programs: the builds of NoLeaks that .NET 8 and .NET 9 test projects get) and
# runs them on the .NET 8 and on the .NET 9 runtime that build/install-runtimes.sh lays out (Linux x64); a fixture
# program runs on the runtime of its suite:
#   build/test-net8.sh [arguments for the xunit v3 programs, such as -class …]
# NOLEAKS_NET8_RUNTIMES="8.0.34" runs them on the runtimes named there only (empty: none, the build only);
# NOLEAKS_NET8_SUITES="NoLeaks.Tests" runs only the suites named there (default: NoLeaks.Tests NoLeaks.Heap.Tests
# NoLeaks.FluentAssertions.Tests NoLeaks.Xunit.Tests NoLeaks.NUnit.Tests);
# NOLEAKS_RUNTIME_NO_BUILD=1 runs the builds already in place. The heap suite's two stress tests (about a minute each)
# run on .NET 10 only, as on .NET 11 (build/test.sh). See docs/reliability.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet="$(build/install-runtimes.sh)"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
suites=(${NOLEAKS_NET8_SUITES-NoLeaks.Tests NoLeaks.Heap.Tests NoLeaks.FluentAssertions.Tests NoLeaks.Xunit.Tests NoLeaks.NUnit.Tests})
if [ "${NOLEAKS_RUNTIME_NO_BUILD:-}" != 1 ]; then
  for suite in "${suites[@]}"; do
    dotnet build "tests/$suite.Net8" --configuration Release > "$log" 2>&1 || { cat "$log"; exit 1; }
  done
fi
# A process that dies of a signal leaves a dump in artifacts/crash (the heap suite reads the runtime in-process through
# its data access layer, where a crash has been seen under load on .NET 8) and runs once more: the crash is said in
# the output, and the suite must then pass.
crashes="$PWD/artifacts/crash"
config="$(mktemp --suffix=.runtimeconfig.json)"
trap 'rm -f "$log" "$config"' EXIT
for version in ${NOLEAKS_NET8_RUNTIMES-8.0.34 9.0.23}; do
  for suite in "${suites[@]}"; do
    # Every framework the suite asks for (.NET's, and ASP.NET Core's where it has hosted-app tests) in this version:
    # --fx-version would name .NET's alone, which ASP.NET Core 8's own reference to .NET 8 then contradicts.
    sed -E 's/("version": *")8\.0\.[0-9]+"/\1'"$version"'"/' "tests/$suite.Net8/bin/Release/net8.0/$suite.runtimeconfig.json" > "$config"
    filters=()
    [ "$suite" = NoLeaks.Heap.Tests ] && filters=(-class- NoLeaks.Heap.Tests.SnapshotUnderChurnTests -class- NoLeaks.Heap.Tests.WalkRaceTests)
    for attempt in 1 2; do
      echo "$suite, net8.0 build, on .NET $version"
      mkdir -p "$crashes"
      status=0
      DOTNET_ROOT="$(dirname "$dotnet")" DOTNET_DbgEnableMiniDump=1 DOTNET_DbgMiniDumpType=2 \
        DOTNET_DbgMiniDumpName="$crashes/$suite-$version-%p.dmp" "$dotnet" exec --runtimeconfig "$config" \
        "tests/$suite.Net8/bin/Release/net8.0/$suite.dll" "${filters[@]}" "$@" || status=$?
      if [ "$status" -lt 128 ] || [ "$attempt" = 2 ]; then
        [ "$status" = 0 ] || exit "$status"
        break
      fi
      echo "CRASH: $suite on .NET $version died of signal $((status - 128)) (dump in $crashes); running it once more"
    done
  done
done
