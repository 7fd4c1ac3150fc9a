#!/usr/bin/env bash
# Compatibility and footprint check of the packed packages, as a user installs them: test projects of each supported
# framework version and target framework restore NoLeaks from a package folder (no project reference), and
#  - a leaking test fails with the report, a clean test passes, the heap source (ClrMD inside NoLeaks) explains a leak,
#    a delegate blocked on its thread is reported with its blocking call (NoLeaks.Stacks.dll inside NoLeaks);
#  - adding NoLeaks changes the resolved version of no package the project resolves without it, and puts no
#    Azure, MSAL, NETCore.Client or AntiSSRF assembly in the output;
#  - an unsupported version or the wrong xunit adapter fails the build with a message naming what to use;
#  - the NoLeaks.Cli package installs as a local tool, `dotnet noleaks merge` joins two reports, and `dotnet noleaks
#    stacks` reads the pending work of a .NET 8 and a .NET 11 process.
# Run by build/test.sh; alone: build/compat.sh [consumer name … | tool]. Logs: artifacts/compat/logs/.
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
repo="$(pwd)"
version=0.0.0-compat

# Each consumer: name | target framework | packages (id=version …) | NoLeaks package | expected: report, or the
# error code its build must fail with. report-without-heap: the heap check is left out (xunit 2.4.2 on .NET 8: it
# exceeded its 120 s timeout in two runs of three; the heap source on .NET 8 is checked by the other net8.0 consumers).
# report-before-disposal: xunit v3 3.x, checked before the test class is disposed, so the work that Dispose stops
# (DisposeTests in tests/Compatibility/Xunit) fails its test as well.
consumers=(
  "nunit-4.1-net8|net8.0|NUnit=4.1.0 NUnit3TestAdapter=5.2.0 Microsoft.NET.Test.Sdk=17.14.1 Microsoft.Extensions.Hosting.Abstractions=6.0.0 Microsoft.Extensions.Logging.Abstractions=6.0.0|NoLeaks.NUnit|report"
  "nunit-4.3.2-net10|net10.0|NUnit=4.3.2 NUnit3TestAdapter=5.2.0 Microsoft.NET.Test.Sdk=17.14.1|NoLeaks.NUnit|report"
  "nunit-5.0-net9|net9.0|NUnit=5.0.0 NUnit3TestAdapter=5.2.0 Microsoft.NET.Test.Sdk=17.14.1|NoLeaks.NUnit|report"
  "xunit-2.4.2-net8|net8.0|xunit=2.4.2 xunit.runner.visualstudio=2.4.5 Microsoft.NET.Test.Sdk=17.14.1|NoLeaks.Xunit|report-without-heap"
  "xunit-2.9.3-net10|net10.0|xunit=2.9.3 xunit.runner.visualstudio=3.1.4 Microsoft.NET.Test.Sdk=17.14.1|NoLeaks.Xunit|report"
  "xunit-2.9.3-net9|net9.0|xunit=2.9.3 xunit.runner.visualstudio=3.1.4 Microsoft.NET.Test.Sdk=17.14.1|NoLeaks.Xunit|report"
  "xunit.v3-4.0.2-net9|net9.0|xunit.v3=4.0.2|NoLeaks.XunitV3|report"
  "xunit.v3-4.0.2-net8|net8.0|xunit.v3=4.0.2|NoLeaks.XunitV3|report"
  "xunit.v3-4.0.2-net10|net10.0|xunit.v3=4.0.2|NoLeaks.XunitV3|report"
  "xunit.v3-4.0.2-net10-on-net11|net10.0|xunit.v3=4.0.2|NoLeaks.XunitV3|report"
  "xunit-2.9.3-net10-on-net11|net10.0|xunit=2.9.3 xunit.runner.visualstudio=3.1.4 Microsoft.NET.Test.Sdk=17.14.1|NoLeaks.Xunit|report"
  "nunit-4.3.2-net10-on-net11|net10.0|NUnit=4.3.2 NUnit3TestAdapter=5.2.0 Microsoft.NET.Test.Sdk=17.14.1|NoLeaks.NUnit|report"
  "xunit.v3-3.2.0-net8|net8.0|xunit.v3=3.2.0|NoLeaks.XunitV3|report-before-disposal"
  "xunit.v3-3.2.2-net10|net10.0|xunit.v3=3.2.2|NoLeaks.XunitV3|report-before-disposal"
  "xunit.v3-2.0.3|net10.0|xunit.v3=2.0.3|NoLeaks.XunitV3|NOLEAKS102"
  "xunit-2.9.3-with-v3-adapter|net10.0|xunit=2.9.3 xunit.runner.visualstudio=3.1.4 Microsoft.NET.Test.Sdk=17.14.1|NoLeaks.XunitV3|NOLEAKS101"
  "xunit.v3-4.0.2-with-v2-adapter|net10.0|xunit.v3=4.0.2|NoLeaks.Xunit|NOLEAKS101"
  "nunit-3.14|net10.0|NUnit=3.14.0 NUnit3TestAdapter=5.2.0 Microsoft.NET.Test.Sdk=17.14.1|NoLeaks.NUnit|NU1605"
  "xunit-2.4.1|net10.0|xunit=2.4.1 xunit.runner.visualstudio=2.4.5 Microsoft.NET.Test.Sdk=17.14.1|NoLeaks.Xunit|NU1107"
)
# Microsoft.Extensions.* assemblies may be the project's own: that their versions stay is the resolved-package check.
forbidden='^(Azure\.|Microsoft\.Identity|Microsoft\.Diagnostics\.NETCore\.Client|Microsoft\.Security\.AntiSSRF)'

