#!/usr/bin/env bash
# Packs every NoLeaks package (and its .snupkg symbols) into one folder:
# pack.sh [output folder] [version]   (defaults: artifacts/packages, the Version of Directory.Build.props)
# The build is deterministic (ContinuousIntegrationBuild): no path of this machine lands in a DLL or PDB.
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
output="${1:-artifacts/packages}"
properties=(-p:ContinuousIntegrationBuild=true)
if [ -n "${2:-}" ]; then
  properties+=("-p:Version=$2")
fi
if url="$(git remote get-url origin 2>/dev/null)"; then
  properties+=("-p:NoLeaksRepositoryUrl=${url%.git}")
fi
mkdir -p "$output"
for project in src/*/*.csproj; do
  dotnet pack "$project" --configuration Release --output "$output" "${properties[@]}" -nologo -clp:NoSummary
done
