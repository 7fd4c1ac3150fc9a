#!/usr/bin/env bash
# Runs every test of the repository: one `dotnet test` at the root (Microsoft.Testing.Platform, see global.json); the
# core suite (tests/NoLeaks.Tests, as just built) again on the .NET 11 runtime by roll-forward (build/test-runtime.sh;
# NOLEAKS_SKIP_NET11=1 leaves it out); the compatibility check of the packed packages (build/compat.sh;
# NOLEAKS_SKIP_COMPAT=1 leaves it out) and the samples on those packages (build/samples.sh; NOLEAKS_SKIP_SAMPLES=1
# leaves them out).
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet test --configuration Release "$@"
if [ "${NOLEAKS_SKIP_NET11:-}" != 1 ]; then
  NOLEAKS_RUNTIME_NO_BUILD=1 bash build/test-runtime.sh 11.0.0 tests/NoLeaks.Tests
fi
if [ "${NOLEAKS_SKIP_COMPAT:-}" != 1 ]; then
  bash build/compat.sh
fi
if [ "${NOLEAKS_SKIP_SAMPLES:-}" != 1 ]; then
  packages=()
  [ "${NOLEAKS_SKIP_COMPAT:-}" != 1 ] && packages=(artifacts/compat/packages)   # what compat.sh packed
  bash build/samples.sh --quiet "${packages[@]}"
fi
