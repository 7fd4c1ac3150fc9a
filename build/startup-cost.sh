#!/usr/bin/env bash
# Measures what NoLeaks costs a test process once (tests/StartupCost/Program.cs), with NoLeaks.dll as shipped (IL,
# JIT-compiled at run time) and compiled ReadyToRun for this machine: startup-cost.sh [runs] [package folder]
# (defaults: 15 interleaved runs of each; build/pack.sh packs into artifacts/startup/packages). Prints the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
repo="$(pwd)"
runs="${1:-15}"
out="$repo/artifacts/startup"
work="$out/work"
packages="${2:-$out/packages}"
rm -rf "$work"
mkdir -p "$work"
if [ -z "${2:-}" ]; then
  rm -rf "$packages"
  build/pack.sh "$packages" > "$out/pack.log" 2>&1 || { cat "$out/pack.log"; exit 1; }
fi
packages="$(cd "$packages" && pwd)"
version="$(ls "$packages" | sed -nE 's/^NoLeaks\.([0-9][0-9A-Za-z.+-]*)\.nupkg$/\1/p' | sort -V | tail -1)"
rid="linux-$(uname -m | sed 's/x86_64/x64/; s/aarch64/arm64/')"

build/consumer-folder.sh "$work" "$packages"
cat > "$work/StartupCost.csproj" <<XML
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup><TargetFramework>net10.0</TargetFramework><OutputType>Exe</OutputType><ImplicitUsings>enable</ImplicitUsings><Nullable>enable</Nullable></PropertyGroup>
  <ItemGroup>
    <PackageReference Include="NoLeaks" Version="$version" />
    <Compile Include="$repo/tests/StartupCost/*.cs" />
  </ItemGroup>
</Project>
XML
export NUGET_PACKAGES="$out/nuget-cache"
rm -rf "$NUGET_PACKAGES"/noleaks
{
  dotnet publish "$work" -c Release -r "$rid" --self-contained false -o "$out/il"
  dotnet publish "$work" -c Release -r "$rid" --self-contained false -p:PublishReadyToRun=true -o "$out/r2r-all"
} > "$out/publish.log" 2>&1 || { cat "$out/publish.log"; exit 1; }
# Only NoLeaks' own assembly compiled ahead of time: everything else as in the IL build.
rm -rf "$out/r2r" && cp -r "$out/il" "$out/r2r" && cp "$out/r2r-all/NoLeaks.dll" "$out/r2r/"

rm -f "$out"/il.txt "$out"/r2r.txt
for ((i = 0; i < runs; i++)); do
  for variant in il r2r; do dotnet "$out/$variant/StartupCost.dll" >> "$out/$variant.txt"; done
done
median() { tr ' ' '\n' < "$1" | sed -n "s/^$2=//p" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
printf '%-28s %12s %12s\n' "median of $runs runs" "IL" "ReadyToRun"
for key in first-ms hundred-ms with-leak-ms jit-methods jit-ms; do
  printf '%-28s %12s %12s\n' "$key" "$(median "$out/il.txt" "$key")" "$(median "$out/r2r.txt" "$key")"
done
printf '%-28s %12s %12s\n' "NoLeaks methods JIT-compiled" \
  "$(COUNT_JIT=1 dotnet "$out/il/StartupCost.dll" | sed -n 's/.*noleaks-jit-methods=//p')" \
  "$(COUNT_JIT=1 dotnet "$out/r2r/StartupCost.dll" | sed -n 's/.*noleaks-jit-methods=//p')"
printf '%-28s %12s %12s\n' "NoLeaks.dll bytes" "$(stat -c %s "$out/il/NoLeaks.dll")" "$(stat -c %s "$out/r2r/NoLeaks.dll")"
