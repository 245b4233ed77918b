# Sourced by scripts/bench.sh after it sets `work`: the goals table (goal | target | measured | met/missed).
# Each row is also kept as a JSON object in $work/goals.jsonl, for the summary BENCH_JSON_OUT writes. A goal
# whose phase did not run has an empty value and is "skipped": a run that left it out cannot have met it.

bench_goal_row() {
    printf '%-48s | %-12s | %-14s | %s\n' "$1" "$2" "$3" "$4"
}

bench_goal_header() {
    bench_goal_row goal target measured met/missed
    bench_goal_row "$(printf -- '-%.0s' {1..48})" "$(printf -- '-%.0s' {1..12})" "$(printf -- '-%.0s' {1..14})" \
        ----------
}

# bench_goal NAME TARGET OP LIMIT VALUE UNIT: OP is le (met when VALUE <= LIMIT) or ge; VALUE is a number
# already rounded for display, or empty when the goal was skipped.
bench_goal() {
    local name=$1 target=$2 op=$3 limit=$4 value=$5 unit=$6 verdict measured
    if [ -z "$value" ]; then
        verdict=skipped
        measured=-
    else
        measured="$value $unit"
        verdict=$(awk -v v="$value" -v l="$limit" -v op="$op" \
            'BEGIN { ok = (op == "le") ? (v + 0 <= l + 0) : (v + 0 >= l + 0); print (ok ? "met" : "missed") }')
    fi
    bench_goal_row "$name" "$target" "$measured" "$verdict"
    jq -nc --arg goal "$name" --arg target "$target" --arg op "$op" --argjson limit "$limit" \
        --argjson measured "${value:-null}" --arg unit "$unit" --arg verdict "$verdict" \
        '{goal: $goal, target: $target, op: $op, limit: $limit, measured: $measured, unit: $unit, verdict: $verdict}' \
        >>"$work/goals.jsonl"
}
