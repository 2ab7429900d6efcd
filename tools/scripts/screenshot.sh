#!/usr/bin/env bash
# screenshot.sh [OUT]: the README's picture of the Temporal UI listing the
# demo's loans by LoanStage (default OUT: docs/images/temporal-ui.png), taken
# with headless Chromium. It uses the running `make run` stack, or starts one
# (bin/run, the launcher, with DEMO_N applicants; `make screenshot` builds it),
# waits for the demo's summary, takes the picture and stops the stack again.
#
#   SCREENSHOT_QUERY   the list's query (default: LoanStage = "SETTLED")
#   CHROMIUM           the browser (default: chromium on PATH; Debian: apt-get install -y chromium)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUT=${1:-$ROOT/docs/images/temporal-ui.png}
BIN=${BIN:-$ROOT/bin}
DATA=${AWDAFLOW_DATA:-$ROOT/.data}
case $DATA in /*) ;; *) DATA=$ROOT/$DATA ;; esac
QUERY=${SCREENSHOT_QUERY:-LoanStage = \"SETTLED\"}

die() {
	echo "screenshot: $*" >&2
	exit 1
}

CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)}
[ -n "$CHROMIUM" ] || die "needs Chromium (Debian: apt-get install -y chromium)"

# A stack is up when the launcher holds its lock and has written run/ready.
running() {
	[ -s "$DATA/run/ready" ] && ! flock -n "$DATA/run/lock" true 2>/dev/null
}

run_pid=
profile=
finish() {
	[ -z "$profile" ] || rm -rf "$profile"
	if [ -n "$run_pid" ] && kill -0 "$run_pid" 2>/dev/null; then
		echo "screenshot: stopping the stack it started"
		kill -TERM "$run_pid" 2>/dev/null || true # the launcher stops its children
		wait "$run_pid" 2>/dev/null || true
	fi
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ! running; then
	mkdir -p "$DATA/logs"
	log=$DATA/logs/screenshot-run.log
	echo "screenshot: starting the stack and the demo (output in ${log#"$ROOT"/})"
	[ -x "$BIN/run" ] || die "no launcher at $BIN/run: run 'make screenshot' (it builds it)"
	setsid "$BIN/run" >"$log" 2>&1 </dev/null &
	run_pid=$!
	for ((i = 0; i < 900; i++)); do
		running && break
		if ! kill -0 "$run_pid" 2>/dev/null; then
			tail -n 30 "$log" >&2
			die "the launcher ($BIN/run) exited"
		fi
		sleep 1
	done
	running || die "the stack was not ready after 15 minutes"
fi

UI_URL=$(sed -n 's/^UI_URL=//p' "$DATA/run/ready")
[ -n "$UI_URL" ] || die "no UI_URL in $DATA/run/ready"
enc=
for ((i = 0; i < ${#QUERY}; i++)); do
	c=${QUERY:i:1}
	case $c in
	[a-zA-Z0-9._~-]) enc+=$c ;;
	*) enc+=$(printf '%%%02X' "'$c") ;;
	esac
done
url="$UI_URL/namespaces/default/workflows?query=$enc"

mkdir -p "$(dirname "$OUT")"
profile=$(mktemp -d)
# The UI is a single-page app: the virtual time budget lets it fetch and
# render the list before the picture is taken.
"$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
	--disable-background-networking --disable-component-update --disable-sync \
	--user-data-dir="$profile" --virtual-time-budget=15000 \
	--window-size=1400,900 --screenshot="$OUT" "$url" >/dev/null 2>&1 ||
	die "chromium failed on $url"
[ -s "$OUT" ] || die "chromium wrote no $OUT"
echo "screenshot: $url -> ${OUT#"$ROOT"/}"
