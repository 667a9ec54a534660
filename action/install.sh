# Step "Install greenlight": puts a verified greenlight binary in the runner's
# tool cache (or builds one from source when asked) and writes `bin`,
# `cache-hit` and `greenlight-version`.
#
# Which binary (docs/ci.md, "How the binary gets there"):
#   greenlight-version: vX.Y.Z   that release
#   greenlight-version: source   the action's own source, built with cargo
#   empty                        the release this ref of the action was made
#                                for; source only when the ref has none
# Which checksum, first found wins: the `checksum` input, the committed
# dist/checksums/vX.Y.Z.sha256 of this ref, the release's own checksums file.
set -eu
. "${GITHUB_ACTION_PATH}/action/lib.sh"

action_path=${GITHUB_ACTION_PATH}
sums_dir="${action_path}/dist/checksums"
requested=${GREENLIGHT_ACTION_GREENLIGHT_VERSION:-}
ref=${GREENLIGHT_ACTION_REF:-}
pinned=${GREENLIGHT_ACTION_CHECKSUM:-}
base=${GREENLIGHT_ACTION_DOWNLOAD_URL:-}
[ -n "${base}" ] || base=https://github.com/greenlight-dev/greenlight/releases/download
releases_page=https://github.com/greenlight-dev/greenlight/releases

is_release() { # vX.Y.Z or vX.Y.Z-pre
  single_line "$1" && printf '%s\n' "$1" | grep -Eq '^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$'
}

# The newest stable release whose checksums this ref carries.
newest_committed() {
  [ -d "${sums_dir}" ] || return 0
  (cd "${sums_dir}" && for f in v*.sha256; do printf '%s\n' "${f}"; done) |
    sed -n 's/^v\([0-9][0-9]*\.[0-9][0-9]*\.[0-9][0-9]*\)\.sha256$/\1/p' |
    sort -t. -k1,1n -k2,2n -k3,3n | tail -n 1 | sed 's/^./v&/'
}

# --- which greenlight ------------------------------------------------------
why_source=""
if [ -z "${requested}" ]; then
  if [ -f "${sums_dir}/CURRENT" ]; then
    # The action-vX.Y.Z commits (and the major tag vX, which points at one).
    requested=$(head -n 1 "${sums_dir}/CURRENT" | tr -d '[:space:]')
    is_release "${requested}" || fail "dist/checksums/CURRENT in this ref of the action names no release ('$(shown "${requested}")'); set greenlight-version to a release such as v0.2.0"
  elif is_release "${ref}"; then
    requested=${ref}
  elif is_release "${ref#action-}"; then
    requested=${ref#action-}
  elif [ -z "${ref}" ]; then
    requested=source
    why_source="the action runs from a local path (uses: ./), so its own source is what is tested"
  else
    requested=$(newest_committed)
    if [ -z "${requested}" ]; then
      requested=source
      why_source="this ref of the action ($(shown "${ref}")) has no release (no dist/checksums/ in it); set greenlight-version to a release such as v0.2.0 to download one in seconds"
    fi
  fi
elif [ "${requested}" = source ]; then
  why_source="greenlight-version is 'source'"
fi

# --- source build ----------------------------------------------------------
if [ "${requested}" = source ]; then
  [ -z "${pinned}" ] || fail "input 'checksum' pins a release binary, but greenlight is built from source here (${why_source}); remove 'checksum' or set greenlight-version to the release it belongs to"
  command -v cargo > /dev/null 2>&1 || fail "greenlight must be built from source (${why_source}), but cargo is not installed: install a Rust toolchain first (rustup), or set greenlight-version to a release such as v0.2.0"
  [ -f "${action_path}/Cargo.toml" ] || fail "greenlight must be built from source (${why_source}), but ${action_path} has no Cargo.toml"
  notice "building greenlight from source with cargo (minutes, not seconds): ${why_source}"
  target_dir="${RUNNER_TEMP}/greenlight-source-target"
  echo "::group::cargo build greenlight"
  cargo build --release --locked --manifest-path "${action_path}/Cargo.toml" \
    --target-dir "${target_dir}" --bin greenlight || {
    echo "::endgroup::"
    fail "cargo build of greenlight failed (the log above says why); set greenlight-version to a release such as v0.2.0 to download one instead"
  }
  echo "::endgroup::"
  bin="${target_dir}/release/greenlight"
  built=$("${bin}" --version 2>&1) || fail "the greenlight built from source does not run: ${built}"
  # `greenlight 0.2.0` -> v0.2.0+source: not a release, and says so.
  output bin "${bin}"
  output cache-hit false
  output greenlight-version "v${built##* }+source"
  echo "${built} (built from source)"
  exit 0
fi

# --- a release -------------------------------------------------------------
case "${requested}" in
  v*) ;;
  *) requested="v${requested}" ;;
