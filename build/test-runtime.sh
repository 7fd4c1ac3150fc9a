#!/usr/bin/env bash
# Runs a test project's program on another .NET runtime by roll-forward (Linux x64), e.g. .NET 11:
#   build/test-runtime.sh 11.0.0 tests/NoLeaks.Tests [arguments for the xunit v3 program, such as -class …]
# The runtime pack Microsoft.NETCore.App.Runtime.linux-x64 <version> comes from the package feed and is laid out once as
# a DOTNET_ROOT in ${NOLEAKS_RUNTIME_ROOT:-/tmp/noleaks-dotnet-<version>}, beside the installed SDK's ASP.NET Core runtime
# (the feed has no ASP.NET Core runtime of .NET 11: test projects that use it run it by roll-forward too).
# NOLEAKS_RUNTIME_NO_BUILD=1 runs the Release build already in place (build/test.sh has just built it). See
# docs/reliability.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
version=${1:?runtime version, e.g. 11.0.0}
project=${2:?test project folder, e.g. tests/NoLeaks.Tests}
shift 2
root=${NOLEAKS_RUNTIME_ROOT:-/tmp/noleaks-dotnet-$version}

if [ ! -x "$root/dotnet" ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  cat > "$work/download.csproj" <<PROJECT
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup><TargetFramework>net10.0</TargetFramework></PropertyGroup>
  <ItemGroup><PackageDownload Include="Microsoft.NETCore.App.Runtime.linux-x64" Version="[$version]" /></ItemGroup>
</Project>
PROJECT
  dotnet restore "$work/download.csproj" --packages "$work/packages" > "$work/restore.log" || { cat "$work/restore.log"; exit 1; }
  pack="$work/packages/microsoft.netcore.app.runtime.linux-x64/$version/runtimes/linux-x64"
  mkdir -p "$root/shared/Microsoft.NETCore.App/$version" "$root/host/fxr/$version"
  cp "$pack"/lib/net*/* "$pack"/native/* "$root/shared/Microsoft.NETCore.App/$version/"
  mv "$root/shared/Microsoft.NETCore.App/$version/libhostfxr.so" "$root/host/fxr/$version/"
  cp "$(dirname "$(readlink -f "$(command -v dotnet)")")/dotnet" "$root/dotnet"
fi

aspnet="$(dirname "$(readlink -f "$(command -v dotnet)")")/shared/Microsoft.AspNetCore.App"
if [ -d "$aspnet" ] && [ ! -e "$root/shared/Microsoft.AspNetCore.App" ]; then
  ln -s "$aspnet" "$root/shared/Microsoft.AspNetCore.App"
fi

[ "${NOLEAKS_RUNTIME_NO_BUILD:-}" = 1 ] || dotnet build "$project" --configuration Release > /dev/null
name=$(basename "$project")
# As in build/test-net8.sh: a process that dies of a signal leaves a dump in artifacts/crash and runs once more (the heap
# suite reads the runtime in-process through its data access layer, where a crash has been seen right after the start,
# on .NET 10 and on .NET 11); the crash is said in the output, and the suite must then pass.
crashes="$PWD/artifacts/crash"
for attempt in 1 2; do
  mkdir -p "$crashes"
  status=0
  DOTNET_ROOT="$root" DOTNET_ROLL_FORWARD=Major DOTNET_DbgEnableMiniDump=1 DOTNET_DbgMiniDumpType=2 \
    DOTNET_DbgMiniDumpName="$crashes/$name-$version-%p.dmp" "$root/dotnet" exec "$project/bin/Release/net10.0/$name.dll" "$@" || status=$?
  if [ "$status" -lt 128 ] || [ "$attempt" = 2 ]; then
    exit "$status"
  fi
  echo "CRASH: $name on .NET $version died of signal $((status - 128)) (dump in $crashes); running it once more"
done
