#!/usr/bin/env sh
# ApacheBench: POST deploy/loadtest/workflow.json to the execute endpoint.
#
#   BASE_URL=http://127.0.0.1:8080 THAIYYAL_TOKEN=... deploy/loadtest/ab.sh [-n 1000] [-c 10]
#
# BASE_URL (no trailing slash) and THAIYYAL_TOKEN come from the environment; extra
# arguments go to ab (they override -n/-c). Needs ab: apt-get install -y apache2-utils.
set -eu
: "${BASE_URL:?set BASE_URL, e.g. http://127.0.0.1:8080}"
: "${THAIYYAL_TOKEN:?set THAIYYAL_TOKEN to an API token}"
command -v ab >/dev/null 2>&1 || { echo "ab not found: apt-get install -y apache2-utils" >&2; exit 127; }
here=$(cd "$(dirname "$0")" && pwd)
path="${THAIYYAL_PATH:-/api/v1/workflow/execute}"
exec ab -n 1000 -c 10 "$@" \
  -p "$here/workflow.json" -T application/json \
  -H "Authorization: Token $THAIYYAL_TOKEN" \
  "${BASE_URL%/}$path"
