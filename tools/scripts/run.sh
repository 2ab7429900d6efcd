#!/usr/bin/env bash
# scripts/run.sh — what `make run` runs: the whole awdaflow stack on this
# machine, a live demo through the public API, then everything stays up until
# Ctrl-C.
#
#   Temporal dev server + Web UI   ./bin/temporal server start-dev, state in .data/temporal.db
#   PostgreSQL                     ./bin/pgtmp under .data/postgres (unless DATABASE_URL is set)
#   AWDA sandbox (autopilot)       ./bin/awda-sandbox, pushing to the starter's webhooks
#   worker                         ./bin/worker
#   starter                        ./bin/starter serve (API, webhooks, codec server; migrates)
#   demo                           ./bin/demo -n $DEMO_N
#
# Development secrets are generated on the first run into .data/dev.env
# (git-ignored; delete it to start over). Logs go to .data/logs/<process>.log.
# Every process runs in its own session, so Ctrl-C reaches this script only,
# which then stops them in order (starter, worker, sandbox, Temporal,
# PostgreSQL) and leaves nothing behind. Running it again reuses .data: the
# workflows, the read model and the keys survive.
#
# Settings (environment):
#   DEMO_N=20             applicants in the demo (0: no demo)
#   DEMO_ARGS=            extra flags for `bin/demo`
#   DATABASE_URL=         use this PostgreSQL instead of a local cluster
#   AWDAFLOW_DATA=.data   where state, keys and logs live
#   TEMPORAL_PORT=7233 TEMPORAL_UI_PORT=8233 STARTER_PORT=8080
#   WORKER_PORT=9091 SANDBOX_PORT=8089
#                         ports (each default is replaced by a free port when
#                         taken; a port given explicitly must be free)
#   RUN_EXIT_AFTER_DEMO=1 stop everything after the summary instead of waiting
#                         for Ctrl-C (exit status: the demo's)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"

