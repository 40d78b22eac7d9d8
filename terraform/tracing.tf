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
}

resource "google_project_iam_member" "trace_writer" {
  for_each = local.traced_functions

  project = var.project_id
  role    = "roles/cloudtrace.agent"
  member  = "serviceAccount:${each.value}"

  depends_on = [google_project_service.enabled]
}
