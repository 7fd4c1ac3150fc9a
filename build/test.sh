#!/usr/bin/env bash
# Runs every test of the repository: one `dotnet test` at the root (Microsoft.Testing.Platform, see global.json), then
# the compatibility check of the packed packages (build/compat.sh; NOLEAKS_SKIP_COMPAT=1 leaves it out).
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet test --configuration Release "$@"
if [ "${NOLEAKS_SKIP_COMPAT:-}" != 1 ]; then
  bash build/compat.sh
fi