GO=${GO:-go}
BIN=${BIN:-$ROOT/bin}
TEMPORAL=${TEMPORAL:-$BIN/temporal}
DATA=${AWDAFLOW_DATA:-$ROOT/.data}
case $DATA in /*) ;; *) DATA=$ROOT/$DATA ;; esac
LOGS=$DATA/logs
RUNDIR=$DATA/run
DEMO_N=${DEMO_N:-20}
DEMO_ARGS=${DEMO_ARGS:-}
HOST=127.0.0.1
T0=$(date +%s)

if [ -t 1 ]; then
	B=$'\e[1m' G=$'\e[32m' Y=$'\e[33m' R=$'\e[31m' D=$'\e[2m' N=$'\e[0m'
else
	B='' G='' Y='' R='' D='' N=''
fi
say() { printf '%s==>%s %s %s[%ss]%s\n' "$B" "$N" "$*" "$D" "$(($(date +%s) - T0))" "$N"; }
warn() { printf '%swarning:%s %s\n' "$Y" "$N" "$*" >&2; }
die() {
	printf '%serror:%s %s\n' "$R" "$N" "$*" >&2
	exit 1
}
elapsed() { echo "$(($(date +%s) - T0))s"; }

mkdir -p "$DATA" "$LOGS" "$RUNDIR"

# The local stack is plain text on loopback with an HMAC-signing sandbox:
# settings for a real cluster or a real AWDA in this shell must not leak in.
unset TEMPORAL_API_KEY TEMPORAL_TLS_CERT TEMPORAL_TLS_KEY TEMPORAL_TLS_CA TEMPORAL_TLS_SERVER_NAME \
	AWDA_RSA_PRIVATE_KEY_FILE AWDA_NOTIFY_HMAC_SECRETS AWDA_NOTIFY_RSA_PUBLIC_KEYS

# One run per data directory. Children never inherit the lock's descriptor,
# so a crashed run's leftovers cannot hold it.
if command -v flock >/dev/null; then
	exec 9>"$RUNDIR/lock"
	flock -n 9 || die "another 'make run' is using $DATA (stop it with Ctrl-C first)"
fi

SETSID=()
if command -v setsid >/dev/null; then SETSID=(setsid); fi

# ---------------------------------------------------------------- processes

NAMES=() # in start order
declare -A PID=()
PIDFILE=$RUNDIR/pids

alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

# ours PID: the process runs one of our binaries (a stale pid file may name a
# pid the system has since given to something else).
ours() {
	local exe
	exe=$(readlink "/proc/$1/exe" 2>/dev/null) || return 1
	case $exe in "$BIN"/*) return 0 ;; esac
	return 1
}

# stop NAME PID SECONDS: SIGTERM, wait, then SIGKILL the process and its
# process group (its session, with setsid) so that nothing survives.
stop() {
	local name=$1 pid=$2 secs=$3 i
	if alive "$pid"; then
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < secs * 10; i++)); do
			alive "$pid" || break
			sleep 0.1
		done
		if alive "$pid"; then
			warn "$name (pid $pid) did not stop within ${secs}s: killing it"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	wait "$pid" 2>/dev/null || true
	if [ ${#SETSID[@]} -gt 0 ] && kill -0 -- "-$pid" 2>/dev/null; then
		kill -TERM -- "-$pid" 2>/dev/null || true
		sleep 0.5
		kill -KILL -- "-$pid" 2>/dev/null || true
	fi
}

# stop_postmaster: a PostgreSQL left running on .data/postgres by a run that
# was killed outright. SIGINT is PostgreSQL's fast shutdown.
stop_postmaster() {
	local pidf=$DATA/postgres/data/postmaster.pid pm i
	[ -r "$pidf" ] || return 0
	pm=$(head -n1 "$pidf" 2>/dev/null || true)
	alive "$pm" || return 0
	warn "stopping a PostgreSQL (pid $pm) left running on $DATA/postgres"
	kill -INT "$pm" 2>/dev/null || true
	for ((i = 0; i < 150; i++)); do
		alive "$pm" || return 0
		sleep 0.1
	done
	kill -KILL "$pm" 2>/dev/null || true
}

cleanup() {
	local rc=$? i name t
	trap '' INT TERM
	trap - EXIT
	if [ ${#NAMES[@]} -gt 0 ]; then
		t=$(date +%s)
		printf '\n'
		local order=()
		for ((i = ${#NAMES[@]} - 1; i >= 0; i--)); do order+=("${NAMES[i]}"); done
		say "stopping ${order[*]}"
		for ((i = ${#NAMES[@]} - 1; i >= 0; i--)); do
			name=${NAMES[i]}
			case $name in
			temporal) stop "$name" "${PID[$name]}" 15 ;;
			postgres) stop "$name" "${PID[$name]}" 20 ;;
			*) stop "$name" "${PID[$name]}" 25 ;;
			esac
		done
		if [ -z "${EXTERNAL_DB:-}" ]; then stop_postmaster; fi
		: >"$PIDFILE"
		rm -f "$RUNDIR/ready"
		say "stopped in $(($(date +%s) - t))s; state kept in ${DATA#"$ROOT"/}/ (logs in ${LOGS#"$ROOT"/}/)"
	fi
	exit "$rc"
}
# Ctrl-C or SIGTERM once everything is up is the normal way to end: exit 0.
UP=
trap cleanup EXIT
trap 'if [ -n "$UP" ]; then exit 0; else exit 130; fi' INT
trap 'if [ -n "$UP" ]; then exit 0; else exit 143; fi' TERM

# A previous run killed with SIGKILL (or a lost terminal) may have left
# processes behind: stop the ones that are provably ours.
if [ -s "$PIDFILE" ]; then
	mapfile -t stale <"$PIDFILE"
	for ((i = ${#stale[@]} - 1; i >= 0; i--)); do # newest first, as cleanup does
		read -r name pid <<<"${stale[i]}"
		if alive "$pid" && ours "$pid"; then
			warn "stopping $name (pid $pid) left over from an earlier run"
			stop "$name" "$pid" 10
		fi
	done
fi
: >"$PIDFILE"
rm -f "$RUNDIR/ready"

# start NAME LOGFILE COMMAND...: run COMMAND in its own session, output
# appended to LOGFILE, stdin closed.
start() {
	local name=$1 log=$2
	shift 2
	printf '\n---- %s: %s starting\n' "$(date -u +%FT%TZ)" "$name" >>"$log"
	"${SETSID[@]}" "$@" </dev/null >>"$log" 2>&1 9>&- &
	PID[$name]=$!
	NAMES+=("$name")
	echo "$name ${PID[$name]}" >>"$PIDFILE"
}

# failed NAME: the process died; show the end of its log.
failed() {
	local log=$LOGS/$1.log
	printf '%s%s exited; the end of %s:%s\n' "$R" "$1" "${log#"$ROOT"/}" "$N" >&2
	tail -n 25 "$log" >&2 || true
	exit 1
}

http_ok() { curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null; }

# wait_for NAME SECONDS CHECK...: until CHECK succeeds; fails fast when the
# process dies.
wait_for() {
	local name=$1 secs=$2 i
	shift 2
	for ((i = 0; i < secs * 4; i++)); do
		if "$@"; then return 0; fi
		alive "${PID[$name]}" || failed "$name"
		sleep 0.25
	done
	die "$name not ready after ${secs}s; see ${LOGS#"$ROOT"/}/$name.log"
}

# ---------------------------------------------------------------- ports

taken() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }
USED=" "
remembered() { sed -n "s/^$1=//p" "$RUNDIR/ports" 2>/dev/null | head -n1; }

# port VAR DEFAULT: $VAR if set (must be free), else the default, else the
# port this variable had last time, else a free one. Ports stay the same from
# one run to the next whenever possible, so bookmarks keep working.
port() {
	local var=$1 def=$2 p i
	p=${!var:-}
	if [ -n "$p" ]; then
		taken "$p" && die "$var=$p is in use"
	else
		for p in "$def" "$(remembered "$var")"; do
			if [ -n "$p" ] && [[ $USED != *" $p "* ]] && ! taken "$p"; then break; fi
			p=
		done
		for ((i = 0; i < 200 && ${#p} == 0; i++)); do
			p=$((20000 + RANDOM % 12000))
			if [[ $USED == *" $p "* ]] || taken "$p"; then p=; fi
		done
		[ -n "$p" ] || die "no free port for $var"
		[ "$p" = "$def" ] || warn "port $def is taken: $var=$p"
	fi
	USED+="$p "
	printf -v "$var" '%s' "$p"
}

# ---------------------------------------------------------------- prerequisites

command -v "$GO" >/dev/null || die "Go is required (https://go.dev/dl/)"
command -v curl >/dev/null || die "curl is required"
if [ -z "${DATABASE_URL:-}" ]; then
	pgb=${PG_BINDIR:-}
	if [ -z "$pgb" ]; then
		for d in /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin /usr/local/opt/postgresql*/bin; do
			if [ -x "$d/initdb" ]; then
				pgb=$d
				break
			fi
		done
	fi
	if [ -z "$pgb" ] && ! command -v initdb >/dev/null && ! command -v pg_config >/dev/null; then
		die "the PostgreSQL server binaries are missing: install postgresql-15 (Debian/Ubuntu: apt-get install postgresql-15), set PG_BINDIR, or set DATABASE_URL to a PostgreSQL of yours"
	fi
