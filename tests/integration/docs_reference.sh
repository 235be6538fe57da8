#!/usr/bin/env bash
# docs/configuration.md carries the key reference that `ferry config reference` prints.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
doc="$FERRY_SRC/docs/configuration.md"
sed -n '/<!-- reference:begin -->/,/<!-- reference:end -->/p' "$doc" | sed '1d;$d' >"$T_DIR/doc.md"
"$FERRY_BIN" config reference >"$T_DIR/code.md"
diff -u "$T_DIR/doc.md" "$T_DIR/code.md" || fail "docs/configuration.md is stale: run 'make reference'"
ok "configuration reference is current"
