#!/usr/bin/env bash
# Validate a FOCUS 1.2 CostAndUsage file (CSV or Parquet) with the FinOps Foundation's
# validator (PyPI `focus-validator`), in its own Python 3.12 venv (.venv-focus/).
#
#   scripts/focus_validate.sh [FILE]        default: data/exports/focus/focus_ai_spend.csv
#   scripts/focus_validate.sh --find-python prints the Python 3.12 it would use (exit 3: none)
#
# Environment:
#   FOCUS_APPLICABILITY_CRITERIA  comma-separated criteria passed to --applicability-criteria.
#       Empty (default) = the validator's default: every rule gated by a criterion is skipped.
#       Profile for AI token APIs (see notes): USAGE_MEASUREMENT_SUPPORTED,UNIT_PRICING_SUPPORTED,
#       PUBLIC_PRICE_LIST_SUPPORTED,NEGOTIATED_PRICING_SUPPORTED,SUB_ACCOUNT_SUPPORTED,
#       TAGGING_SUPPORTED,ACCOUNT_NAMING_SUPPORTED
#   FOCUS_VALIDATE_VERBOSE=1      print every rule's result, not just the summary and failures
#   FOCUS_PYTHON                  a Python 3.12 interpreter to build the venv with
#   FOCUS_VENV                    venv location (default: <repo>/.venv-focus)
#
# Exit status: 0 = no failing rule; 1 = failing rules, or no summary line; 2 = usage / input
# error; 3 = no Python 3.12 found. The validator itself exits 0 even when rules fail, so the
# verdict comes from its summary line ("Total: T | Pass: P | Fail: F | Skipped: S").
set -euo pipefail
shopt -s nullglob

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VALIDATOR_VERSION="2.2.1"
FOCUS_VERSION="1.2"
VENV="${FOCUS_VENV:-$ROOT/.venv-focus}"
STAMP="$VENV/.focus-validator-$VALIDATOR_VERSION.stamp"
CRITERIA="${FOCUS_APPLICABILITY_CRITERIA:-}"

die() {
    local code="$1"
    shift
    echo "focus-validate: $*" >&2
    exit "$code"
}

is_python312() {
    [[ -n "$1" && -x "$1" ]] &&
        "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' >/dev/null 2>&1
}

