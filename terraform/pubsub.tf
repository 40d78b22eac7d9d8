# Pub/Sub: the events topic the receiver publishes to, the push subscription
# that feeds the materializer, its dead-letter topic, and the results topic.

resource "google_pubsub_topic" "events" {
  project                    = var.project_id
  name                       = "${var.name_prefix}-events"
  message_retention_duration = var.topic_message_retention

  depends_on = [google_project_service.enabled]
}

resource "google_pubsub_topic" "results" {
  project                    = var.project_id
  name                       = "${var.name_prefix}-results"
  message_retention_duration = var.topic_message_retention

  depends_on = [google_project_service.enabled]
}

# Events the materializer rejected max_delivery_attempts times.
resource "google_pubsub_topic" "dead_letter" {
  project = var.project_id
  name    = "${var.name_prefix}-events-dead-letter"

  depends_on = [google_project_service.enabled]
}

# Without a subscription a topic keeps nothing: dead-lettered events would be
# dropped. This one holds them for inspection and replay, and the DLQ backlog
# alert watches it.
resource "google_pubsub_subscription" "dead_letter" {
  project                    = var.project_id
  name                       = "${var.name_prefix}-events-dead-letter"
  topic                      = google_pubsub_topic.dead_letter.id
  message_retention_duration = var.dead_letter_retention
  ack_deadline_seconds       = 60

  # Subscriptions expire after 31 days without activity by default, and a
  # healthy dead-letter subscription has none.
  expiration_policy {
    ttl = ""
  }
}

resource "google_pubsub_subscription" "materializer" {
  project = var.project_id
  name    = "${var.name_prefix}-materializer"
  topic   = google_pubsub_topic.events.id

  # Pub/Sub waits for the push response up to the ack deadline and then
  # redelivers; a deadline shorter than the function's timeout would run the
  # same event twice at once.
  ack_deadline_seconds       = var.materializer_timeout_seconds
  message_retention_duration = var.subscription_message_retention

  expiration_policy {
    ttl = ""
  }

  push_config {
    push_endpoint = google_cloudfunctions2_function.materializer.service_config[0].uri

    # The token's audience defaults to the endpoint URL, which is what Cloud
    # Run checks before the request reaches the function.
    oidc_token {
      service_account_email = google_service_account.push.email
    }
  }

  retry_policy {
    minimum_backoff = var.push_retry_backoff.minimum
    maximum_backoff = var.push_retry_backoff.maximum
  }

  # 4xx (not a geminihooks event) and 5xx (transient) answers are both nacks;
  # after max_delivery_attempts the event moves to the dead-letter topic
  # instead of being retried for the whole retention period.
  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = var.max_delivery_attempts
  }

  depends_on = [
    google_cloud_run_v2_service_iam_member.materializer_push_invoker,
    google_service_account_iam_member.push_token_creator,
    google_pubsub_topic_iam_member.dead_letter_publisher,
  ]
}

# Dead lettering is done by the Pub/Sub service agent: it must be able to
# publish to the dead-letter topic and to acknowledge (subscribe to) the
# source subscription, or messages are silently redelivered forever.
resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  project = var.project_id
  topic   = google_pubsub_topic.dead_letter.id
  role    = "roles/pubsub.publisher"
  member  = local.pubsub_service_agent
}

resource "google_pubsub_subscription_iam_member" "materializer_dead_letter_subscriber" {
  project      = var.project_id
  subscription = google_pubsub_subscription.materializer.id
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}
