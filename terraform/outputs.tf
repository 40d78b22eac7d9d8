output "webhook_url" {
  description = "URL to register as the Gemini API webhook endpoint (the receiver)."
  value       = google_cloudfunctions2_function.receiver.service_config[0].uri
}

output "receiver_function" {
  description = "Full name of the receiver function (ReceiveWebhook)."
  value       = google_cloudfunctions2_function.receiver.id
}

output "materializer_function" {
  description = "Full name of the materializer function (MaterializeResults)."
  value       = google_cloudfunctions2_function.materializer.id
}

output "reconciler_function" {
  description = "Full name of the reconciler function (ReconcileJobs)."
  value       = google_cloudfunctions2_function.reconciler.id
}

output "reconcile_job" {
  description = "Cloud Scheduler job that runs a reconcile pass every reconcile_schedule (gcloud scheduler jobs run it for a pass now)."
  value       = google_cloud_scheduler_job.reconcile.id
}

output "events_topic" {
  description = "Pub/Sub topic receiving one CloudEvent per delivery; downstream teams subscribe here."
  value       = google_pubsub_topic.events.id
}

output "results_topic" {
  description = "Pub/Sub topic announcing materialized results."
  value       = google_pubsub_topic.results.id
}

output "dead_letter_topic" {
  description = "Pub/Sub topic receiving events the materializer could not process."
  value       = google_pubsub_topic.dead_letter.id
}

output "materializer_subscription" {
  description = "Push subscription feeding the events topic to the materializer."
  value       = google_pubsub_subscription.materializer.id
}

output "dead_letter_subscription" {
  description = "Subscription holding dead-lettered events for inspection and replay."
  value       = google_pubsub_subscription.dead_letter.id
}

output "results_bucket" {
  description = "Cloud Storage bucket holding the materialized results."
  value       = google_storage_bucket.results.name
}

output "source_bucket" {
  description = "Cloud Storage bucket holding the uploaded function source archives."
  value       = google_storage_bucket.source.name
}

output "webhook_signing_secret" {
  description = "Secret Manager secret whose enabled versions are the accepted webhook signing secrets (whsec_...)."
  value       = google_secret_manager_secret.webhook_signing.id
}

output "gemini_api_key_secret" {
  description = "Secret Manager secret holding the Gemini API key the materializer and the reconciler use."
  value       = google_secret_manager_secret.gemini_api_key.id
}

output "service_accounts" {
  description = "Service accounts by role: the three functions, the push and scheduler identities and the build identity."
  value = {
    receiver     = google_service_account.receiver.email
    materializer = google_service_account.materializer.email
    reconciler   = google_service_account.reconciler.email
    push         = google_service_account.push.email
    scheduler    = google_service_account.scheduler.email
    build        = google_service_account.build.email
  }
}

output "consumer_subscription" {
  description = "The example consumer's pull subscription to the results topic (RESULTS_SUBSCRIPTION of examples/subscriber); null unless example_consumer.enabled."
  value       = local.consumer ? google_pubsub_subscription.consumer[0].id : null
}

output "consumer_dead_letter_subscription" {
  description = "Subscription holding the results events the example consumer failed max_delivery_attempts times; null unless example_consumer.enabled."
  value       = local.consumer ? google_pubsub_subscription.consumer_dead_letter[0].id : null
}

output "audit_table" {
  description = "BigQuery table (project.dataset.table) of the audit trail, one row per completion and results event; null unless audit_trail.enabled."
  value       = local.audit ? "${google_bigquery_table.audit[0].project}.${google_bigquery_table.audit[0].dataset_id}.${google_bigquery_table.audit[0].table_id}" : null
}
