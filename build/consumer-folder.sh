#!/usr/bin/env bash
# Lays out a folder for test projects that consume the packed packages as a user's repository does, outside this
# repository's MSBuild files and global.json: consumer-folder.sh <folder> <package folder>
# (used by compat.sh and startup-cost.sh).
set -euo pipefail
work="$1"
packages="$2"
mkdir -p "$work"
echo '{ "sdk": { "version": "10.0.100", "rollForward": "latestFeature" } }' > "$work/global.json"
for file in Directory.Build.props Directory.Build.targets Directory.Packages.props; do echo '<Project />' > "$work/$file"; done
# What the README tells users: the package folder as a source, mapped for NoLeaks* only.
cat > "$work/nuget.config" <<XML
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <add key="noleaks" value="$packages" />
  </packageSources>
  <packageSourceMapping>
    <packageSource key="noleaks"><package pattern="NoLeaks*" /></packageSource>
    <packageSource key="nuget.org"><package pattern="*" /></packageSource>
  </packageSourceMapping>
</configuration>
XML
