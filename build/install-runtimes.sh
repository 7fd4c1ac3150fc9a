#!/usr/bin/env bash
# Lays out a dotnet root that runs .NET 8, 9 and 11 test projects beside the installed SDK's own runtime:
# install-runtimes.sh [folder]   (default artifacts/dotnet; prints the folder's `dotnet`).
# The runtimes come from the runtime packs on the NuGet feed (Microsoft.NETCore.App.Runtime.linux-x64), laid out as
# shared/Microsoft.NETCore.App/<version>, with ASP.NET Core's of .NET 8 and 9 (Microsoft.AspNetCore.App.Runtime.linux-x64,
# as shared/Microsoft.AspNetCore.App/<version>) for the hosted-app tests; the SDK, host and .NET 10 runtimes are linked
# from the installed SDK.
set -euo pipefail
cd "$(dirname "$0")/.."
root="${1:-artifacts/dotnet}"
versions=(8.0.34 9.0.23 11.0.0)
aspnet_versions=(8.0.34 9.0.23)
rid=linux-x64
sdk_root="$(dirname "$(readlink -f "$(command -v dotnet)")")"

mkdir -p "$root/shared/Microsoft.NETCore.App"
root="$(cd "$root" && pwd)"
missing=()
for version in "${versions[@]}"; do
  [ -f "$root/shared/Microsoft.NETCore.App/$version/System.Private.CoreLib.dll" ] || missing+=("$version")
done
missing_aspnet=()
for version in "${aspnet_versions[@]}"; do
  [ -f "$root/shared/Microsoft.AspNetCore.App/$version/Microsoft.AspNetCore.dll" ] || missing_aspnet+=("$version")
done

if [ "${#missing[@]}" -gt 0 ] || [ "${#missing_aspnet[@]}" -gt 0 ]; then
  download="$(mktemp -d)"
  trap 'rm -rf "$download"' EXIT
  {
    echo '<Project Sdk="Microsoft.NET.Sdk"><PropertyGroup><TargetFramework>net10.0</TargetFramework></PropertyGroup><ItemGroup>'
    [ "${#missing[@]}" -gt 0 ] && echo "<PackageDownload Include=\"Microsoft.NETCore.App.Runtime.$rid\" Version=\"$(printf '[%s];' "${missing[@]}" | sed 's/;$//')\" />"
    [ "${#missing_aspnet[@]}" -gt 0 ] && echo "<PackageDownload Include=\"Microsoft.AspNetCore.App.Runtime.$rid\" Version=\"$(printf '[%s];' "${missing_aspnet[@]}" | sed 's/;$//')\" />"
    echo '</ItemGroup></Project>'
  } > "$download/runtimes.csproj"
  echo '<Project />' > "$download/Directory.Build.props"
  echo '<Project />' > "$download/Directory.Build.targets"
  echo '<Project />' > "$download/Directory.Packages.props"
  dotnet restore "$download/runtimes.csproj" --packages "$download/packages" -v quiet >&2
  for version in "${missing[@]}"; do
    pack="$download/packages/microsoft.netcore.app.runtime.$rid/$version/runtimes/$rid"
    target="$root/shared/Microsoft.NETCore.App/$version"
    rm -rf "$target.tmp" && mkdir -p "$target.tmp"
    cp "$pack"/lib/net*/* "$pack"/native/* "$target.tmp/"
    mv "$target.tmp" "$target"
  done
  for version in "${missing_aspnet[@]}"; do
    pack="$download/packages/microsoft.aspnetcore.app.runtime.$rid/$version/runtimes/$rid"
    target="$root/shared/Microsoft.AspNetCore.App/$version"
    rm -rf "$target.tmp" && mkdir -p "$target.tmp"
    cp "$pack"/lib/net*/* "$target.tmp/"
    [ -d "$pack/native" ] && cp "$pack"/native/* "$target.tmp/"
    mv "$target.tmp" "$target"
  done
fi

# The muxer finds sdk/, host/ and shared/ beside its own (resolved) path: copy it, link the rest.
cp -f "$sdk_root/dotnet" "$root/dotnet"
for entry in sdk host packs sdk-manifests templates; do
  [ -e "$root/$entry" ] || ln -s "$sdk_root/$entry" "$root/$entry"
done
for framework in "$sdk_root"/shared/*/*; do
  target="$root/shared/$(basename "$(dirname "$framework")")/$(basename "$framework")"
  mkdir -p "$(dirname "$target")"
  [ -e "$target" ] || ln -s "$framework" "$target"
done
echo "$root/dotnet"
