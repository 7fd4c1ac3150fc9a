#!/usr/bin/env bash
# Runs every test of the repository: one `dotnet test` at the root (Microsoft.Testing.Platform, see global.json), then
# the compatibility check of the packed packages (build/compat.sh; NOLEAKS_SKIP_COMPAT=1 leaves it out) and the samples
# on those packages (build/samples.sh; NOLEAKS_SKIP_SAMPLES=1 leaves them out).
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet test --configuration Release "$@"
if [ "${NOLEAKS_SKIP_COMPAT:-}" != 1 ]; then
  bash build/compat.sh
fi
if [ "${NOLEAKS_SKIP_SAMPLES:-}" != 1 ]; then
  packages=()
  [ "${NOLEAKS_SKIP_COMPAT:-}" != 1 ] && packages=(artifacts/compat/packages)   # what compat.sh packed
  bash build/samples.sh --quiet "${packages[@]}"
fi
