#!/usr/bin/env bash
# Fails when a build log shows a compiler warning in this project's own sources.
set -euo pipefail
log="$1"
if grep -E '^/.*/(Sources|Tests|plugins|bench)/.*: warning:' "$log" | sort -u; then
    echo "check-warnings: the build has warnings (see above); the project builds with none" >&2
    exit 1
fi
