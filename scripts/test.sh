#!/usr/bin/env bash
# Runs the whole test suite: formatting, vet, golangci-lint, every Go test
# with the race detector against real Firestore and Pub/Sub emulators, and
# short fuzz runs.
# It starts and stops the emulators itself. With CI=true a missing emulator
# fails the run instead of skipping the tests that need it; so does a missing
# Chromium (the inspector's browser test), which it installs with apt-get
# when it can. The browser test's screenshots land in testdata/out/.
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZTIME=${FUZZTIME:-10s}
export GEMINIHOOKS_REQUIRE_EMULATORS=${GEMINIHOOKS_REQUIRE_EMULATORS:-${CI:-false}}
export GEMINIHOOKS_REQUIRE_BROWSER=${GEMINIHOOKS_REQUIRE_BROWSER:-${CI:-false}}

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

# Terraform providers cannot be downloaded everywhere this runs, so neither
# terraform validate nor plan runs here: terraform fmt, tflint's bundled
# ruleset and the Go tests in terraform/ check the configuration instead.
step "terraform fmt"
if command -v terraform >/dev/null 2>&1; then
  terraform fmt -check -recursive -diff terraform
elif [ "${CI:-false}" = "true" ]; then
  echo "terraform is required (CI=true) but not installed" >&2
  exit 1
else
  echo "terraform not installed: skipping terraform fmt" >&2
fi

TFLINT_VERSION=${TFLINT_VERSION:-v0.64.0}
step "tflint $TFLINT_VERSION"
tflint_dir="${GEMINIHOOKS_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/geminihooks/bin}/tflint-$TFLINT_VERSION"
if [ ! -x "$tflint_dir/tflint" ]; then
  echo "installing tflint $TFLINT_VERSION into $tflint_dir (once; about a minute)"
  GOBIN="$tflint_dir" GOFLAGS= GOWORK=off go install "github.com/terraform-linters/tflint@$TFLINT_VERSION"
fi
"$tflint_dir/tflint" --chdir=terraform --format=compact

# golangci-lint with the checked-in .golangci.yml (a small set of linters,
# each explained there). Built from source with this machine's Go, pinned.
GOLANGCI_LINT_VERSION=${GOLANGCI_LINT_VERSION:-v2.15.0}
step "golangci-lint $GOLANGCI_LINT_VERSION"
lint_dir="${GEMINIHOOKS_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/geminihooks/bin}/golangci-lint-$GOLANGCI_LINT_VERSION"
if [ ! -x "$lint_dir/golangci-lint" ]; then
  echo "installing golangci-lint $GOLANGCI_LINT_VERSION into $lint_dir (once; a few minutes)"
  GOBIN="$lint_dir" GOFLAGS= GOWORK=off go install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$GOLANGCI_LINT_VERSION"
fi
"$lint_dir/golangci-lint" run ./...

step "emulators"
if ! emulators_start; then
  if [ "$GEMINIHOOKS_REQUIRE_EMULATORS" = "true" ]; then
    echo "emulators are required (CI=true) but could not be started" >&2
    exit 1
  fi
  echo "emulators unavailable: emulator tests will be skipped" >&2
fi

step "chromium"
if ! command -v chromium >/dev/null 2>&1; then
  sudo=""
  if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then sudo="sudo -n"; fi
  if command -v apt-get >/dev/null 2>&1; then
    echo "installing chromium with apt-get (once)"
    $sudo apt-get install -y chromium >/dev/null 2>&1 ||
      { $sudo apt-get update >/dev/null 2>&1 && $sudo apt-get install -y chromium >/dev/null 2>&1; } || true
  fi
fi
if command -v chromium >/dev/null 2>&1; then
  chromium --version
elif [ "$GEMINIHOOKS_REQUIRE_BROWSER" = "true" ]; then
  echo "chromium is required (CI=true) but could not be installed" >&2
  exit 1
else
  echo "chromium unavailable: the browser test will be skipped" >&2
fi

step "go test -race"
# -artifacts keeps what tests save with t.ArtifactDir (the inspector's
# screenshots) under testdata/out/.
mkdir -p testdata/out
go test -race -count=1 -shuffle=on -timeout=15m -artifacts -outputdir="$PWD/testdata/out" ./...

# deadline_race OUTPUT: whether a failed fuzz run only hit Go 1.26's
# coordinator race, which fails a run with a bare "context deadline exceeded"
# when -fuzztime ends while a worker is mid-input (go.dev/issue/75804, fixed
# in Go 1.27). A real finding writes its input to testdata/fuzz, and a seed
# or a panic says so: those are never taken for the race.
deadline_race() {
  grep -q 'context deadline exceeded' <<<"$1" &&
    ! grep -qE 'Failing input written|seed corpus entry|panic:' <<<"$1"
}

step "fuzz ($FUZZTIME each)"
for target in $(grep -rhoE --include='*_test.go' '^func (Fuzz[A-Za-z0-9_]+)' pkg internal | sed 's/^func //' | sort -u); do
  pkg=$(grep -rlE --include='*_test.go' "^func $target\(" pkg internal | head -n1 | xargs dirname)
  echo "fuzz $target in ./$pkg"
  for attempt in 1 2; do
    if out=$(go test -run='^$' -fuzz="^$target\$" -fuzztime="$FUZZTIME" "./$pkg" 2>&1); then
      break
    fi
    if [ "$attempt" = 1 ] && deadline_race "$out"; then
      echo "fuzz $target: stopped by Go's fuzztime deadline race with no failing input; running it again"
      continue
    fi
    echo "$out"; exit 1
  done
done

echo
echo "all checks passed"
