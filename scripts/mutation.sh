#!/usr/bin/env bash
# Mutation testing of the sans-I/O core (nexus_tornado/stomp and nexus_tornado/policy),
# on demand, not in CI: every mutant mutmut makes of those modules runs against their
# test modules (setup.cfg [mutmut] lists both), at the lowest CPU priority.
#
#   scripts/mutation.sh            run (mutants/ keeps results; a re-run redoes only
#                                  what changed), then print the score
#   scripts/mutation.sh results    list the surviving mutants
#   scripts/mutation.sh show NAME  show one mutant's diff
#
# docs/testing.md records the last score and explains the survivors.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
if ! "$PY" -c "import mutmut" 2>/dev/null; then
  "$PY" -m pip install -q "mutmut>=3.8,<4"
fi
MUTMUT=("$PY" -m mutmut)
case "${1:-run}" in
  run)
    nice -n 19 "${MUTMUT[@]}" run --max-children "${MUTATION_CHILDREN:-2}" || true
    # The summary: mutmut's own result counts.
    "${MUTMUT[@]}" export-cicd-stats >/dev/null 2>&1 || true
    if [ -f mutants/mutmut-cicd-stats.json ]; then
      "$PY" - <<'PY'
import json
s = json.load(open("mutants/mutmut-cicd-stats.json"))
killed = s["killed"] + s.get("timeout", 0)
total = killed + s["survived"] + s.get("no_tests", 0) + s.get("suspicious", 0)
print("killed %d of %d mutants (%.1f%%); survived %d, no tests %d, timeouts %d"
      % (killed, total, 100.0 * killed / max(total, 1), s["survived"], s.get("no_tests", 0), s.get("timeout", 0)))
PY
    fi
    ;;
  results) "${MUTMUT[@]}" results ;;
  show) "${MUTMUT[@]}" show "$2" ;;
  *) echo "usage: $0 [run|results|show NAME]" >&2; exit 2 ;;
esac
