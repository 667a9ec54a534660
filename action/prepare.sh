# Step "Check inputs": validates every input before the (possibly slow)
# install, and writes greenlight's argv for the run step, one argument per
# line. Inputs arrive through `env:` and are only ever read as data.
set -eu
. "${GITHUB_ACTION_PATH}/action/lib.sh"

case "${GREENLIGHT_ACTION_COMMAND}" in
  run | plan | promote | rollback | abort | status) ;;
  *) fail "input 'command' must be one of run, plan, promote, rollback, abort, status (got '$(shown "${GREENLIGHT_ACTION_COMMAND}")')" ;;
esac
[ -n "${GREENLIGHT_ACTION_CONFIG}" ] || fail "input 'config' must not be empty"
[ -n "${GREENLIGHT_ACTION_ENVIRONMENT}" ] || fail "input 'environment' must not be empty"
# One argument per line in the argv file: these must be one line each.
for pair in "config:${GREENLIGHT_ACTION_CONFIG}" "version:${GREENLIGHT_ACTION_VERSION}" \
  "stable-version:${GREENLIGHT_ACTION_STABLE_VERSION}" "environment:${GREENLIGHT_ACTION_ENVIRONMENT}"; do
  single_line "${pair#*:}" || fail "input '${pair%%:*}' must be a single line"
done

# Booleans are normalised here so greenlight only ever sees true|false.
bool() {
  case "$2" in
    true | True | TRUE) bool_value=true ;;
    false | False | FALSE) bool_value=false ;;
    *) fail "input '$1' must be true or false (got '$(shown "$2")')" ;;
  esac
}
bool comment "${GREENLIGHT_ACTION_COMMENT}"
comment=${bool_value}
bool summary "${GREENLIGHT_ACTION_SUMMARY}"
summary=${bool_value}
bool deployment "${GREENLIGHT_ACTION_DEPLOYMENT}"
deployment=${bool_value}

work=$(mktemp -d "${RUNNER_TEMP}/greenlight.XXXXXX")
argv="${work}/argv"
: > "${argv}"
arg() {
  for a in "$@"; do printf '%s\n' "${a}" >> "${argv}"; done
}

arg "${GREENLIGHT_ACTION_COMMAND}" -f "${GREENLIGHT_ACTION_CONFIG}"
if [ -n "${GREENLIGHT_ACTION_VERSION}" ]; then
  arg --version "${GREENLIGHT_ACTION_VERSION}"
fi
if [ -n "${GREENLIGHT_ACTION_STABLE_VERSION}" ]; then
  arg --stable-version "${GREENLIGHT_ACTION_STABLE_VERSION}"
fi

# One flag per KEY=VALUE line. An offending line is reported by its number
# only: values may be secrets and must not reach the log.
lines() { # input, flag, what, value
  n=0
  while IFS= read -r line || [ -n "${line}" ]; do
    n=$((n + 1))
    line=${line%"${cr}"}
    # Trim surrounding blanks (YAML block scalars keep indentation).
    line=${line#"${line%%[![:space:]]*}"}
    line=${line%"${line##*[![:space:]]}"}
    case "${line}" in
      '' | '#'*) continue ;;
      [!=]*=*) ;;
      *) fail "input '$1', line ${n}: expected $3=VALUE" ;;
    esac
    arg "$2" "${line}"
  done << LINES
$4
LINES
}
lines set --set KEY "${GREENLIGHT_ACTION_SET}"
lines vars --var NAME "${GREENLIGHT_ACTION_VARS}"

# Reports live in a private temp dir; greenlight writes these paths back as
# the `report` and `summary` outputs.
arg --report "${work}/report.json" --summary "${work}/summary.md"

output dir "${work}"
output comment "${comment}"
output summary "${summary}"
output deployment "${deployment}"
