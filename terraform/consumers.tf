# Downstream consumers, both off by default: an example pull subscription to
# the results topic for a consumer such as examples/subscriber, and an audit
# trail that writes every completion and results event to BigQuery with no
# code at all.

locals {
  consumer = var.example_consumer.enabled
  audit    = var.audit_trail.enabled

  audit_dataset = coalesce(var.audit_trail.dataset_id, "${replace(var.name_prefix, "-", "_")}_audit")

  # The topics whose every message the audit trail keeps.
  audit_topics = local.audit ? {
    events  = google_pubsub_topic.events.id
    results = google_pubsub_topic.results.id
  } : {}
}

# --- Example consumer ------------------------------------------------------

resource "google_pubsub_subscription" "consumer" {
  count = local.consumer ? 1 : 0

  project = var.project_id
  name    = "${var.name_prefix}-results-consumer"
  topic   = google_pubsub_topic.results.id
  filter  = var.example_consumer.filter

  # Pull. Exactly-once delivery: once an ack succeeds (AckWithResult in
  # the Go client), the message is not redelivered; duplicate publishes
  # still arrive, and consumers de-duplicate them on the event id.
  enable_exactly_once_delivery = true
  ack_deadline_seconds         = var.example_consumer.ack_deadline_seconds
  message_retention_duration   = var.subscription_message_retention

  expiration_policy {
    ttl = ""
  }

  # A nacked message (a transient failure) comes back after a backoff.
  retry_policy {
    minimum_backoff = var.push_retry_backoff.minimum
    maximum_backoff = var.push_retry_backoff.maximum
  }

  # One that keeps failing moves to its own dead-letter topic.
  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.consumer_dead_letter[0].id
    max_delivery_attempts = var.example_consumer.max_delivery_attempts
  }

  depends_on = [google_pubsub_topic_iam_member.consumer_dead_letter_publisher]
}

resource "google_pubsub_topic" "consumer_dead_letter" {
  count = local.consumer ? 1 : 0

  project = var.project_id
  name    = "${var.name_prefix}-results-consumer-dead-letter"

  depends_on = [google_project_service.enabled]
}

# Holds the dead-lettered results events, which a topic alone would drop.
resource "google_pubsub_subscription" "consumer_dead_letter" {
  count = local.consumer ? 1 : 0

  project                    = var.project_id
  name                       = "${var.name_prefix}-results-consumer-dead-letter"
  topic                      = google_pubsub_topic.consumer_dead_letter[0].id
  message_retention_duration = var.dead_letter_retention
  ack_deadline_seconds       = 60

  expiration_policy {
    ttl = ""
  }
}

# The Pub/Sub service agent dead-letters: it publishes to the dead-letter
# topic and acknowledges on the consumer's subscription.
resource "google_pubsub_topic_iam_member" "consumer_dead_letter_publisher" {
  count = local.consumer ? 1 : 0

  project = var.project_id
  topic   = google_pubsub_topic.consumer_dead_letter[0].id
  role    = "roles/pubsub.publisher"
  member  = local.pubsub_service_agent
}

resource "google_pubsub_subscription_iam_member" "consumer_dead_letter_subscriber" {
  count = local.consumer ? 1 : 0

  project      = var.project_id
  subscription = google_pubsub_subscription.consumer[0].id
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}

# The consumer's own identities: pull the subscription, and read the results
# (the objects under the results prefix, nothing else in the bucket).
resource "google_pubsub_subscription_iam_member" "consumer_subscriber" {
  for_each = { for m in var.example_consumer.members : m => m if local.consumer }

  project      = var.project_id
  subscription = google_pubsub_subscription.consumer[0].id
  role         = "roles/pubsub.subscriber"
  member       = each.value
}

resource "google_storage_bucket_iam_member" "consumer_results_reader" {
  for_each = { for m in var.example_consumer.members : m => m if local.consumer }

  bucket = google_storage_bucket.results.name
  role   = "roles/storage.objectViewer"
  member = each.value

  condition {
    title      = "results-only"
    expression = "resource.name.startsWith(\"projects/_/buckets/${google_storage_bucket.results.name}/objects/${var.materializer_settings.results_prefix}/\")"
  }
}

# --- Audit trail -----------------------------------------------------------

resource "google_bigquery_dataset" "audit" {
  count = local.audit ? 1 : 0

  project     = var.project_id
  dataset_id  = local.audit_dataset
  location    = coalesce(var.audit_trail.location, local.bucket_location)
  description = "geminihooks audit trail: every completion and results event, as published."

  delete_contents_on_destroy = !var.deletion_protection

  depends_on = [google_project_service.enabled]
}

# The columns a BigQuery subscription with write_metadata writes when it
# uses neither the topic's nor the table's schema: the message body in data,
# subscription_name, message_id and publish_time in their own columns, and
# the attributes (with the ordering key) as a JSON object in attributes.
# data and attributes are JSON text; query them with JSON_VALUE, e.g.
# JSON_VALUE(data, '$.data.resource').
resource "google_bigquery_table" "audit" {
  count = local.audit ? 1 : 0

  project             = var.project_id
  dataset_id          = google_bigquery_dataset.audit[0].dataset_id
  table_id            = var.audit_trail.table_id
  deletion_protection = var.deletion_protection
  description         = "One row per message on the events and results topics (subscription_name tells which)."

  time_partitioning {
    type          = "DAY"
    field         = "publish_time"
    expiration_ms = var.audit_trail.partition_expiration_days == null ? null : var.audit_trail.partition_expiration_days * 86400000
  }
  clustering = ["subscription_name"]

  schema = jsonencode([
    { name = "subscription_name", type = "STRING", mode = "NULLABLE", description = "The audit subscription that wrote the row: one per topic." },
    { name = "message_id", type = "STRING", mode = "NULLABLE", description = "The Pub/Sub message id." },
    { name = "publish_time", type = "TIMESTAMP", mode = "NULLABLE", description = "When the message was published." },
    { name = "data", type = "STRING", mode = "NULLABLE", description = "The event: CloudEvents JSON (pkg/event/README.md)." },
    { name = "attributes", type = "STRING", mode = "NULLABLE", description = "The message attributes and ordering key, as a JSON object." },
  ])
}

# The Pub/Sub service agent writes the rows: data editor on this table only.
resource "google_bigquery_table_iam_member" "audit_writer" {
  count = local.audit ? 1 : 0

  project    = var.project_id
  dataset_id = google_bigquery_table.audit[0].dataset_id
  table_id   = google_bigquery_table.audit[0].table_id
  role       = "roles/bigquery.dataEditor"
  member     = local.pubsub_service_agent
}

resource "google_pubsub_subscription" "audit" {
  for_each = local.audit_topics

  project = var.project_id
  name    = "${var.name_prefix}-${each.key}-audit"
  topic   = each.value

  bigquery_config {
    table          = "${google_bigquery_table.audit[0].project}.${google_bigquery_table.audit[0].dataset_id}.${google_bigquery_table.audit[0].table_id}"
    write_metadata = true
  }

  expiration_policy {
    ttl = ""
  }

  # Creating the subscription checks that the service agent can write.
  depends_on = [google_bigquery_table_iam_member.audit_writer]
}