fi

if [ ! -x "$TEMPORAL" ]; then
	say "installing the pinned Temporal CLI into ${BIN#"$ROOT"/}/ (once)"
	make --no-print-directory -C "$ROOT" temporal-cli BIN="$BIN" TEMPORAL="$TEMPORAL"
fi

say "building worker, starter, awda-sandbox, pgtmp"
mkdir -p "$BIN"
"$GO" build -o "$BIN/" ./worker ./starter ./awda/sandbox/cmd/awda-sandbox
(cd tools && "$GO" build -o "$BIN/" ./cmd/pgtmp ./cmd/devkeys ./cmd/demo)

if [ ! -s "$DATA/dev.env" ]; then
	say "generating development keys into ${DATA#"$ROOT"/}/dev.env (first run; never commit it)"
	(umask 077 && "$BIN/devkeys" >"$DATA/dev.env.tmp" && mv "$DATA/dev.env.tmp" "$DATA/dev.env")
fi
set -a
# shellcheck source=/dev/null
. "$DATA/dev.env"
set +a
API_TOKEN=${STARTER_API_TOKENS%%,*}

port TEMPORAL_PORT 7233
port TEMPORAL_UI_PORT 8233
port STARTER_PORT 8080
port WORKER_PORT 9091
port SANDBOX_PORT 8089
printf 'TEMPORAL_PORT=%s\nTEMPORAL_UI_PORT=%s\nSTARTER_PORT=%s\nWORKER_PORT=%s\nSANDBOX_PORT=%s\n' \
	"$TEMPORAL_PORT" "$TEMPORAL_UI_PORT" "$STARTER_PORT" "$WORKER_PORT" "$SANDBOX_PORT" >"$RUNDIR/ports"

