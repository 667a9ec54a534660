# Shared by the action's step scripts (sourced, not run).
#
# The steps are POSIX sh, not bash: they run under dash, busybox ash (Alpine
# containers have no bash), and macOS's /bin/sh. .ci/test-action runs them
# under dash and under busybox with nothing but busybox on PATH.

# A line break, for `case` patterns and checks.
nl='
'
cr=$(printf '\r')

# Workflow-command data must not carry %, CR or LF unescaped: a value could
# otherwise end the annotation early or start a new command.
command_data() {
  printf '%s' "$1" | sed -e 's/%/%25/g' | tr '\r\n' '  '
}

# Every failure is an annotation that says what to do, then exit 1.
fail() {
  printf '::error title=greenlight action::%s\n' "$(command_data "$1")"
  exit 1
}

notice() {
  printf '::notice title=greenlight action::%s\n' "$(command_data "$1")"
}

warning() {
  printf '::warning title=greenlight action::%s\n' "$(command_data "$1")"
}

# A rejected value is echoed only in a form that cannot start a workflow
# command or span lines.
shown() {
  printf '%s' "$1" | tr -c 'A-Za-z0-9_.+-' '?'
}

single_line() {
  case "$1" in
    *"${nl}"* | *"${cr}"*) return 1 ;;
  esac
}

# `name=value` into GITHUB_OUTPUT; values are made single-line first.
output() {
  printf '%s=%s\n' "$1" "$(printf '%s' "$2" | tr '\r\n' '  ')" >> "${GITHUB_OUTPUT}"
}

has_output() {
  grep -Eq "^$1(=|<<)" "${GITHUB_OUTPUT}"
}
