#!/usr/bin/env bash
# validate.sh ZIP DIR: extract the preflight reports from an artifact zip into DIR (created empty)
# only if the zip is plain data: at most 10 MiB, exactly preflight.md, preflight.sarif and
# preflight.json at its root, at most 20 MiB uncompressed, regular files only (no links, no paths),
# the Markdown UTF-8 text starting with the preflight marker, the JSON an object with the report's
# top-level keys, the SARIF a 2.1.0 log. Exits 1 with an ::error:: otherwise, leaving DIR empty.
set -euo pipefail

zip=$1 dir=$2
bad() { echo "::error title=Artifact refused::$1"; rm -rf "$dir"; mkdir -p "$dir"; exit 1; }
rm -rf "$dir"; mkdir -p "$dir"
[ -f "$zip" ] || bad "no artifact file"
[ "$(stat -c %s "$zip")" -le 10485760 ] || bad "the zip is over 10 MiB"
names=$(unzip -Z1 "$zip" 2>/dev/null | LC_ALL=C sort) || bad "not a zip archive"
[ "$names" = "$(printf '%s\n' preflight.json preflight.md preflight.sarif)" ] \
  || bad "the artifact must hold exactly preflight.json, preflight.md and preflight.sarif; it holds: $(echo "$names" | tr '\n' ' ' | head -c 300)"
total=$(unzip -Zt "$zip" | awk '{print $3}')
[[ "$total" =~ ^[0-9]+$ ]] && [ "$total" -le 20971520 ] || bad "over 20 MiB uncompressed"
# The sizes in a zip's headers are the zip's word: each file is extracted through a byte limit, so a
# deflate bomb stops at the limit instead of filling the disk.
for name in preflight.json preflight.md preflight.sarif; do
  { unzip -p "$zip" "$name" 2>/dev/null || true; } | head -c 10485761 > "$dir/$name"
  [ "$(stat -c %s "$dir/$name")" -le 10485760 ] || bad "$name is over 10 MiB extracted"
done
[ -z "$(find "$dir" -mindepth 1 ! -type f -print -quit)" ] || bad "the artifact holds something other than regular files"
[ "$(du -sb "$dir" | cut -f1)" -le 20971520 ] || bad "over 20 MiB extracted"

md="$dir/preflight.md"
[ "$(stat -c %s "$md")" -le 1048576 ] || bad "preflight.md is over 1 MiB"
iconv -f UTF-8 -t UTF-8 "$md" > /dev/null 2>&1 || bad "preflight.md is not UTF-8 text"
[ "$(tr -d '\000' < "$md" | wc -c)" -eq "$(wc -c < "$md")" ] || bad "preflight.md holds NUL bytes"
[ "$(head -n 1 "$md")" = "<!-- ml-messaging-preflight -->" ] || bad "preflight.md does not start with the preflight marker"
jq -e 'type == "object" and has("schemaVersion") and has("verdict") and (.stacks | type == "array")' \
  "$dir/preflight.json" > /dev/null 2>&1 || bad "preflight.json is not a preflight report"
jq -e '.version == "2.1.0" and (.runs | type == "array")' "$dir/preflight.sarif" > /dev/null 2>&1 \
  || bad "preflight.sarif is not a SARIF 2.1.0 log"
echo "preflight reports accepted: $(tr '\n' ' ' <<<"$names")"