out="$repo/artifacts/compat"
logs="$out/logs"
work="$out/work"
packages="$out/packages"
rm -rf "$logs" "$work"
mkdir -p "$logs" "$work"

dotnet="$(build/install-runtimes.sh)"
# Test hosts (apphosts) find the .NET 8 and 9 runtimes there too.
export DOTNET_ROOT="$(dirname "$dotnet")"
# NOLEAKS_COMPAT_REUSE=1 tests the packages already in artifacts/compat/packages (version 0.0.0-compat): those of the
# previous run, while changing only the consumers, or those build/test.sh packed beside its last test round.
if [ "${NOLEAKS_COMPAT_REUSE:-}" != 1 ] || [ ! -d "$packages" ]; then
  rm -rf "$packages"
  build/pack.sh "$packages" "$version" > "$logs/pack.log" 2>&1 || { cat "$logs/pack.log"; exit 1; }
fi
# The consumers' own NuGet cache, without any earlier NoLeaks package: a stale one cannot stand in for this build's.
export NUGET_PACKAGES="$out/nuget-cache"
rm -rf "$NUGET_PACKAGES"/noleaks*

# Outside the repository's Directory.Build.props, Directory.Packages.props and global.json: as in a user's repository.
build/consumer-folder.sh "$work" "$packages"

resolved() { grep -oE '"[A-Za-z0-9_.-]+/[0-9][A-Za-z0-9_.+-]*": \{' "$1/obj/project.assets.json" | tr -d '"{: ' | sort -u; }

