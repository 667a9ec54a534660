# The outputs of a `plan` through the action (self-test.yml). POSIX sh: it
# also runs in the Alpine container job, which has no bash and no python3.
set -eu
fail() { echo "::error::$1"; exit 1; }
[ "${OUTCOME}" = planned ] || fail "outcome is '${OUTCOME}', expected 'planned'"
[ -s "${REPORT}" ] || fail "report '${REPORT}' is missing or empty"
[ -s "${SUMMARY}" ] || fail "summary '${SUMMARY}' is missing or empty"
grep -q '"outcome": *"planned"' "${REPORT}" || fail "the JSON report does not say planned"
[ -n "${HEADLINE}" ] || fail "headline is empty"
case "${GREENLIGHT_VERSION}" in
  v*+source) ;;
  *) fail "greenlight-version is '${GREENLIGHT_VERSION}', expected vX.Y.Z+source (uses: ./ builds from source)" ;;
esac
echo "outputs ok: ${HEADLINE} (${GREENLIGHT_VERSION})"
