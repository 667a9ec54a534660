# Step "Run greenlight": runs the installed binary with the argv the
# prepare step wrote, keeps its exit code, and fills the outputs greenlight
# did not write itself (an older binary, or a crash before it could).
set -eu
. "${GITHUB_ACTION_PATH}/action/lib.sh"

dir=${GREENLIGHT_ACTION_DIR}
set --
while IFS= read -r a; do
  set -- "$@" "${a}"
done < "${dir}/argv"

status=0
"${GREENLIGHT_ACTION_BIN}" "$@" || status=$?

# `outcome` from the exit code, so `if: steps.x.outputs.outcome == ...`
# works even when greenlight died before writing it. When greenlight wrote
# it, greenlight also annotated a red outcome itself (`::error title=<service>
# rolled back::<reason>`).
reported=false
has_output outcome && reported=true
if [ "${reported}" = false ]; then
  case "${status}" in
    0) outcome="" ;;
    2) outcome=rolled_back ;;
    3) outcome=halted ;;
    *) outcome=failed ;;
  esac
  output outcome "${outcome}"
  [ -f "${dir}/report.json" ] && output report "${dir}/report.json"
  [ -f "${dir}/summary.md" ] && output summary "${dir}/summary.md"
fi

# `headline`: the summary's first line is greenlight's headline (outcome and
# why, in one sentence), without its Markdown bold and the link to the run.
headline=""
if [ -s "${dir}/summary.md" ]; then
  headline=$(head -n 1 "${dir}/summary.md" | sed -e 's/\*\*//g' -e 's/ · \[CI run\](.*)$//')
fi
if ! has_output headline && [ -n "${headline}" ]; then
  output headline "${headline}"
fi

# `reason`: the report's one-sentence why. JSON needs a parser: jq or python3
# (both on GitHub-hosted runners); without either it stays empty.
if ! has_output reason && [ -s "${dir}/report.json" ]; then
  reason=""
  if command -v jq > /dev/null 2>&1; then
    reason=$(jq -r '.reason // empty' "${dir}/report.json" 2> /dev/null || true)
  elif command -v python3 > /dev/null 2>&1; then
    reason=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1])).get("reason", ""))' "${dir}/report.json" 2> /dev/null || true)
  fi
  [ -n "${reason}" ] && output reason "${reason}"
fi

# One annotation for a red step that greenlight did not report itself (it
# died first, or an older binary), with the headline when there is one.
[ "${reported}" = true ] && exit "${status}"
case "${status}" in
  0) ;;
  2) printf '::error title=greenlight::%s\n' "$(command_data "${headline:-a gate failed and traffic was rolled back (exit 2)}")" ;;
  3) printf '::error title=greenlight::%s\n' "$(command_data "${headline:-rollout halted: a person must decide (exit 3)}")" ;;
  *) printf '::error title=greenlight::%s\n' "$(command_data "${headline:-greenlight failed (exit ${status})}")" ;;
esac
exit "${status}"