# One consumer: its verdict line goes to $logs/<name>.verdict. The consumers run two at a time (each mostly waits on
# restores, builds and grace periods); NOLEAKS_COMPAT_JOBS sets how many.
check_consumer() {
  local name tfm references adapter expected
  IFS='|' read -r name tfm references adapter expected <<< "$consumer"
  dir="$work/$name"
  log="$logs/$name.log"
  mkdir -p "$dir"
  sources="$repo/tests/Compatibility/Xunit/*.cs"
  [[ "$adapter" == NoLeaks.NUnit ]] && sources="$repo/tests/Compatibility/NUnit/*.cs"
  {
    echo '<Project Sdk="Microsoft.NET.Sdk">'
    echo "  <PropertyGroup><TargetFramework>$tfm</TargetFramework><ImplicitUsings>enable</ImplicitUsings><Nullable>enable</Nullable><IsPackable>false</IsPackable><IsTestProject>true</IsTestProject></PropertyGroup>"
    [[ "$references" == *xunit.v3=* ]] && echo '  <PropertyGroup><OutputType>Exe</OutputType></PropertyGroup>'
    [ "$expected" = report-without-heap ] && echo '  <PropertyGroup><DefineConstants>$(DefineConstants);WITHOUT_HEAP_CHECK</DefineConstants></PropertyGroup>'
    echo '  <ItemGroup>'
    for reference in $references; do echo "    <PackageReference Include=\"${reference%%=*}\" Version=\"${reference#*=}\" />"; done
    echo "    <PackageReference Include=\"$adapter\" Version=\"$version\" Condition=\"'\$(WithoutNoLeaks)' != 'true'\" />"
    echo "    <Compile Include=\"$sources;$repo/tests/Compatibility/HeapCheck.cs;$repo/tests/Compatibility/StackCheck.cs\" Condition=\"'\$(WithoutNoLeaks)' != 'true'\" />"
    echo '  </ItemGroup>'
    echo '</Project>'
  } > "$dir/$name.csproj"

  # VSTest starts its test host with the SDK's own dotnet unless told otherwise: this one has the .NET 8 and 9 runtimes.
  test_arguments=()
  [[ "$references" == *Microsoft.NET.Test.Sdk=* ]] && test_arguments=(-- "RunConfiguration.DotNetHostPath=$dotnet")
  # …-on-net11: the net10.0 build on the .NET 11 runtime, as a roll-forward puts it there; a passing test checks the
  # runtime's major version (NOLEAKS_COMPAT_RUNTIME_MAJOR). VSTest hands the variables to its test host from run settings.
  run_environment=()
  settings_arguments=()
  if [[ "$name" == *-on-net11 ]]; then
    run_environment=(DOTNET_ROLL_FORWARD=LatestMajor NOLEAKS_COMPAT_RUNTIME_MAJOR=11)
    printf '%s\n' '<RunSettings><RunConfiguration><EnvironmentVariables>' \
      '<DOTNET_ROLL_FORWARD>LatestMajor</DOTNET_ROLL_FORWARD><NOLEAKS_COMPAT_RUNTIME_MAJOR>11</NOLEAKS_COMPAT_RUNTIME_MAJOR>' \
      '</EnvironmentVariables></RunConfiguration></RunSettings>' > "$dir/net11.runsettings"
    settings_arguments=(--settings "$dir/net11.runsettings")
  fi

  started=$SECONDS
  verdict=""
  # The tests of tests/Compatibility: NUnit's three pass, xunit's four (one without the heap check; one fewer on 3.x).
  passing=3 failing=1
  [[ "$adapter" != NoLeaks.NUnit ]] && passing=4
  [ "$expected" = report-without-heap ] && passing=3
  [ "$expected" = report-before-disposal ] && passing=3 failing=2
  if [[ "$expected" != report* ]]; then
    if (cd "$dir" && "$dotnet" build -c Release) > "$log" 2>&1; then
      verdict="built, but $expected was expected"
    elif ! grep -q "error $expected" "$log"; then
      verdict="failed without $expected (see $log)"
    fi
    [ -z "$verdict" ] && verdict="ok: $(grep -oE "error $expected: [^[]*" "$log" | head -1)"
  else
    (cd "$dir" && "$dotnet" restore -p:WithoutNoLeaks=true) > "$log" 2>&1 && resolved "$dir" | grep -v '^NoLeaks' > "$dir/without.txt"
    (cd "$dir" && "$dotnet" restore) >> "$log" 2>&1 && resolved "$dir" | grep -v '^NoLeaks' > "$dir/with.txt"
    status=0
    output="$dir/bin/Release/$tfm"
    if [[ "$references" == *xunit.v3=* ]]; then
      # A Microsoft.Testing.Platform app run by this dotnet (`dotnet test` would start it with the SDK's own).
      { (cd "$dir" && "$dotnet" build -c Release --no-restore) && env "${run_environment[@]}" timeout 600 "$dotnet" "$output/$name.dll"; } >> "$log" 2>&1 || status=$?
    else
      (cd "$dir" && timeout 600 "$dotnet" test -c Release --no-restore "${settings_arguments[@]}" "${test_arguments[@]}") >> "$log" 2>&1 || status=$?
    fi
    # xunit v3 4.0 or later checks after disposal through the fixture of NoLeaks.XunitV3.Lifecycle.dll, which the package
    # references only there; on 3.x the attribute checks alone (an assembly built against 4.0 does not load with 3.x).
    lifecycle=absent expected_lifecycle=absent
    [ -e "$output/NoLeaks.XunitV3.Lifecycle.dll" ] && lifecycle=present
    [[ "$adapter" == NoLeaks.XunitV3 && "$references" =~ xunit\.v3=([0-9]+) ]] && [ "${BASH_REMATCH[1]}" -ge 4 ] && expected_lifecycle=present
    if ! diff "$dir/without.txt" "$dir/with.txt" >> "$log"; then
      verdict="adding $adapter changed resolved packages (diff in $log)"
    elif grep -E "warning (MSB3277|NU1608)" "$log" >> "$log.warnings"; then
      verdict="the build warns of an assembly or package version conflict (see $log.warnings)"
    elif [ "$lifecycle" != "$expected_lifecycle" ]; then
      verdict="NoLeaks.XunitV3.Lifecycle.dll is $lifecycle in the output, expected $expected_lifecycle"
    elif ls "$output" | grep -E "$forbidden" >> "$log"; then
      verdict="output holds assemblies NoLeaks must not bring (listed in $log)"
    elif [[ "$name" == *-on-net11 && "$references" == *xunit.v3=* ]] && ! grep -q "64-bit .NET 11\." "$log"; then
      verdict="did not run on .NET 11 (see $log)"
    elif [ "$status" -eq 0 ]; then
      verdict="the leaking test passed (see $log)"
    elif ! grep -q "NoLeaks: 1 leaked async operation from .*Leaks" "$log"; then
      verdict="no leak report in the output (see $log)"
    elif [ "$expected" = report-before-disposal ] && ! grep -q "NoLeaks: 1 leaked async operation from .*DisposeTests" "$log"; then
      verdict="the work Dispose stops was not reported before disposal (see $log)"
    elif ! grep -qE "Failed: +$failing, Passed: +$passing,|Total: $((passing + failing)), Errors: 0, Failed: $failing," "$log"; then
      verdict="not exactly the leaking test(s) failed (see $log)"
    else
      verdict="ok: leak reported, $passing test(s) passed, $(wc -l < "$dir/with.txt") packages unchanged, $(ls "$output" | grep -c '\.dll$') assemblies, $(du -sm "$output" | cut -f1) MB"
    fi
  fi
  printf '%-32s %4ss  %s\n' "$name" $((SECONDS - started)) "$verdict" > "$logs/$name.verdict"
}

failures=0
selected=("$@")
names=()
for consumer in "${consumers[@]}"; do
  name=${consumer%%|*}
  if [ "${#selected[@]}" -gt 0 ] && [[ ! " ${selected[*]} " == *" $name "* ]]; then continue; fi
  while [ "$(jobs -rp | wc -l)" -ge "${NOLEAKS_COMPAT_JOBS:-2}" ]; do wait -n || true; done
  check_consumer "$consumer" &
  names+=("$name")
done
wait
for name in "${names[@]}"; do
  verdict="$(cat "$logs/$name.verdict" 2>/dev/null || printf '%-32s %4ss  %s' "$name" "?" "ended without a verdict (see $logs/$name.log)")"
  echo "$verdict"
  if [[ "$verdict" != *"s  ok: "* ]]; then
    failures=$((failures + 1))
    # CI keeps only what is printed: the failed tests and the end of the log say why.
    echo "---- $name: failed tests and the last 60 lines of $logs/$name.log"
    grep -E "^\s*(Failed|failed) |\[FAIL\]|Assert|NoLeaks warning" "$logs/$name.log" | head -40 || true
    tail -n 60 "$logs/$name.log" || true
    echo "---- end of $name"
  fi
done

# The noleaks command as the README's workflow uses it: installed from the package folder as a local tool (a tool
# manifest), `dotnet noleaks merge` joins the reports of two test processes. GitHub Actions variables are unset: the
# command would otherwise annotate this CI run.
report() { # report <assembly> <tests checked> <pid> <leak JSON>…
  local assembly=$1 checked=$2 pid=$3 leaks
  shift 3
  leaks=$(IFS=,; echo "$*")
  echo "{\"version\":1,\"runs\":[{\"assembly\":\"$assembly\",\"testsChecked\":$checked,\"startedAt\":\"2026-12-01T16:20:00.0000000+00:00\",\"processId\":$pid}],\"leaks\":[$leaks]}"
}
leak() { # leak <test> <file> <line> <method>
  echo "{\"test\":\"$1\",\"action\":\"fail\",\"kind\":\"AsyncMethod\",\"method\":\"$4\",\"methodFullName\":\"Shop.$4\",\"file\":\"$2\",\"line\":$3,\"waitingOn\":\"TaskCompletionSource.Task\",\"createdBy\":\"test $1\",\"count\":1,\"chain\":[]}"
}
if [ "${#selected[@]}" -eq 0 ] || [[ " ${selected[*]} " == *" tool "* ]]; then
  dir="$work/tool"
  log="$logs/tool.log"
  started=$SECONDS
  mkdir -p "$dir/reports" "$dir/.config"
  echo '{ "version": 1, "isRoot": true, "tools": {} }' > "$dir/.config/dotnet-tools.json"
  report Shop.Tests 10 101 "$(leak Shop.Tests.OrderTests.Saves_order src/Shop/OrderQueue.cs 43 OrderQueue.PumpAsync)" \
    "$(leak Shop.Tests.MailTests.Sends src/Shop/Mailer.cs 18 Mailer.SendAsync)" > "$dir/reports/a.json"
  report Shop.Api.Tests 5 202 "$(leak Shop.Api.Tests.OrderApiTests.Posts src/Shop/OrderQueue.cs 43 OrderQueue.PumpAsync)" > "$dir/reports/b.json"
  expected="NoLeaks: 3 of 15 tests left async work behind
     2 tests  src/Shop/OrderQueue.cs:43  OrderQueue.PumpAsync, suspended
     1 test   src/Shop/Mailer.cs:18  Mailer.SendAsync, suspended"
  status=0
  # A CLI home of its own: the dotnet CLI caches which folder a restored local tool runs from per package version in
  # ~/.dotnet/toolResolverCache, and a cache entry of an earlier run (same version, another folder) would be used.
  export DOTNET_CLI_HOME="$dir/home"
  { (cd "$dir" && "$dotnet" tool install NoLeaks.Cli --local --version "$version" && "$dotnet" tool restore) \
    && (cd "$dir" && env -u GITHUB_ACTIONS -u GITHUB_STEP_SUMMARY "$dotnet" noleaks merge reports --output merged.json > console.txt); } > "$log" 2>&1 || status=$?
  unset DOTNET_CLI_HOME
  cat "$dir/console.txt" >> "$log" 2>/dev/null || true
  if [ "$status" -ne 0 ]; then
    verdict="installing or running the tool failed with $status (see $log)"
  elif [ "$(cat "$dir/console.txt")" != "$expected" ]; then
    verdict="the merge printed another summary (see $log)"
  elif [ "$(grep -c '"test": ' "$dir/merged.json")" != 3 ] || [ "$(grep -c '"assembly": ' "$dir/merged.json")" != 2 ] \
    || ! grep -q '"version": 1' "$dir/merged.json"; then
    verdict="merged.json does not hold both reports' runs and leaks (see $dir/merged.json)"
  else
    verdict="ok: installed as a local tool, merged 2 reports (2 runs, 3 leaks)"
  fi
  [[ "$verdict" == ok:* ]] || failures=$((failures + 1))
  printf '%-32s %4ss  %s\n' "NoLeaks.Cli" $((SECONDS - started)) "$verdict"

  # The installed tool reads a process of the oldest and the newest runtime: tests/TestTargets/AsyncStacksTarget, built
  # for .NET 8 and run on .NET 8 and (rolled forward) on .NET 11; `noleaks stacks --folded` must print its three stacks,
  # the blocked thread's with the call it is blocked in.
  target="$work/stacks-target"
  source="$repo/tests/TestTargets/AsyncStacksTarget/Program.cs"
  mkdir -p "$target"
  echo '<Project Sdk="Microsoft.NET.Sdk"><PropertyGroup><OutputType>Exe</OutputType><TargetFramework>net8.0</TargetFramework><ImplicitUsings>enable</ImplicitUsings><Nullable>enable</Nullable><LangVersion>latest</LangVersion></PropertyGroup></Project>' > "$target/AsyncStacksTarget.csproj"
  cp "$source" "$target/Program.cs"
  line() { grep -n "// await: $1\$" "$source" | cut -d: -f1; }
  expected_stacks="Readers.ReadLoopAsync (Program.cs:$(line reader));waiting on ChannelReader<int>.ReadAsync() on a channel nobody writes to or completes 10
Waiters.OuterAsync (Program.cs:$(line outer));Waiters.MiddleAsync (Program.cs:$(line middle));Waiters.InnerAsync (Program.cs:$(line inner));waiting on TaskCompletionSource<int>.Task 3
Program.Main (lambda) (Program.cs:$(line blocked));waiting on ManualResetEventSlim.Wait() at Program.cs:$(line blocked) (its thread is blocked) 1"
  (cd "$target" && "$dotnet" build -c Release) > "$logs/stacks-target.log" 2>&1 || echo "building $target failed (see $logs/stacks-target.log)"
  for runtime in 8 11; do
    started=$SECONDS
    log="$logs/tool-stacks-net$runtime.log"
    roll=()
    [ "$runtime" = 11 ] && roll=(DOTNET_ROLL_FORWARD=LatestMajor)
    rm -f "$target/in"
    mkfifo "$target/in"
    # The target exits at the end of its standard input: the fifo, held open until the read is done.
    env "${roll[@]}" "$dotnet" "$target/bin/Release/net8.0/AsyncStacksTarget.dll" < "$target/in" > "$target/out-$runtime.txt" 2>&1 &
    target_pid=$!
    exec 3> "$target/in"
    for _ in $(seq 1 300); do grep -q '^ready ' "$target/out-$runtime.txt" 2>/dev/null && break; sleep 0.1; done
    pid="$(sed -n 's/^ready //p' "$target/out-$runtime.txt" | head -1)"
    status=0
    (cd "$dir" && DOTNET_CLI_HOME="$dir/home" timeout 120 "$dotnet" noleaks stacks "${pid:-0}" --folded > "stacks-net$runtime.txt" 2> "$log") || status=$?
    exec 3>&-
    wait "$target_pid" || true
    cat "$dir/stacks-net$runtime.txt" >> "$log"
    if [ "$status" -ne 0 ]; then
      verdict="noleaks stacks failed with $status (see $log)"
    elif [ "$(cat "$dir/stacks-net$runtime.txt")" != "$expected_stacks" ]; then
      verdict="noleaks stacks printed other stacks (see $log)"
    else
      verdict="ok: noleaks stacks read the 3 stacks (14 operations) of a .NET $runtime process"
    fi
    [[ "$verdict" == ok:* ]] || failures=$((failures + 1))
    printf '%-32s %4ss  %s\n' "NoLeaks.Cli stacks, .NET $runtime" $((SECONDS - started)) "$verdict"
  done
fi

if [ "$failures" -gt 0 ]; then
  echo "compatibility: $failures consumer(s) failed" >&2
  exit 1
fi
echo "compatibility: every consumer behaved as expected"
