#!/usr/bin/env bash
# The three YAML parsers greenlight carried, on the alias bomb (one anchor of
# 100k scalars used 100 and 1,000 times) and on inputs whose errors need a
# location, then greenlight's own loader through `greenlight validate`. Each
# parser run is capped at 2 GiB of address space (ulimit -v): a parser that
# needs more aborts, which is the finding. The RSS of the greenlight rows is
# the largest of the runs so far (getrusage of children).
#
#   benches/yaml-parsers.sh          (GREENLIGHT_BIN=target/debug/greenlight to skip the release build)
set -uo pipefail
cd "$(dirname "$0")/yaml-parsers"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$(pwd)/target}"
cargo build --release --quiet
bin="$CARGO_TARGET_DIR/release/yaml-parsers"
for parser in serde_yaml yaml-rust2 serde-saphyr; do
  for case in bomb100 bomb1000 two-docs int-key nul unclosed; do
    ( ulimit -v 2097152; "$bin" "$parser" "$case" 2>&1 | tail -1 ) \
      || echo "$parser $case: aborted (over 2 GiB)"
  done
done

# greenlight's own loader (yaml-rust2's event parser, aliases counted before
# they are expanded), through `greenlight validate` on the same inputs.
cd ../..
bin="${GREENLIGHT_BIN:-target/release/greenlight}"
[ -x "$bin" ] || cargo build --release --locked --quiet
python3 - "$bin" <<'PY'
import os, resource, subprocess, sys, tempfile, time
bin = os.path.abspath(sys.argv[1])
def bomb(uses):
    return "big: &a [" + ",".join(["x"] * 100_000) + "]\nuses: [" + ",".join(["*a"] * uses) + "]\n"
cases = {"bomb100": bomb(100), "bomb1000": bomb(1000), "two-docs": "a: 1\n---\nb: 2\n",
         "int-key": "a:\n  7: x\n", "nul": "a: 1\nb: x\0y\n", "unclosed": "a: [1, 2\nb: 3\n"}
for name, text in cases.items():
    with tempfile.TemporaryDirectory() as d:
        open(os.path.join(d, "greenlight.yaml"), "w").write(text)
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        start = time.monotonic()
        run = subprocess.run([bin, "validate", "--version", "v2"], cwd=d, capture_output=True, text=True)
        took = time.monotonic() - start
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        first = (run.stderr.strip().splitlines() or ["accepted"])[0][:140]
        print(f"{'greenlight':12} {name:9} {took:8.3f}s {rss:>8} KiB  {first}")
PY
