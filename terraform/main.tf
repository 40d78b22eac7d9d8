# Project-wide pieces: the project itself, the APIs geminihooks needs and the
# names shared by the other files.

data "google_project" "this" {
  project_id = var.project_id
}

locals {
  labels = merge(var.labels, { app = "geminihooks" })

  # The Pub/Sub service agent moves undeliverable messages to the dead-letter
  # topics, mints the push subscription's OIDC tokens and writes the audit
  # trail's rows.
  pubsub_service_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"

  core_apis = [
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudscheduler.googleapis.com",
    "cloudtrace.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
    # The OTLP endpoint the functions export their spans to.
    "telemetry.googleapis.com",
  ]
  # BigQuery only for the audit trail's dataset and table.
  apis = toset(concat(local.core_apis, var.audit_trail.enabled ? ["bigquery.googleapis.com"] : []))
}

resource "google_project_service" "enabled" {
  for_each = local.apis

  project = var.project_id
  service = each.value

  # Other workloads in the project may use the same APIs; destroying this
  # configuration must not switch them off.
  disable_on_destroy = false
}
