#!/usr/bin/env bash
# Runs the benchmarks and prints one line per figure: "name value unit".
# Ratios compare two benchmarks measured side by side in the same run
# (medians of COUNT rounds, each round running both benchmarks). Every
# benchmark is bounded by a fixed iteration count; load goes to loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."

COUNT=${COUNT:-5}
DELIVERIES=${DELIVERIES:-20000}
MATERIALIZE_BYTES=${MATERIALIZE_BYTES:-2147483648}   # 2 GiB
MATERIALIZE_ROUNDS=${MATERIALIZE_ROUNDS:-5}
ARTIFACT_JOBS=${ARTIFACT_JOBS:-50}
READER_BYTES=${READER_BYTES:-2147483648}   # 2 GiB
READER_ROUNDS=${READER_ROUNDS:-1}
RECOVERY_JOBS=${RECOVERY_JOBS:-10}
SUSTAINED_DELIVERIES=${SUSTAINED_DELIVERIES:-4000}   # per round, three rounds
TRACED_EVENTS=${TRACED_EVENTS:-4000}
raw=$(mktemp); trap 'rm -f "$raw"' EXIT

go test -c -o "$raw.signature.test" ./pkg/signature >/dev/null
go test -c -o "$raw.receiver.test" ./pkg/receiver >/dev/null
go test -c -o "$raw.materializer.test" ./pkg/materializer >/dev/null
go test -c -o "$raw.local.test" ./pkg/local >/dev/null
go test -c -o "$raw.results.test" ./pkg/results >/dev/null
go test -c -o "$raw.reconciler.test" ./pkg/reconciler >/dev/null
trap 'rm -f "$raw" "$raw".*.test' EXIT

for _ in $(seq "$COUNT"); do
  "$raw.signature.test" -test.run '^$' -test.benchtime 20000x \
    -test.bench '^Benchmark(VerifyHMAC1K|ReferenceVerifyHMAC1K|VerifyHMAC64K|RawHMAC64K|VerifyJWT|RawRSAVerify)$' >>"$raw"
done
# The receiver on embedded backends alone (throughput and latency), then
# beside a bare net/http handler: the same senders drive both in
# alternating chunks in one process (receiver_vs_bare_http).
for _ in $(seq 3); do
  "$raw.receiver.test" -test.run '^$' -test.benchtime "${DELIVERIES}x" -test.bench '^BenchmarkReceiverEmbedded$' >>"$raw"
done
for _ in $(seq "$COUNT"); do
  "$raw.receiver.test" -test.run '^$' -test.benchtime "${DELIVERIES}x" -test.bench '^BenchmarkReceiverVsBareHTTP$' >>"$raw"
done
# Tracing's cost: each run drives an untraced and a traced receiver
# (DELIVERIES deliveries each) and materializer (TRACED_EVENTS small batches
# each) side by side, in alternating chunks; the ratio is the traced
# throughput ÷ the untraced one.
for _ in $(seq "$COUNT"); do
  "$raw.receiver.test" -test.run '^$' -test.benchtime "${DELIVERIES}x" -test.bench '^BenchmarkReceiverTracing$' >>"$raw"
  "$raw.materializer.test" -test.run '^$' -test.benchtime "${TRACED_EVENTS}x" -test.bench '^BenchmarkMaterializerTracing$' >>"$raw"
done
# The materializer copies MATERIALIZE_BYTES in a child process (peak RSS is
# that process's), and a bare io.Copy does the same over the same path, once
# with the child on a CPU of its own ("isolated", the servers on another) and
# once with every process on every CPU ("shared").
GEMINIHOOKS_BENCH_BYTES=$MATERIALIZE_BYTES "$raw.materializer.test" -test.run '^$' \
  -test.benchtime "${MATERIALIZE_ROUNDS}x" -test.bench '^BenchmarkMaterializeLargeBatch$' >>"$raw"
