# Traces: each function exports its spans to Cloud Trace through the
# Telemetry (OTLP) API as its own service account. Writing spans
# (telemetry.traces.write, in roles/cloudtrace.agent) can be granted on
# projects only.

locals {
  traced_functions = var.tracing.exporter == "otlp" ? {
    receiver     = google_service_account.receiver.email
    materializer = google_service_account.materializer.email
    reconciler   = google_service_account.reconciler.email
  } : {}

  # The tracing settings every function reads (tracing.Config), merged into
  # each one's environment.
  tracing_env = {
    OTEL_TRACES_EXPORTER           = var.tracing.exporter
    OTEL_TRACES_SAMPLER            = "traceidratio"
    OTEL_TRACES_SAMPLER_ARG        = var.tracing.sample_ratio
    OTEL_BSP_SCHEDULE_DELAY        = var.tracing.batch_delay_ms
    OTEL_BSP_EXPORT_TIMEOUT        = var.tracing.export_timeout_ms
    OTEL_BSP_MAX_QUEUE_SIZE        = var.tracing.max_queue_size
    OTEL_BSP_MAX_EXPORT_BATCH_SIZE = var.tracing.max_export_batch_size
  }
}

resource "google_project_iam_member" "trace_writer" {
  for_each = local.traced_functions

  project = var.project_id
  role    = "roles/cloudtrace.agent"
  member  = "serviceAccount:${each.value}"

  depends_on = [google_project_service.enabled]
}