STARTER_URL=http://$HOST:$STARTER_PORT
SANDBOX_URL=http://$HOST:$SANDBOX_PORT
UI_URL=http://$HOST:$TEMPORAL_UI_PORT
WORKER_URL=http://$HOST:$WORKER_PORT
TEMPORAL_ADDRESS=$HOST:$TEMPORAL_PORT

# ---------------------------------------------------------------- PostgreSQL

EXTERNAL_DB=${DATABASE_URL:-}
if [ -z "$EXTERNAL_DB" ]; then
	stop_postmaster
	say "starting PostgreSQL under ${DATA#"$ROOT"/}/postgres"
	: >"$RUNDIR/database_url"
	printf '\n---- %s: postgres starting\n' "$(date -u +%FT%TZ)" >>"$LOGS/postgres.log"
	"${SETSID[@]}" "$BIN/pgtmp" -dir "$DATA/postgres" -port 0 -db awdaflow \
		</dev/null >"$RUNDIR/database_url" 2>>"$LOGS/postgres.log" 9>&- &
	PID[postgres]=$!
	NAMES+=(postgres)
	echo "postgres ${PID[postgres]}" >>"$PIDFILE"
	wait_for postgres 90 test -s "$RUNDIR/database_url"
	DATABASE_URL=$(head -n1 "$RUNDIR/database_url")
else
	say "using DATABASE_URL from the environment"
fi
export DATABASE_URL

# ---------------------------------------------------------------- Temporal

say "starting Temporal (gRPC $TEMPORAL_ADDRESS, Web UI $UI_URL)"
start temporal "$LOGS/temporal.log" "$TEMPORAL" server start-dev \
	--ip "$HOST" --port "$TEMPORAL_PORT" --ui-port "$TEMPORAL_UI_PORT" \
	--db-filename "$DATA/temporal.db" \
	--search-attribute LoanStage=Keyword \
	--search-attribute LoanStuck=Bool \
	--search-attribute AwdaLoanNo=Keyword \
	--search-attribute ApplicantRef=Keyword \
	--ui-codec-endpoint "$STARTER_URL/codec" \
	--dynamic-config-value system.forceSearchAttributesCacheRefreshOnRead=false \
	--log-level warn
temporal_ok() {
	"$TEMPORAL" operator cluster health --address "$TEMPORAL_ADDRESS" --command-timeout 2s 2>/dev/null | grep -q SERVING &&
		http_ok "$UI_URL/"
}
wait_for temporal 120 temporal_ok

# ---------------------------------------------------------------- sandbox

# A new seed each run: the sandbox forgets everything when it stops, and the
# same seed would hand out the AWDA loan numbers of earlier runs again.
say "starting the AWDA sandbox on autopilot ($SANDBOX_URL)"
start sandbox "$LOGS/sandbox.log" env \
	SANDBOX_ADDR="$HOST:$SANDBOX_PORT" \
	SANDBOX_AUTOPILOT=true \
	SANDBOX_SEED="$(date +%s)$RANDOM" \
	SANDBOX_LOAN_WEBHOOK_URL="$STARTER_URL/webhooks/awda/loan-status" \
	SANDBOX_AUTH_WEBHOOK_URL="$STARTER_URL/webhooks/awda/authorization" \
	SANDBOX_PUBLIC_URL="$SANDBOX_URL" \
	SANDBOX_LOG_FORMAT=json \
	"$BIN/awda-sandbox"
wait_for sandbox 30 http_ok "$SANDBOX_URL/_sandbox/healthz"

# ---------------------------------------------------------------- starter, worker

common=(
	TEMPORAL_ADDRESS="$TEMPORAL_ADDRESS"
	TEMPORAL_NAMESPACE=default
	AWDA_BASE_URL="$SANDBOX_URL"
	DATABASE_URL="$DATABASE_URL"
	LOG_FORMAT=json
)
say "starting the starter ($STARTER_URL; applies the migrations) and the worker"
start starter "$LOGS/starter.log" env "${common[@]}" \
	STARTER_HTTP_ADDR="$HOST:$STARTER_PORT" \
	STARTER_CODEC_ALLOW_UNAUTHENTICATED=true \
	STARTER_CODEC_ORIGINS="http://localhost:$TEMPORAL_UI_PORT,http://$HOST:$TEMPORAL_UI_PORT" \
	STARTER_SHUTDOWN_TIMEOUT=5s \
	"$BIN/starter" serve