esac
is_release "${requested}" || fail "input 'greenlight-version' must be empty, 'source' or a release such as v0.2.0 (got '$(shown "${requested}")'); releases are listed at ${releases_page}"
version=${requested}

case "${RUNNER_OS:-}/${RUNNER_ARCH:-}" in
  Linux/X64) target=x86_64-unknown-linux-gnu arch=x64 ;;
  Linux/ARM64) target=aarch64-unknown-linux-gnu arch=arm64 ;;
  macOS/X64) target=x86_64-apple-darwin arch=x64 ;;
  macOS/ARM64) target=aarch64-apple-darwin arch=arm64 ;;
  *) fail "greenlight has no release binary for $(shown "${RUNNER_OS:-?}")/$(shown "${RUNNER_ARCH:-?}"); run the job on Linux or macOS (x64 or arm64), or set greenlight-version: source on a runner with a Rust toolchain" ;;
esac
asset="greenlight-${version}-${target}.tar.gz"

# Downloads: https only, except to this machine (a local mirror or a test).
single_line "${base}" || fail "input 'download-url' must be a single URL"
case "${base}" in
  https://*) proto='=https' ;;
  http://127.0.0.1[:/]* | http://localhost[:/]* | http://\[::1\][:/]*) proto='=http,https' ;;
  *) fail "input 'download-url' must be an https:// URL, the base under which <tag>/<archive> is served (got '$(shown "${base}")'), such as https://github.com/greenlight-dev/greenlight/releases/download" ;;
esac
base=${base%/}
url="${base}/${version}/${asset}"
sums_url="${base}/${version}/greenlight-${version}.sha256"

# The sha256 for our archive in sha256sum-format text (`<hex>  <name>` or
# `<hex> *<name>`), or a bare 64-hex pin.
sum_for() { # text
  if printf '%s\n' "$1" | grep -Eqx '[[:space:]]*[0-9a-fA-F]{64}[[:space:]]*'; then
    printf '%s\n' "$1" | tr -d '[:space:]' | tr 'A-F' 'a-f'
    return 0
  fi
  printf '%s\n' "$1" | awk -v f="${asset}" '$2 == f || $2 == "*" f { print tolower($1); exit }'
}
is_sha256() {
  printf '%s\n' "$1" | grep -Eqx '[0-9a-f]{64}'
}

# The expected sha256, when it is known without asking the server.
expected="" expected_from=""
if [ -n "${pinned}" ]; then
  expected=$(sum_for "${pinned}")
  is_sha256 "${expected}" || fail "input 'checksum' must be the sha256 of ${asset} (64 hex digits), or sha256sum lines that include it"
  expected_from="the checksum input"
elif [ -f "${sums_dir}/${version}.sha256" ]; then
  expected=$(sum_for "$(cat "${sums_dir}/${version}.sha256")")
  is_sha256 "${expected}" || fail "dist/checksums/${version}.sha256 in this ref of the action has no sha256 for ${asset}; pin it with the checksum input, or use another greenlight-version"
  expected_from="dist/checksums/${version}.sha256 in this ref of the action"
fi

# Checked here, not inside sha256_of: a `fail` in $(...) would not stop us.
if command -v sha256sum > /dev/null 2>&1; then
  sha256_of() { sha256sum "$1" | awk '{ print $1 }'; }
elif command -v shasum > /dev/null 2>&1; then
  sha256_of() { shasum -a 256 "$1" | awk '{ print $1 }'; }
elif command -v openssl > /dev/null 2>&1; then
  sha256_of() { openssl dgst -sha256 -r "$1" | awk '{ print $1 }'; }
else
  fail "no sha256 tool on this runner (sha256sum, shasum or openssl): install coreutils, perl or openssl"
fi

# --- the tool cache --------------------------------------------------------
# Same layout as actions/tool-cache: <root>/<tool>/<semver>/<arch>, with
# <arch>.complete beside it once the folder is whole. On self-hosted runners
# it persists between jobs; on hosted ones it lasts for the job.
tool_root=${RUNNER_TOOL_CACHE:-${RUNNER_TEMP}/tool-cache}
cached="${tool_root}/greenlight/${version#v}/${arch}"
bin="${cached}/greenlight"

