#!/usr/bin/env bash
# Starts the Firestore and Pub/Sub emulators, each in its own process group,
# waits until they answer, and exports FIRESTORE_EMULATOR_HOST and
# PUBSUB_EMULATOR_HOST. Source it; call emulators_stop (or let the EXIT trap
# of the sourcing script do it) to stop them, even after a failure.
#
#   source scripts/emulators.sh && emulators_start
#
# An emulator that is already configured through its variable is left alone.

EMULATOR_PROJECT=${EMULATOR_PROJECT:-geminihooks-test}
_emu_pgids=()
_emu_logdir=${EMULATOR_LOG_DIR:-$(mktemp -d -t geminihooks-emulators.XXXXXX)}

_emu_free_port() {
  python3 - <<'PY' 2>/dev/null || echo $((20000 + RANDOM % 20000))
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
}

# _emu_start NAME VAR COMMAND...: start COMMAND --host-port=... in a new
# process group (setsid), then poll GET / until it answers "Ok".
_emu_start() {
  local name=$1 var=$2; shift 2
  if [ -n "${!var:-}" ]; then
    echo "emulators: $name already at ${!var}"
    return 0
  fi
  if ! command -v gcloud >/dev/null 2>&1 || ! command -v java >/dev/null 2>&1; then
    echo "emulators: gcloud and java are needed for the $name emulator" >&2
    return 1
  fi
  local port; port=$(_emu_free_port)
  local addr="127.0.0.1:$port"
  setsid "$@" --host-port="$addr" --quiet >"$_emu_logdir/$name.log" 2>&1 &
  local pgid=$!
  _emu_pgids+=("$pgid")
  local deadline=$((SECONDS + ${EMULATOR_START_TIMEOUT:-90}))
  until curl -fsS "http://$addr/" >/dev/null 2>&1; do
    if ! kill -0 "$pgid" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
      echo "emulators: $name did not start; log follows" >&2
      tail -n 30 "$_emu_logdir/$name.log" >&2
      return 1
    fi
    sleep 0.2
  done
  export "$var=$addr"
  echo "emulators: $name ready at $addr"
}

emulators_start() {
  _emu_start firestore FIRESTORE_EMULATOR_HOST gcloud emulators firestore start &&
    _emu_start pubsub PUBSUB_EMULATOR_HOST gcloud beta emulators pubsub start --project="$EMULATOR_PROJECT" &&
    export GOOGLE_CLOUD_PROJECT=${GOOGLE_CLOUD_PROJECT:-$EMULATOR_PROJECT}
}

emulators_stop() {
  local pgid
  for pgid in "${_emu_pgids[@]}"; do
    # The gcloud wrapper starts python, bash and java: signal the whole group,
    # or java lives on, still bound to its port.
    kill -TERM -- "-$pgid" 2>/dev/null || true
  done
  for pgid in "${_emu_pgids[@]}"; do
    for _ in $(seq 50); do kill -0 -- "-$pgid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$pgid" 2>/dev/null || true
  done
  _emu_pgids=()
}
