#!/usr/bin/env bash
# Runs the sample test projects (samples/Shop: xunit v3, xunit v2, NUnit) with `dotnet test` against the packed NoLeaks
# packages, prints their output, and exits 0 only when every test that makes a common mistake failed with a NoLeaks
# report naming the method it leaves behind, and every fixed twin passed.
# samples.sh [--quiet] [package folder]   (default: build/pack.sh packs into artifacts/packages first). Logs:
# artifacts/samples/. --quiet prints the verdicts only (build/test.sh: the expected failures would read as the suite's).
set -euo pipefail
quiet=false
if [ "${1:-}" = --quiet ]; then
  quiet=true
  shift
fi
source_folder=""
[ -n "${1:-}" ] && source_folder="$(cd "$1" && pwd)"
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
repo="$(pwd)"
out="$repo/artifacts/samples"
mkdir -p "$out"

# The samples' nuget.config reads NoLeaks from artifacts/packages, where build/pack.sh puts it by default.
if [ -z "$source_folder" ]; then
  source_folder="$out/packages"
  rm -rf "$source_folder"
  build/pack.sh "$source_folder" > "$out/pack.log" 2>&1 || { cat "$out/pack.log"; exit 1; }
fi
version="$(ls "$source_folder" | sed -nE 's/^NoLeaks\.([0-9][0-9A-Za-z.+-]*)\.nupkg$/\1/p' | sort -V | tail -1)"
[ -n "$version" ] || { echo "no NoLeaks package in $source_folder" >&2; exit 1; }
packages="$repo/artifacts/packages"
if [ "$source_folder" != "$packages" ]; then
  mkdir -p "$packages"
  cp "$source_folder"/NoLeaks*.nupkg "$packages/"
fi

# A NuGet cache of their own without any earlier NoLeaks package: a stale one cannot stand in for this build's.
export NUGET_PACKAGES="$out/nuget-cache"
rm -rf "$NUGET_PACKAGES"/noleaks*

started=$SECONDS
{
  dotnet build samples/Shop/Shop.slnx -c Release "-p:NoLeaksVersion=$version"
  dotnet build samples/Shop/Shop.Tests.Xunit -c Release "-p:NoLeaksVersion=$version"
} > "$out/build.log" 2>&1 || { cat "$out/build.log"; exit 1; }
echo "samples: built against NoLeaks $version in $((SECONDS - started)) s"

# The tests that make a common mistake, and the method the report must name; every other test must pass.
leaks=(
  "OrderProcessorTests.Host_started_and_never_stopped|OrderProcessor.ExecuteAsync"
  "OrderQueueTests.Consumer_left_waiting_for_more_orders|OrderQueue.ConsumeAsync"
  "PriceRefresherTests.Refresher_never_disposed|PriceRefresher.RunAsync"
  "PriceClientTests.Call_abandoned_with_WaitAsync_keeps_retrying|RetryHandler.SendAsync"
)
total=8
projects=(
  "Shop.Tests.XunitV3|xunit v3, Microsoft.Testing.Platform"
  "Shop.Tests.Xunit|xunit v2, VSTest"
  "Shop.Tests.NUnit|NUnit, Microsoft.Testing.Platform"
)

verdicts=()
failures=0
for project in "${projects[@]}"; do
  IFS='|' read -r name runner <<< "$project"
  log="$out/$name.log"
  started=$SECONDS
  status=0
  (cd "samples/Shop/$name" && timeout 600 dotnet test -c Release --no-build) > "$log" 2>&1 || status=$?
  if [ "$quiet" = false ]; then
    printf '\n=== samples/Shop/%s (%s): dotnet test ===\n' "$name" "$runner"
    cat "$log"
  fi
  verdict=""
  if [ "$status" -eq 0 ]; then
    verdict="the run passed: no leak was caught"
  elif ! grep -qE "(total: $total\$|Total: +$total,)" "$log" || ! grep -qE "(failed: ${#leaks[@]}\$|Failed: +${#leaks[@]},)" "$log"; then
    verdict="expected $total tests with ${#leaks[@]} failures (the leaking tests), got another count"
  else
    for leak in "${leaks[@]}"; do
      IFS='|' read -r test method <<< "$leak"
      # The report of that test: from its first line to its "Allow it:" line.
      report="$(awk -v header="leaked async operations? from Shop\\.Tests\\.${test//./\\.} " \
        '$0 ~ "NoLeaks: [0-9]+ " header { on = 1 } on { print } on && /Allow it:/ { exit }' "$log")"
      if [ -z "$report" ]; then
        verdict="$test failed without a NoLeaks report"
        break
      elif ! grep -qE "(\] |awaited by +)${method//./\\.}( |\$)" <<< "$report"; then
        verdict="the report of $test does not name $method"
        break
      fi
    done
  fi
  [ -z "$verdict" ] && verdict="ok: ${#leaks[@]} leaks caught, each report naming its method; $((total - ${#leaks[@]})) fixed twins passed"
  [[ "$verdict" == ok:* ]] || failures=$((failures + 1))
  verdicts+=("$(printf '%-20s %4ss  %s' "$name" $((SECONDS - started)) "$verdict")")
done

[ "$quiet" = false ] && echo
printf '%s\n' "${verdicts[@]}"
if [ "$failures" -gt 0 ]; then
  echo "samples: $failures project(s) did not show what was expected (logs in $out)" >&2
  exit 1
fi
echo "samples: every leaking test failed with its report and every fixed twin passed"