cache_hit=false
if [ -f "${cached}.complete" ] && [ -x "${bin}" ] && [ -f "${cached}/greenlight.sha256" ] &&
  [ "$(sha256_of "${bin}")" = "$(cat "${cached}/greenlight.sha256")" ]; then
  # A pin (or committed checksum) that differs from the archive the cache
  # came from means another binary: download and check that one.
  if [ -z "${expected}" ] || [ "${expected}" = "$(cat "${cached}/archive.sha256" 2> /dev/null)" ]; then
    cache_hit=true
  fi
fi

fetch() { # url, file; every failure is an ::error with what to do
  fetch_err="${work}/fetch.err"
  if command -v curl > /dev/null 2>&1; then
    # No --fail: the status code is read, so a 404 gets its own message.
    code=$(curl --silent --show-error --location --proto "${proto}" --proto-redir "${proto}" \
      --retry 3 --retry-delay 2 --connect-timeout 30 --max-time 600 \
      --output "$2" --write-out '%{http_code}' "$1" 2> "${fetch_err}") ||
      fail "could not download $1: $(tail -n 1 "${fetch_err}"). Check that this runner can reach that host, or set download-url to a mirror that serves ${version}/${asset}"
  elif command -v wget > /dev/null 2>&1; then
    # BusyBox wget (Alpine) prints `server returned error: HTTP/1.1 404 ...`,
    # GNU wget `ERROR 404: Not Found.`
    # No -T: it crashes the BusyBox wget of Debian 12.
    if wget -O "$2" "$1" 2> "${fetch_err}"; then
      code=200
    elif grep -Eq '(^|[^0-9])404([^0-9]|$)' "${fetch_err}"; then
      code=404
    else
      fail "could not download $1: $(tail -n 1 "${fetch_err}"). Check that this runner can reach that host, or set download-url to a mirror that serves ${version}/${asset}"
    fi
  else
    fail "neither curl nor wget is installed: install one (apk add curl, apt-get install curl) or use an image that has it"
  fi
  case "${code}" in
    200) ;;
    404) fail "not found (HTTP 404): $1. Set greenlight-version to a published release (${releases_page}) that has a ${target} archive (or to source, to build it with cargo), or set download-url to a mirror that serves ${version}/${asset}" ;;
    *) fail "$1 answered HTTP ${code}; retry, or set download-url to a mirror that serves ${version}/${asset}" ;;
  esac
}

if [ "${cache_hit}" = false ]; then
  mkdir -p "${tool_root}/greenlight"
  work=$(mktemp -d "${tool_root}/greenlight/.download.XXXXXX")
  trap 'rm -rf "${work}"' EXIT
  if [ -z "${expected}" ]; then
    fetch "${sums_url}" "${work}/checksums"
    expected=$(sum_for "$(cat "${work}/checksums")")
    is_sha256 "${expected}" || fail "${sums_url} has no sha256 for ${asset}: this release has no ${target} binary; use another greenlight-version, or pin the checksum input"
    expected_from="${sums_url}"
  fi
  echo "Downloading ${url}"
  # No token is sent: release assets are public, and the redirect goes to
  # another host.
  fetch "${url}" "${work}/${asset}"
  actual=$(sha256_of "${work}/${asset}")
  [ "${actual}" = "${expected}" ] ||
    fail "sha256 mismatch for ${asset}: expected ${expected} (from ${expected_from}), got ${actual}. The download is corrupt or not the published release; it was deleted and not run. If you pinned 'checksum', check that it is the one for ${version} on ${target}"
  mkdir "${work}/out"
  tar -xzf "${work}/${asset}" -C "${work}/out" greenlight ||
    fail "${asset} has no 'greenlight' file inside; it is not a greenlight release archive"
  chmod 0755 "${work}/out/greenlight"
  printf '%s\n' "${actual}" > "${work}/out/archive.sha256"
  sha256_of "${work}/out/greenlight" > "${work}/out/greenlight.sha256"
  rm -rf "${cached}" "${cached}.complete"
  mkdir -p "${cached%/*}"
  mv "${work}/out" "${cached}"
  : > "${cached}.complete"
else
  echo "greenlight ${version} from the tool cache: ${cached}"
fi

ran=$("${bin}" --version 2>&1) ||
  fail "greenlight ${version} for ${target} does not run on this runner: ${ran}"
echo "${ran}"
output bin "${bin}"
output cache-hit "${cache_hit}"
output greenlight-version "${version}"
