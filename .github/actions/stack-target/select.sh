#!/usr/bin/env bash
# Pick one stack's identity and state backend from the repository variables (VARS_JSON, the job's
# toJSON(vars)) and fail closed: every missing or malformed variable is one ::error:: line and the
# script exits 1. Variables, per stack <STACK> (the stack name upper-cased, '-' as '_'):
#   AZURE_TENANT_ID, AZURE_SUBSCRIPTION_ID           shared
#   AZURE_PREVIEW_CLIENT_ID                          identity=preview (read-only, every stack)
#   AZURE_DEPLOY_<STACK>_CLIENT_ID                   identity=deploy (trusted only for the stack's environment)
#   PULUMI_BACKEND_URL_<STACK>                       the stack's own state container (azblob://...)
# Values are checked (GUIDs, an azblob:// URL without whitespace) before they reach GITHUB_ENV.
set -euo pipefail

fail() { echo "::error title=$1::$2"; problems=$((problems + 1)); }
problems=0
VARS_JSON=${VARS_JSON:-"{}"}
if ! [[ "${STACK:-}" =~ ^[a-z0-9][a-z0-9-]*$ ]]; then
  echo "::error title=Bad stack name::'${STACK:-}' is not a stack name (lowercase letters, digits, '-')."
  exit 1
fi
suffix=$(printf '%s' "$STACK" | tr 'a-z-' 'A-Z_')
case "${IDENTITY:-}" in
  preview) client="AZURE_PREVIEW_CLIENT_ID" ;;
  deploy) client="AZURE_DEPLOY_${suffix}_CLIENT_ID" ;;
  *) echo "::error title=Bad identity::'${IDENTITY:-}' is neither preview nor deploy."; exit 1 ;;
esac
backend="PULUMI_BACKEND_URL_${suffix}"

lookup() {
  # GitHub treats variable names case-insensitively; match them that way.
  jq -r --arg name "$1" '[to_entries[] | select(.key | ascii_upcase == $name) | .value][0] // ""' <<<"$VARS_JSON"
}
guid='^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$'
declare -A value
for name in AZURE_TENANT_ID AZURE_SUBSCRIPTION_ID "$client" "$backend"; do
  v=$(lookup "$name")
  value[$name]=$v
  if [ -z "$v" ]; then
    fail "Repository variable missing" "$name is not set, so $STACK has no ${IDENTITY} identity or state backend. Set it as described in docs/delivery.md (Settings)."
  elif [ "$name" = "$backend" ]; then
    [[ "$v" =~ ^azblob://[^[:space:]]+$ ]] || fail "Repository variable malformed" "$name must be an azblob:// URL for $STACK's own state container."
  elif ! [[ "$v" =~ $guid ]]; then
    fail "Repository variable malformed" "$name must be a GUID."
  fi
done
if [ "$problems" -gt 0 ]; then
  echo "::error title=Stopped before any cloud access::$problems repository variable(s) missing or malformed for $STACK ($IDENTITY)."
  exit 1
fi

{
  echo "client-id=${value[$client]}"
  echo "tenant-id=${value[AZURE_TENANT_ID]}"
  echo "subscription-id=${value[AZURE_SUBSCRIPTION_ID]}"
  echo "backend-url=${value[$backend]}"
} >> "$GITHUB_OUTPUT"
{
  echo "ARM_CLIENT_ID=${value[$client]}"
  echo "ARM_TENANT_ID=${value[AZURE_TENANT_ID]}"
  echo "ARM_SUBSCRIPTION_ID=${value[AZURE_SUBSCRIPTION_ID]}"
  echo "PULUMI_BACKEND_URL=${value[$backend]}"
} >> "$GITHUB_ENV"
echo "$STACK: $IDENTITY identity $client, state $backend"
