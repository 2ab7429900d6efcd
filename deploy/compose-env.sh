#!/usr/bin/env bash
# compose-env.sh [OUT]: write OUT (default .env) from .env.example with every
# "change-me" replaced by a fresh random secret, and the payload key ring by a
# new key. Refuses to overwrite an existing file: secrets of a running stack
# (the key ring above all: without it, histories cannot be read) are never
# replaced by accident.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${1:-$ROOT/.env}
if [ -e "$OUT" ]; then
	echo "compose-env: $OUT exists; not overwriting it" >&2
	exit 1
fi

hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

umask 077
tmp=$(mktemp "$OUT.XXXXXX")
trap 'rm -f "$tmp"' EXIT
while IFS= read -r line || [ -n "$line" ]; do
	case $line in
	AWDAFLOW_KEYS=change-me)
		line="AWDAFLOW_KEYS=k$(date -u +%Y%m%d)=$(head -c 32 /dev/urandom | base64 | tr -d '\n')"
		;;
	*=change-me)
		line="${line%%=*}=$(hex 24)"
		;;
	esac
	printf '%s\n' "$line"
done <"$ROOT/.env.example" >"$tmp"
mv "$tmp" "$OUT"
trap - EXIT
echo "compose-env: wrote $OUT (keep it secret; never commit it)"
