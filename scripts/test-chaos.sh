#!/usr/bin/env bash
# `npm run test:chaos`: the full chaos matrices (test/chaos/ with AEG_CHAOS=full: every fault class
# alone and together, three seeds, 25 kill points, five sink kills), then their figures into
# test/CHAOS.md. The default `npm test` runs the same files on a reduced set.
set -uo pipefail
cd "$(dirname "$0")/.."
report="${AEG_CHAOS_REPORT:-.aeg/chaos}"
rm -rf "$report"
start=$(date +%s)
npm run build || exit 1
AEG_CHAOS=full AEG_CHAOS_REPORT="$report" npx vitest run test/chaos
status=$?
# The figures are written whatever the outcome: a failing scenario is a figure too.
node scripts/chaos-report.mjs "$report" test/CHAOS.md $(( $(date +%s) - start )) || status=1
exit $status
