#!/usr/bin/env bash
# Packaging smoke test: build the one-folder bundle from this checkout with build.spec, check
# what it contains (size budget, no GTK, no library missing), then run it the way a teacher
# and a developer would: the window offscreen and on a real X server (Xvfb, the xcb platform),
# a headless load run, a sweep with its PNG, and bad arguments.
# Sizes are in MiB (2^20 bytes, apparent size as `du -sb` counts it), nothing else.
# Needs: the build venv (PYTHON), binutils, and Xvfb (`apt-get install xvfb`; .ci/run does it).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
OUT=build/smoke
BUDGET_MIB=180
rm -rf "$OUT"
mkdir -p "$OUT"

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# -P: not the checkout first on sys.path, or the setuptools leftover loopscope.egg-info/ found
# there would be bundled as LoopScope's metadata instead of the installed package's.
"$PYTHON" -P -m PyInstaller --noconfirm --clean --log-level ERROR build.spec
BUNDLE=dist/loopscope/loopscope
test -x "$BUNDLE" || fail "the build made no executable at $BUNDLE"

bytes=$(du -sb dist/loopscope | cut -f1)
mib=$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1048576 }')
echo "bundle: dist/loopscope, $mib MiB, budget $BUDGET_MIB MiB"
[ "$bytes" -le $((BUDGET_MIB * 1048576)) ] || fail "the bundle is $mib MiB, over its $BUDGET_MIB MiB budget"

# What running it cannot show: GTK from the build host, a library the host lacked, dangling
# symlinks (each problem is one FAIL line from the script).
"$PYTHON" packaging/bundle_check.py dist/loopscope || fail "the bundle's contents (lines above)"

# A screenshot must show a window, not a black or empty frame.
check_screenshot() {
    "$PYTHON" - "$1" <<'PY' || fail "$1 does not show a window (see the line above)"
import sys
from PySide6.QtGui import QImage

image = QImage(sys.argv[1])
if image.isNull() or image.width() < 400 or image.height() < 300:
    sys.exit(f"{sys.argv[1]}: not a window-sized image ({image.width()}x{image.height()})")
colours = {image.pixel(x, y) for x in range(0, image.width(), 7) for y in range(0, image.height(), 7)}
light = sum(1 for c in colours if (c >> 16 & 255) + (c >> 8 & 255) + (c & 255) > 300)
if len(colours) < 16 or light == 0:
    sys.exit(f"{sys.argv[1]}: {len(colours)} colours, {light} light ones: a blank frame")
PY
}

# The window's figures: both endpoints of the preset ran and were answered.
check_figures() {
    "$PYTHON" - "$1" <<'PY' || fail "$1: the window's figures are wrong (see the line above)"
import json, sys
figures = json.load(open(sys.argv[1]))
if set(figures["scenarios"]) != {"sync", "async"} or not all(
    row["requests"] > 0 for row in figures["scenarios"].values()
):
    sys.exit(f"unexpected figures: {figures}")
print("  figures:", {k: v["throughput_rps"] for k, v in figures["scenarios"].items()}, "req/s")
PY
}

# The window offscreen: presets, icon and style sheets come from the bundle's resources.
LOOPSCOPE_STARTUP_T0=$(date +%s.%N) QT_QPA_PLATFORM=offscreen "$BUNDLE" gui --autorun 3 \
    --preset "Sync vs async" --screenshot "$OUT/offscreen.png" --json "$OUT/offscreen.json" \
    2> "$OUT/offscreen.err" \
    || { cat "$OUT/offscreen.err" >&2; fail "gui --autorun from the bundle, offscreen"; }
echo "offscreen: $(grep -ho 'window shown .*' "$OUT/offscreen.err" || echo 'no start-up time printed')"
check_screenshot "$OUT/offscreen.png"
check_figures "$OUT/offscreen.json"

# The window on a real X server: the xcb platform plugin and the X libraries it links are
# what a desktop uses, and what offscreen never loads. Xvfb picks a free display and writes
# its number to -displayfd once it accepts connections, so `read` waits exactly that long.
command -v Xvfb > /dev/null || fail "Xvfb is not installed (apt-get install xvfb): the X check needs it"
rm -f "$OUT/xvfb.fifo"
mkfifo "$OUT/xvfb.fifo"
Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp 3> "$OUT/xvfb.fifo" 2> "$OUT/xvfb.err" &
xvfb_pid=$!
trap 'kill "$xvfb_pid" 2> /dev/null || true' EXIT
read -r display < "$OUT/xvfb.fifo" || { cat "$OUT/xvfb.err" >&2; fail "Xvfb did not start"; }
LOOPSCOPE_STARTUP_T0=$(date +%s.%N) DISPLAY=":$display" QT_QPA_PLATFORM=xcb "$BUNDLE" gui \
    --autorun 3 --preset "Sync vs async" --screenshot "$OUT/xcb.png" --json "$OUT/xcb.json" \
    2> "$OUT/xcb.err" \
    || { cat "$OUT/xcb.err" >&2; fail "gui --autorun from the bundle on Xvfb (xcb platform)"; }
echo "Xvfb (xcb): $(grep -ho 'window shown .*' "$OUT/xcb.err" || echo 'no start-up time printed')"
check_screenshot "$OUT/xcb.png"
check_figures "$OUT/xcb.json"
kill "$xvfb_pid"
wait "$xvfb_pid" 2> /dev/null || true
trap - EXIT

# Headless, no display involved.
env -u QT_QPA_PLATFORM -u DISPLAY "$BUNDLE" run --scenario async --concurrency 10 \
    --delay-ms 50 --duration 2 --json "$OUT/run.json" > "$OUT/run.txt" \
    || { cat "$OUT/run.txt" >&2; fail "run from the bundle"; }
"$PYTHON" -c "import json,sys; r=json.load(open(sys.argv[1])); assert r['requests'] > 0 and r['errors'] == {}, r; print('run from the bundle:', r['throughput_rps'], 'req/s')" "$OUT/run.json" \
    || fail "run from the bundle: no requests, or errors, in $OUT/run.json"

# A sweep with its PNG: the bundle draws it with its own executable (no interpreter).
env -u QT_QPA_PLATFORM -u DISPLAY "$BUNDLE" sweep --scenarios async --concurrency 1,5 \
    --delay-ms 50 --step-duration 1.5 --png "$OUT/sweep.png" > "$OUT/sweep.txt" \
    || { cat "$OUT/sweep.txt" >&2; fail "sweep from the bundle"; }
test -s "$OUT/sweep.png" || fail "no sweep PNG from the bundle"

# Bad arguments from the bundle: exit 2 and one line.
status=0
"$BUNDLE" run --scenario nope 2> "$OUT/bad.err" || status=$?
[ "$status" -eq 2 ] && [ "$(wc -l < "$OUT/bad.err")" -eq 1 ] \
    || { cat "$OUT/bad.err" >&2; fail "bad arguments gave status $status, not 2 and one line"; }
echo "packaging smoke test passed"
