#!/usr/bin/env bash
# Trusted side of the preflight report (see action.yml). The pull request is found from the
# workflow_run payload: open pull requests whose head is HEAD_OWNER:HEAD_BRANCH and whose head
# commit is exactly HEAD_SHA (workflow_run.pull_requests is empty for forks: actions/runner#3444);
# when GitHub does list pull requests (same-repository branches), the number must be among them.
set -euo pipefail

skip() { echo "::notice title=Nothing to report::$1"; echo "skip=true" >> "$GITHUB_OUTPUT"; exit 0; }
[[ "$HEAD_SHA" =~ ^[0-9a-f]{40}$ ]] || { echo "::error::workflow_run.head_sha '$HEAD_SHA' is not a commit SHA"; exit 1; }
[[ "$RUN_ID" =~ ^[0-9]+$ ]] || { echo "::error::workflow_run.id '$RUN_ID' is not a run id"; exit 1; }
fork=$([ "$HEAD_REPO" = "$REPO" ] && echo false || echo true)

case "$EVENT" in
  pull_request)
    numbers=$(gh api --method GET "repos/$REPO/pulls" -f state=open -f head="$HEAD_OWNER:$HEAD_BRANCH" -f per_page=100 \
      --jq ".[] | select(.head.sha == \"$HEAD_SHA\") | .number")
    count=$(printf '%s' "$numbers" | grep -c . || true)
    [ "$count" -ge 1 ] || skip "no open pull request has head $HEAD_SHA any more (closed, or pushed again: the newer run reports)."
    [ "$count" -eq 1 ] || { echo "::error::$count open pull requests have head $HEAD_SHA; refusing to guess."; exit 1; }
    pr=$numbers
    listed=$(jq -r '[.[]?.number] | map(tostring) | join(" ")' <<<"${LISTED_PULL_REQUESTS:-[]}")
    if [ -n "$listed" ] && ! [[ " $listed " == *" $pr "* ]]; then
      echo "::error::pull request #$pr is not among those GitHub lists for the run ($listed)."; exit 1
    fi
    ref="refs/pull/$pr/head"
    ;;
  push)
    [ "$fork" = false ] && [ "$HEAD_BRANCH" = "$DEFAULT_BRANCH" ] || skip "push to $HEAD_REPO:$HEAD_BRANCH is not this repository's default branch."
    pr=""
    ref="refs/heads/$HEAD_BRANCH"
    ;;
  *) skip "Checks ran for '$EVENT', which gets no report." ;;
esac

artifacts=$(gh api "repos/$REPO/actions/runs/$RUN_ID/artifacts?name=preflight-reports" \
  --jq '[.artifacts[] | select(.expired | not) | {id, size: .size_in_bytes}]')
[ "$(jq length <<<"$artifacts")" -ge 1 ] || skip "run $RUN_ID has no preflight-reports artifact (preflight wrote nothing: see that run)."
[ "$(jq length <<<"$artifacts")" -eq 1 ] || { echo "::error::run $RUN_ID has several preflight-reports artifacts"; exit 1; }
id=$(jq -r '.[0].id' <<<"$artifacts")
size=$(jq -r '.[0].size' <<<"$artifacts")
[ "$size" -le 10485760 ] || { echo "::error::the artifact is $size bytes, over the 10 MiB bound"; exit 1; }

zip="$RUNNER_TEMP/preflight-reports.zip"
dir="$RUNNER_TEMP/preflight-reports"
gh api "repos/$REPO/actions/artifacts/$id/zip" > "$zip"
bash "$GITHUB_ACTION_PATH/validate.sh" "$zip" "$dir"
{
  echo "skip=false"
  echo "dir=$dir"
  echo "pr=$pr"
  echo "ref=$ref"
  echo "sha=$HEAD_SHA"
  echo "fork=$fork"
} >> "$GITHUB_OUTPUT"