start worker "$LOGS/worker.log" env "${common[@]}" \
	WORKER_HTTP_ADDR="$HOST:$WORKER_PORT" \
	WORKER_STOP_TIMEOUT=10s \
	"$BIN/worker"
wait_for starter 120 http_ok "$STARTER_URL/readyz"
wait_for worker 120 http_ok "$WORKER_URL/readyz"

# For a second terminal: `. .data/run/env; bin/starter list --stuck true`.
(
	umask 077
	cat >"$RUNDIR/env" <<EOF
# Source this file to use the CLIs against the running 'make run' stack.
STARTER_URL=$STARTER_URL
STARTER_API_TOKEN=$API_TOKEN
TEMPORAL_ADDRESS=$TEMPORAL_ADDRESS
DATABASE_URL=$DATABASE_URL
SANDBOX_URL=$SANDBOX_URL
export STARTER_URL STARTER_API_TOKEN TEMPORAL_ADDRESS DATABASE_URL SANDBOX_URL
EOF
)
say "everything is up after $(elapsed)"

# ---------------------------------------------------------------- demo

demo_rc=0
if [ "$DEMO_N" != 0 ]; then
	say "demo: $DEMO_N applicants through the API ($STARTER_URL/v1)"
	# In the background so that Ctrl-C (trapped here) ends the wait at once.
	# shellcheck disable=SC2086
	env STARTER_URL="$STARTER_URL" STARTER_API_TOKEN="$API_TOKEN" \
		"${SETSID[@]}" "$BIN/demo" -n "$DEMO_N" --sandbox-admin "$SANDBOX_URL" $DEMO_ARGS 9>&- &
	PID[demo]=$!
	NAMES+=(demo)
	wait "${PID[demo]}" || demo_rc=$?
	NAMES=("${NAMES[@]:0:${#NAMES[@]}-1}")
	say "time to summary: $(elapsed)"
	if [ "$demo_rc" -ne 0 ]; then
		warn "the demo exited with status $demo_rc (its summary is above; logs in ${LOGS#"$ROOT"/}/)"
	fi
fi

# ---------------------------------------------------------------- URLs

urlenc() {
	local s=$1 out='' c i
	for ((i = 0; i < ${#s}; i++)); do
		c=${s:i:1}
		case $c in
		[a-zA-Z0-9._~-]) out+=$c ;;
		*) out+=$(printf '%%%02X' "'$c") ;;
		esac
	done
	printf '%s' "$out"
}
workflows_url="$UI_URL/namespaces/default/workflows"
cat <<EOF

${B}awdaflow is running.${N} Open:

  Temporal UI, every loan    ${G}$workflows_url${N}
  stuck loans                ${G}$workflows_url?query=$(urlenc 'LoanStuck = true')${N}
  loans by stage, e.g.       $workflows_url?query=$(urlenc 'LoanStage = "SETTLED"')
  API (bearer token below)   $STARTER_URL/v1/applications
  metrics                    $STARTER_URL/metrics (starter)   $WORKER_URL/metrics (worker)
  codec server               $STARTER_URL/codec (the UI already decrypts through it)
  AWDA sandbox               $SANDBOX_URL/_sandbox/stats
  Temporal gRPC              $TEMPORAL_ADDRESS
  logs                       ${LOGS#"$ROOT"/}/

  ${D}# in another terminal:${N}
  . ${RUNDIR#"$ROOT"/}/env
  curl -s -H "Authorization: Bearer \$STARTER_API_TOKEN" "$STARTER_URL/v1/applications?stuck=true"
  bin/starter list --stage SETTLED
  bin/temporal workflow list --address \$TEMPORAL_ADDRESS --query 'LoanStuck = true'
  bin/demo -n 5 --sandbox-admin \$SANDBOX_URL

EOF

# For tools that need the running stack (scripts/screenshot.sh).
printf 'UI_URL=%s\nSTARTER_URL=%s\nSANDBOX_URL=%s\nDEMO_STATUS=%s\n' \
	"$UI_URL" "$STARTER_URL" "$SANDBOX_URL" "$demo_rc" >"$RUNDIR/ready"

if [ -n "${RUN_EXIT_AFTER_DEMO:-}" ]; then
	exit "$demo_rc"
fi
UP=1
say "Ctrl-C stops everything"

# Stay up; leave (and stop the rest) if a process dies.
while :; do
	for name in "${NAMES[@]}"; do
		alive "${PID[$name]}" || failed "$name"
	done
	sleep 1 &
	wait $! || true
done
