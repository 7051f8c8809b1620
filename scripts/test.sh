#!/usr/bin/env bash
# The whole test suite: set-up, vitest, and a closing "N passed, N failed" line for CI.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit $?
rm -f .cache/vitest.json
npx vitest run --reporter=default --reporter=json --outputFile.json=.cache/vitest.json "$@"
status=$?
node -e '
  const r = JSON.parse(require("fs").readFileSync(".cache/vitest.json", "utf8"));
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`);
' || true
exit $status
