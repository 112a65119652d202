#!/usr/bin/env bash
# Packaging smoke test: build the one-folder bundle from this checkout with build.spec, then
# run it the way a teacher and a developer would: the window (offscreen, --autorun with a
# screenshot and figures) and a headless load run. Checks the 200 MB budget and prints the
# bundle's size and the time until its window was shown.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
OUT=build/smoke
BUDGET_BYTES=200000000
mkdir -p "$OUT"

"$PYTHON" -m PyInstaller --noconfirm --clean --log-level ERROR build.spec
BUNDLE=dist/loopscope/loopscope
test -x "$BUNDLE"

size=$(du -sb dist/loopscope | cut -f1)
echo "bundle: dist/loopscope, $((size / 1000000)) MB ($size bytes), budget $((BUDGET_BYTES / 1000000)) MB"
if [ "$size" -gt "$BUDGET_BYTES" ]; then
    echo "FAIL: the bundle is over its size budget" >&2
    exit 1
fi

export QT_QPA_PLATFORM=offscreen
# The window, from the bundle: presets, icon and style sheets come from its resources.
LOOPSCOPE_STARTUP_T0=$(date +%s.%N) "$BUNDLE" gui --autorun 3 --preset "Sync vs async" \
    --screenshot "$OUT/window.png" --json "$OUT/window.json" 2> "$OUT/window.err" \
    || { cat "$OUT/window.err" >&2; echo "FAIL: gui --autorun from the bundle" >&2; exit 1; }
grep -h "window shown" "$OUT/window.err" || true
test -s "$OUT/window.png" || { echo "FAIL: no screenshot" >&2; exit 1; }
"$PYTHON" - "$OUT/window.json" <<'PY'
import json, sys
figures = json.load(open(sys.argv[1]))
assert set(figures["scenarios"]) == {"sync", "async"}, figures
assert all(row["requests"] > 0 for row in figures["scenarios"].values()), figures
print("window figures:", {k: v["throughput_rps"] for k, v in figures["scenarios"].items()})
PY

# Headless, no display involved.
env -u QT_QPA_PLATFORM -u DISPLAY "$BUNDLE" run --scenario async --concurrency 10 \
    --delay-ms 50 --duration 2 --json "$OUT/run.json" > "$OUT/run.txt"
"$PYTHON" -c "import json,sys; r=json.load(open(sys.argv[1])); assert r['requests'] > 0 and r['errors'] == {}, r; print('run from the bundle:', r['throughput_rps'], 'req/s')" "$OUT/run.json"

# A sweep with its PNG: the bundle draws it with its own executable (no interpreter).
env -u DISPLAY "$BUNDLE" sweep --scenarios async --concurrency 1,5 --delay-ms 50 \
    --step-duration 1.5 --png "$OUT/sweep.png" > "$OUT/sweep.txt"
test -s "$OUT/sweep.png" || { echo "FAIL: no sweep PNG from the bundle" >&2; exit 1; }

# Bad arguments from the bundle: exit 2 and one line.
set +e
"$BUNDLE" run --scenario nope 2> "$OUT/bad.err"
status=$?
set -e
[ "$status" -eq 2 ] && [ "$(wc -l < "$OUT/bad.err")" -eq 1 ] \
    || { echo "FAIL: bad arguments gave status $status" >&2; cat "$OUT/bad.err" >&2; exit 1; }
echo "packaging smoke test passed"
