#!/usr/bin/env bash
# Shows NoLeaks at work: a "test" that leaves an order queue's pump behind, then one that stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet run --configuration Release --project samples/NoLeaks.Demo
