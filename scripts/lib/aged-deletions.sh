# Sourced by the benchmarks that create and delete many files (scripts/bench-pipeline,
# scripts/bench-http). ext4 passes over inodes freed within the last minute or so when it allocates
# new ones, so a run started right after another's cleanup created its files markedly slower (1,658
# against 2,062 orders/s, same build, same sitting). Each run writes its deletions out and notes
# when; the next waits until that is a minute and a bit behind it.
bench_deletions_noted="${TMPDIR:-/tmp}/bench.deletions"

# Waits until the last run's deletions are 65 s old.
wait_for_aged_deletions() {
    [[ -f "$bench_deletions_noted" ]] || return 0
    local since=$(($(date +%s) - $(stat -c %Y "$bench_deletions_noted")))
    if ((since >= 0 && since < 65)); then
        echo "waiting $((65 - since)) s for the previous run's deleted files to age" >&2
        sleep $((65 - since))
    fi
}

# Deletes DIR, writes the deletion out and notes when.
delete_and_note() {
    rm -rf "$1"
    sync
    touch "$bench_deletions_noted"
}
