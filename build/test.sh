#!/usr/bin/env bash
# Runs every test of the repository: one `dotnet test` at the root (Microsoft.Testing.Platform, see global.json).
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet test --configuration Release "$@"
