#!/usr/bin/env bash
# Runs the whole test suite: formatting, vet, every Go test with the race
# detector against real Firestore and Pub/Sub emulators, and short fuzz runs.
# It starts and stops the emulators itself. With CI=true a missing emulator
# fails the run instead of skipping the tests that need it.
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZTIME=${FUZZTIME:-10s}
export GEMINIHOOKS_REQUIRE_EMULATORS=${GEMINIHOOKS_REQUIRE_EMULATORS:-${CI:-false}}

# shellcheck source=scripts/emulators.sh
source scripts/emulators.sh
trap emulators_stop EXIT INT TERM

step() { printf '\n== %s\n' "$*"; }

step "go mod download"
go mod download

step "gofmt"
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

step "go vet"
go vet ./...

step "emulators"
if ! emulators_start; then
  if [ "$GEMINIHOOKS_REQUIRE_EMULATORS" = "true" ]; then
    echo "emulators are required (CI=true) but could not be started" >&2
    exit 1
  fi
  echo "emulators unavailable: emulator tests will be skipped" >&2
fi

step "go test -race"
go test -race -count=1 -shuffle=on -timeout=15m ./...

step "fuzz ($FUZZTIME each)"
for target in $(grep -rhoE --include='*_test.go' '^func (Fuzz[A-Za-z0-9_]+)' pkg | sed 's/^func //' | sort -u); do
  pkg=$(grep -rlE --include='*_test.go' "^func $target\(" pkg | head -n1 | xargs dirname)
  echo "fuzz $target in ./$pkg"
  if ! out=$(go test -run='^$' -fuzz="^$target\$" -fuzztime="$FUZZTIME" "./$pkg" 2>&1); then
    echo "$out"; exit 1
  fi
done

echo
echo "all checks passed"
