#!/usr/bin/env bash
# tools/gen-configs.sh — writes deploy/config/<daemon>.conf, the annotated example of every
# daemon's settings, from the daemon's own --help (its typed config table), so the examples
# cannot drift from the code. Run after adding a setting; e2e checks each example loads.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${JIESU_BIN:-build/debug/bin}
for s in intake dispatcher deadline-watcher revisit reporting; do
  {
    echo "# jiesu-$s — annotated example configuration."
    echo "#"
    echo "# Precedence: built-in defaults < this file (--config FILE) < environment JIESU_<KEY>"
    echo "# < command line --key=value. An unknown key is an error naming this file and line."
    echo "# Print what is in force with: jiesu-$s --config FILE --dump-config"
    echo "# Every key below is shown with its default, commented out."
    echo
    "$BIN/jiesu-$s" --help | tail -n +3 |
      sed -E 's/^  ([a-z_]+) +(.*) \(default: (.*)\)$/# \2\n# \1 = \3\n/' |
      sed 's|^# pg_dsn = <secret>$|# pg_dsn = host=127.0.0.1 port=54329 dbname=jiesu user=jiesu password=jiesu|'
  } > "deploy/config/$s.conf"
done
echo "wrote deploy/config/*.conf"