"$raw.local.test" -test.run '^$' -test.benchtime "${ARTIFACT_JOBS}x" -test.bench '^BenchmarkCompleteToArtifact$' >>"$raw"
# The results reader streams READER_BYTES of batch results, decoding every
# line and checking size and CRC32C, in a child process (peak RSS is that
# process's).
GEMINIHOOKS_BENCH_BYTES=$READER_BYTES "$raw.results.test" -test.run '^$' \
  -test.benchtime "${READER_ROUNDS}x" -test.bench '^BenchmarkReadLargeResult$' >>"$raw"
# The local runner's rate is the materializer's, writing files with fsync,
# which sways from run to run: median of three runs.
for _ in $(seq 3); do
  "$raw.local.test" -test.run '^$' -test.benchtime "${SUSTAINED_DELIVERIES}x" -test.bench '^BenchmarkLocalRunnerSustained$' >>"$raw"
done
"$raw.receiver.test" -test.run '^$' -test.benchtime 1x -test.bench '^BenchmarkMaxEventForMaxBody$' >>"$raw"
# A reconcile pass over 1,000 listed batches and 100 overdue jobs; the
# recovery of lost webhooks with a pass every second (local stack).
"$raw.reconciler.test" -test.run '^$' -test.benchtime 3x -test.bench '^BenchmarkReconcilePass$' >>"$raw"
"$raw.local.test" -test.run '^$' -test.benchtime "${RECOVERY_JOBS}x" -test.bench '^BenchmarkLostWebhookRecovery$' >>"$raw"
# The fault figures need the Firestore and Pub/Sub emulators (started here,
# stopped on exit); without them they read n/a.
# shellcheck source=scripts/emulators.sh
source scripts/emulators.sh
trap 'rm -f "$raw" "$raw".*.test; emulators_stop' EXIT
emulators=true
if emulators_start >&2; then
  GEMINIHOOKS_REQUIRE_EMULATORS=true "$raw.receiver.test" -test.run '^$' -test.benchtime 3x \
    -test.bench '^Benchmark(PubSubOutageRecovery|FirestoreStallAnswer)$' >>"$raw" ||
    echo "bench: the fault benchmarks failed" >&2
else
  emulators=false
fi

