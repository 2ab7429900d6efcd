#!/bin/sh
# Registers what awdaflow needs in Temporal (run by the temporal-setup
# service of docker-compose.yml in temporalio/admin-tools, after the server
# is healthy): the namespace, and the custom search attributes the loan
# workflow upserts (AWDAFLOW_SEARCH_ATTRIBUTES, "Name=Type ..."; the list is
# workflows.SearchAttributes(), checked by deploy's tests). Idempotent.
set -eu
: "${TEMPORAL_ADDRESS:?}" "${AWDAFLOW_SEARCH_ATTRIBUTES:?}"
NS=${TEMPORAL_NAMESPACE:-default}
RETENTION=${TEMPORAL_NAMESPACE_RETENTION:-30d}

i=0
until temporal operator cluster health --address "$TEMPORAL_ADDRESS" 2>/dev/null | grep -q SERVING; do
	i=$((i + 1))
	[ "$i" -lt 90 ] || { echo "Temporal at $TEMPORAL_ADDRESS is not serving" >&2; exit 1; }
	sleep 2
done

if temporal operator namespace describe --address "$TEMPORAL_ADDRESS" --namespace "$NS" >/dev/null 2>&1; then
	echo "namespace $NS exists"
else
	temporal operator namespace create --address "$TEMPORAL_ADDRESS" --namespace "$NS" --retention "$RETENTION"
	echo "namespace $NS created (retention $RETENTION)"
fi

existing=$(temporal operator search-attribute list --address "$TEMPORAL_ADDRESS" --namespace "$NS" -o json)
for sa in $AWDAFLOW_SEARCH_ATTRIBUTES; do
	name=${sa%%=*}
	type=${sa#*=}
	if printf '%s' "$existing" | grep -q "\"$name\""; then
		echo "search attribute $name exists"
	else
		temporal operator search-attribute create --address "$TEMPORAL_ADDRESS" --namespace "$NS" --name "$name" --type "$type"
		echo "search attribute $name ($type) created"
	fi
done

# The server reads search attributes through its cache (dynamicconfig.yaml),
# which learns new ones within its refresh (10 s): wait until a query naming
# every one is served, so that the worker and the starter, next, are not
# refused.
query=""
for sa in $AWDAFLOW_SEARCH_ATTRIBUTES; do
	case ${sa#*=} in
	Bool) term="${sa%%=*} = false" ;;
	Int | Double) term="${sa%%=*} = 0" ;;
	*) term="${sa%%=*} = ''" ;;
	esac
	query="${query:+$query AND }$term"
done
i=0
until temporal workflow count --address "$TEMPORAL_ADDRESS" --namespace "$NS" --query "$query" >/dev/null 2>&1; do
	i=$((i + 1))
	[ "$i" -lt 60 ] || { echo "Temporal does not serve the search attributes of $NS: $query" >&2; exit 1; }
	sleep 1
done
echo "search attributes served"