# pyenv's versions/3.12.*/bin/python3.12 (newest first), whatever the pyenv root, then
# python3.12 on PATH. A pyenv shim on PATH may exist without 3.12 being active, so every
# candidate is run before it is trusted.
find_python312() {
    local roots=() root cand cands
    [[ -n "${FOCUS_PYTHON:-}" ]] && { is_python312 "$FOCUS_PYTHON" && echo "$FOCUS_PYTHON" && return 0; }
    if command -v pyenv >/dev/null 2>&1; then
        root="$(pyenv root 2>/dev/null || true)"
        [[ -n "$root" ]] && roots+=("$root")
    fi
    [[ -n "${PYENV_ROOT:-}" ]] && roots+=("$PYENV_ROOT")
    roots+=("$HOME/.pyenv")
    for root in "${roots[@]}"; do
        cands=("$root"/versions/3.12*/bin/python3.12)
        ((${#cands[@]})) || continue
        while IFS= read -r cand; do
            is_python312 "$cand" && { echo "$cand"; return 0; }
        done < <(printf '%s\n' "${cands[@]}" | sort -V -r)
    done
    cand="$(command -v python3.12 2>/dev/null || true)"
    is_python312 "$cand" && { echo "$cand"; return 0; }
    return 1
}

if [[ "${1:-}" == "--find-python" ]]; then
    find_python312 || die 3 "no Python 3.12 found (pyenv versions/3.12.*, python3.12 on PATH, FOCUS_PYTHON)"
    exit 0
fi

FILE="${1:-data/exports/focus/focus_ai_spend.csv}"
[[ -f "$FILE" ]] || die 2 "no such file: $FILE"
case "$FILE" in
    *.csv | *.parquet) ;;
    *) die 2 "the validator reads only .csv or .parquet files (by extension): $FILE" ;;
esac
DATA="$(cd "$(dirname "$FILE")" && pwd)/$(basename "$FILE")"

# --- the validator's venv (created once; the stamp makes later calls install nothing) -------
install_validator() {
    local py log
    py="$(find_python312)" ||
        die 3 "no Python 3.12 found (pyenv versions/3.12.*, python3.12 on PATH, FOCUS_PYTHON); focus-validator $VALIDATOR_VERSION needs it"
    log="$VENV/install.log"
    echo "focus-validate: installing focus-validator $VALIDATOR_VERSION into $VENV (with $py)" >&2
    if ! is_python312 "$VENV/bin/python"; then
        "$py" -m venv --clear "$VENV"
    fi
    {
        "$VENV/bin/python" -m pip install --upgrade pip &&
            "$VENV/bin/python" -m pip install "focus-validator==$VALIDATOR_VERSION" &&
            # focus-validator pins numpy<2, which is wrong: it runs on numpy 2 (pip warns; fine)
            "$VENV/bin/python" -m pip install "numpy>=2" &&
            "$VENV/bin/python" -c 'import focus_validator.main, numpy, polars, duckdb'
    } >"$log" 2>&1 || { tail -n 30 "$log" >&2; die 1 "installing focus-validator failed (log: $log)"; }
    touch "$STAMP"
}

if [[ ! -f "$STAMP" ]]; then
    # the lock sits beside the venv, not in it: `venv --clear` would delete it while held, and
    # a second call would then lock a new file (two test workers install at once)
    mkdir -p "$(dirname "$VENV")"
    exec 9>"$VENV.install.lock"
    flock 9 2>/dev/null || true # another call may be installing: wait for it
    [[ -f "$STAMP" ]] || install_validator
    exec 9>&-
fi

PY="$VENV/bin/python"
SITE="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
models=("$SITE"/focus_validator/rules/model-1.2*.json)
((${#models[@]})) || die 1 "no FOCUS 1.2 rule model under $SITE/focus_validator/rules"
MODEL="$(printf '%s\n' "${models[@]}" | sort -V | tail -n 1)"

# The validator logs DEBUG to ./focus_validator_detailed.log; keep that log in the venv instead.
LOG_DIR="$VENV/logs"
mkdir -p "$LOG_DIR"
cat >"$LOG_DIR/logging.yaml" <<EOF
version: 1
disable_existing_loggers: false
formatters:
  detailed:
    format: "%(asctime)s [%(levelname)s] %(name)s:%(lineno)d - %(message)s"
handlers:
  file:
    class: logging.FileHandler
    filename: $LOG_DIR/focus_validator_detailed.log
    mode: w
    formatter: detailed
    level: DEBUG
root:
  level: DEBUG
  handlers: [file]
EOF

OUT="$(mktemp)"
trap 'rm -f "$OUT"' EXIT

args=(
    --data-file "$DATA"
    --validate-version "$FOCUS_VERSION"
    --focus-dataset CostAndUsage
    --output-type console
    --block-download
    --show-violations
)
[[ -n "$CRITERIA" ]] && args+=(--applicability-criteria "$CRITERIA")

# It opens its bundled currency list by a path relative to the working directory.
set +e
(cd "$SITE" && LOGGING_CONFIG="$LOG_DIR/logging.yaml" PYTHONIOENCODING=utf-8 \
    "$VENV/bin/focus-validator" "${args[@]}") >"$OUT" 2>&1
rc=$?
set -e

if [[ "${FOCUS_VALIDATE_VERBOSE:-0}" == "1" ]]; then
    cat "$OUT"
fi
if [[ $rc -ne 0 ]]; then
    tail -n 40 "$OUT" >&2
    die 1 "the validator crashed (exit $rc); detailed log: $LOG_DIR/focus_validator_detailed.log"
fi

# Summary, failures, verdict. A failing branch of an OR rule whose OR rule passed is no
# violation (the validator still counts it: InvoiceId-C-004-C / -005-C, "MUST be null when not
# invoiced" / "MUST NOT be null when invoiced", always fail one of the two).
"$PY" - "$OUT" "$MODEL" "$FILE" "$FOCUS_VERSION" "${CRITERIA:-none (validator default)}" <<'PYEOF'
import json
import re
import sys

out_path, model_path, file_arg, version, criteria = sys.argv[1:6]
text = open(out_path, encoding="utf-8", errors="replace").read()

summary = re.search(
    r"^Total: (\d+) \| Pass: (\d+) \| Fail: (\d+) \| Skipped: (\d+)\s*$", text, re.M
)
if not summary:
    print(text[-3000:], file=sys.stderr)
    print("focus-validate: no 'Fail: N' summary line in the validator's output", file=sys.stderr)
    sys.exit(1)
total, passed, failed, skipped = (int(g) for g in summary.groups())

status = dict(
    re.findall(r"^\S+ ([A-Za-z]+-[A-Z]-\d{3}-[A-Z]): (PASS|FAIL|SKIPPED)\b", text, re.M)
)
failing = [rule for rule, s in status.items() if s == "FAIL"]

or_parents: dict[str, list[str]] = {}
rules = json.load(open(model_path, encoding="utf-8"))["ModelRules"]
for rule_id, rule in rules.items():
    req = rule.get("ValidationCriteria", {}).get("Requirement", {})
    items = req.get("Items") or []
    if req.get("CheckFunction") == "OR" and items and all(
        i.get("CheckFunction") == "CheckModelRule" for i in items
    ):
        for item in items:
            or_parents.setdefault(item["ModelRuleId"], []).append(rule_id)

excused = {
    rule: parent
    for rule in failing
    for parent in or_parents.get(rule, [])
    if status.get(parent) == "PASS"
}
real = [rule for rule in failing if rule not in excused]
if len(failing) != failed:  # could not attribute every failure to a rule line: excuse nothing
    excused, real = {}, failing or ["<unparsed>"]

print(f"focus-validate: applicability criteria: {criteria}")
print(summary.group(0).strip())
if "--- Failures ---" in text and real:
    block = text.split("--- Failures ---", 1)[1].strip("\n").splitlines()
    shown, keep = [], False
    for line in block:
        m = re.match(r"^- ([A-Za-z]+-[A-Z]-\d{3}-[A-Z]):", line)
        if m:
            keep = m.group(1) not in excused
        if keep:
            shown.append(line if len(line) <= 400 else line[:400] + " ...")
    print("--- Failures ---")
    print("\n".join(shown))
for rule, parent in sorted(excused.items()):
    print(f"focus-validate: not counted: {rule} fails, but it is one branch of {parent}, which passes")
print(
    f"focus-validate: FOCUS {version}, {file_arg}: "
    f"Pass {passed}, Fail {len(real)}, Skipped {skipped}"
)
sys.exit(1 if real else 0)
PYEOF