# median NAME FIELD_UNIT: the median of the value before FIELD_UNIT on the
# lines of benchmark NAME.
median() {
  awk -v name="$1" -v unit="$2" '
    $1 ~ "^Benchmark" name "(-[0-9]+)?$" { for (i = 3; i < NF; i++) if ($(i+1) == unit) print $i }
  ' "$raw" | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) exit 1; print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
# figure NAME FIELD_UNIT: median, or a note when the benchmark did not run
# (the isolated copy needs two CPUs).
figure() { median "$1" "$2" || echo "n/a (not run: see the benchmark's skip message)"; }

hmac1k=$(median VerifyHMAC1K ns/op); ref1k=$(median ReferenceVerifyHMAC1K ns/op)
hmac64k=$(median VerifyHMAC64K ns/op); raw64k=$(median RawHMAC64K ns/op)
jwt=$(median VerifyJWT ns/op); rsa=$(median RawRSAVerify ns/op)

echo "verify_hmac_1k $hmac1k ns/op"
echo "verify_hmac_1k_reference $ref1k ns/op"
echo "verify_hmac_1k_vs_reference $(ratio "$hmac1k" "$ref1k") ratio"
echo "verify_hmac_64k $hmac64k ns/op"
echo "verify_hmac_64k_vs_raw_hmac $(ratio "$hmac64k" "$raw64k") ratio"
echo "verify_jwt $jwt ns/op"
echo "verify_jwt_vs_raw_rsa $(ratio "$jwt" "$rsa") ratio"
echo "receiver_embedded_throughput $(median ReceiverEmbedded deliveries/s) deliveries/s"
echo "receiver_embedded_p50_ms $(median ReceiverEmbedded p50_ms) ms"
echo "receiver_embedded_p99_ms $(median ReceiverEmbedded p99_ms) ms"
echo "bare_http_throughput $(median ReceiverVsBareHTTP bare_deliveries/s) deliveries/s"
echo "receiver_vs_bare_http $(median ReceiverVsBareHTTP receiver_vs_bare) ratio"
echo "receiver_cpu_per_delivery $(median ReceiverVsBareHTTP receiver_cpu_us/delivery) us"
echo "bare_http_cpu_per_delivery $(median ReceiverVsBareHTTP bare_cpu_us/delivery) us"
echo "receiver_tracing_overhead $(median ReceiverTracing on_vs_off) ratio"
echo "receiver_untraced_cpu_per_delivery $(median ReceiverTracing off_cpu_us/delivery) us"
echo "receiver_traced_cpu_per_delivery $(median ReceiverTracing on_cpu_us/delivery) us"
echo "materializer_tracing_overhead $(median MaterializerTracing on_vs_off) ratio"
echo "materializer_untraced_cpu_per_event $(median MaterializerTracing off_cpu_us/event) us"
echo "materializer_traced_cpu_per_event $(median MaterializerTracing on_cpu_us/event) us"
rss_isolated=$(figure MaterializeLargeBatch/isolated peak_rss_MiB); rss_shared=$(figure MaterializeLargeBatch/shared peak_rss_MiB)
echo "materialize_2g_peak_rss_mib $(printf '%s\n' "$rss_isolated" "$rss_shared" | grep -E '^[0-9.]+$' | sort -g | tail -1) MiB"
for cpus in isolated shared; do
  suffix=; [ "$cpus" = shared ] && suffix=_shared_cpus
  echo "materialize_throughput$suffix $(figure "MaterializeLargeBatch/$cpus" MiB/s) MiB/s"
  echo "materialize_cpu$suffix $(figure "MaterializeLargeBatch/$cpus" cpu_s/GiB) core-s/GiB"
  echo "iocopy_throughput$suffix $(figure "MaterializeLargeBatch/$cpus" iocopy_MiB/s) MiB/s"
  echo "iocopy_cpu$suffix $(figure "MaterializeLargeBatch/$cpus" iocopy_cpu_s/GiB) core-s/GiB"
  echo "materialize_vs_iocopy$suffix $(figure "MaterializeLargeBatch/$cpus" vs_iocopy) ratio"
done
echo "complete_to_artifact_p50_ms $(median CompleteToArtifact p50_ms) ms"
echo "complete_to_artifact_p90_ms $(median CompleteToArtifact p90_ms) ms"
echo "results_reader_2g_peak_rss_mib $(median ReadLargeResult peak_rss_MiB) MiB"
echo "results_reader_throughput $(median ReadLargeResult MiB/s) MiB/s"
echo "local_runner_round1_throughput $(median LocalRunnerSustained round1_deliveries/s) deliveries/s"
echo "local_runner_round3_throughput $(median LocalRunnerSustained round3_deliveries/s) deliveries/s"
echo "local_runner_sustained_ratio $(median LocalRunnerSustained sustained_ratio) ratio"
echo "max_event_bytes_for_max_body $(median MaxEventForMaxBody max_event_bytes) bytes"
echo "reconcile_api_calls_per_pass $(median ReconcilePass api_calls) calls"
echo "reconcile_api_calls_goal $(median ReconcilePass goal_calls) calls"
echo "lost_webhook_recovery_s $(median LostWebhookRecovery max_recovery_s) s"
echo "lost_webhook_recovery_to_results_s $(median LostWebhookRecovery max_to_results_s) s"
if $emulators; then
  echo "pubsub_outage_recovery_s $(figure PubSubOutageRecovery recovery_s) s"
  echo "firestore_stall_answer_ms $(figure FirestoreStallAnswer answer_ms) ms"
  echo "firestore_stall_answer_bound_ms $(figure FirestoreStallAnswer bound_ms) ms"
else
  for f in "pubsub_outage_recovery_s s" "firestore_stall_answer_ms ms" "firestore_stall_answer_bound_ms ms"; do
    echo "${f% *} n/a (emulators unavailable) ${f#* }"
  done
fi
