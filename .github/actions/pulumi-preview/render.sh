#!/usr/bin/env bash
# Render one `pulumi preview` as Markdown from its engine event log (JSON lines, one
# apitype.EngineEvent each: pulumi/pulumi sdk/go/common/apitype/events.go). Reads:
#   STACK, EXIT (the CLI's exit code), EVENTS (the --event-log file), OUTPUT (the text output),
#   TITLE, RUN_URL, SHA.
# Policy violations are the `policyEvent` objects (policyName, policyPackName, enforcementLevel,
# message, resourceUrn); errors are `diagnosticEvent`s with severity "error"; change counts come from
# the `summaryEvent`. Lines that are not JSON (a log cut short by a killed CLI) are skipped.
# The pinned CLI exits 1 for a mandatory policy violation (ExitPolicyViolation = 5 is declared but
# not wired: pulumi/pulumi pkg/cmd/pulumi/cmd/exit_codes.go, ExitCodeFor), so the verdict below is
# read from the events, never from the exit code alone.
set -euo pipefail

events() {
  if [ -s "$EVENTS" ]; then jq -cR 'fromjson? // empty' "$EVENTS"; fi
}
cell() { jq -r 'tostring | gsub("\u001b\\[[0-9;]*m"; "") | gsub("[\r\n]+"; " ") | gsub("\\|"; "\\|")'; }

policy=$(events | jq -c 'select(.policyEvent) | .policyEvent' | jq -sc 'unique_by([.policyName, .resourceUrn, .message])')
mandatory=$(jq '[.[] | select(.enforcementLevel == "mandatory")] | length' <<<"$policy")
advisory=$(jq '[.[] | select(.enforcementLevel != "mandatory")] | length' <<<"$policy")
errors=$(events | jq -c 'select(.diagnosticEvent.severity == "error") | .diagnosticEvent.message' | jq -sc 'unique')
summary=$(events | jq -c 'select(.summaryEvent) | .summaryEvent.resourceChanges' | tail -n 1)
have_events=$([ -s "$EVENTS" ] && echo yes || echo no)

if [ "$EXIT" = "0" ]; then
  verdict="✅ passed"
elif [ "$mandatory" -gt 0 ]; then
  verdict="❌ blocked by $mandatory mandatory policy violation(s) (exit code $EXIT)"
elif [ "$EXIT" = "7" ]; then
  verdict="⚠️ changes found where none were expected (exit code 7)"
else
  verdict="❌ failed (exit code $EXIT)"
fi

echo "<!-- ml-messaging-preview:$STACK -->"
echo "### $TITLE: \`$STACK\` $verdict"
echo
echo "Commit \`$SHA\` · [run]($RUN_URL)"
echo
if [ -n "$summary" ] && [ "$summary" != "null" ]; then
  echo "**Changes:** $(jq -r 'to_entries | map("\(.key) \(.value)") | join(", ")' <<<"$summary")"
  echo
elif [ "$have_events" = "no" ]; then
  echo "No engine events were recorded: the CLI stopped before the engine ran (see the output below)."
  echo
fi
if [ "$(jq length <<<"$policy")" -gt 0 ]; then
  echo "#### Policy violations: $mandatory mandatory, $advisory advisory"
  echo
  echo "| level | policy | resource | message |"
  echo "|---|---|---|---|"
  jq -c '.[]' <<<"$policy" | while read -r violation; do
    level=$(jq '.enforcementLevel' <<<"$violation" | cell)
    name=$(jq '.policyName' <<<"$violation" | cell)
    urn=$(jq '.resourceUrn // "(stack)"' <<<"$violation" | cell)
    message=$(jq '.message' <<<"$violation" | cell)
    echo "| $level | \`$name\` | \`${urn#*::*::}\` | $message |"
  done
  echo
fi
if [ "$(jq length <<<"$errors")" -gt 0 ]; then
  echo "#### Errors"
  echo
  jq -r '.[:20][] | gsub("\u001b\\[[0-9;]*m"; "") | "- " + (gsub("[\r\n]+"; " "))' <<<"$errors"
  echo
fi
size=$(wc -c < "$OUTPUT" 2>/dev/null || echo 0)
if [ "$size" -gt 40000 ]; then
  echo "> **The preview output has $size characters: only its last 40,000 are below.** The whole output is in this job's log."
  echo
fi
echo "<details><summary>Preview output (last 40,000 characters)</summary>"
echo
echo "<pre>"
if [ -s "$OUTPUT" ]; then tail -c 40000 "$OUTPUT" | sed 's/&/\&amp;/g; s/</\&lt;/g; s/>/\&gt;/g'; fi
echo "</pre>"
echo "</details>"
