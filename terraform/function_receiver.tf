# ReceiveWebhook: verifies Gemini's webhooks, records each webhook-id in
# Firestore and publishes one CloudEvent per delivery to the events topic.

resource "google_service_account" "receiver" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-receiver"
  display_name = "geminihooks receiver (ReceiveWebhook)"

  depends_on = [google_project_service.enabled]
}

resource "google_pubsub_topic_iam_member" "receiver_events_publisher" {
  project = var.project_id
  topic   = google_pubsub_topic.events.id
  role    = "roles/pubsub.publisher"
  member  = google_service_account.receiver.member
}

# The receiver accepts a signature made with any enabled version of the
# signing secret, so it lists the versions (viewer) as well as reading them.
resource "google_secret_manager_secret_iam_member" "receiver_signing_accessor" {
  project   = var.project_id
  secret_id = google_secret_manager_secret.webhook_signing.id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.receiver.member
}

resource "google_secret_manager_secret_iam_member" "receiver_signing_viewer" {
  project   = var.project_id
  secret_id = google_secret_manager_secret.webhook_signing.id
  role      = "roles/secretmanager.viewer"
  member    = google_service_account.receiver.member
}

# Firestore roles exist only at project level; the condition narrows this one
# to the ledger's database.
resource "google_project_iam_member" "receiver_firestore_user" {
  project = var.project_id
  role    = "roles/datastore.user"
  member  = google_service_account.receiver.member

  condition {
    title       = "${var.name_prefix}-ledger-database"
    description = "Only the database holding the geminihooks delivery ledger and job registry."
    expression  = "resource.name == \"projects/${var.project_id}/databases/${local.firestore_database}\""
  }
}

# Captures (webhook_capture_limit > 0): the receiver writes write-once
# objects under captures/ in the results bucket, and nothing else there. The
# store looks an object up before creating it (get) and creates it under a
# does-not-exist precondition (create); without delete or update it cannot
# change what is stored. Listing is not granted: the condition names objects.
locals {
  captures_condition = {
    title       = "${var.name_prefix}-captures-only"
    description = "Only the captures/ folder of the results bucket."
    expression  = "resource.name.startsWith(\"projects/_/buckets/${google_storage_bucket.results.name}/objects/captures/\")"
  }
}

resource "google_storage_bucket_iam_member" "receiver_captures_creator" {
  count  = var.webhook_capture_limit > 0 ? 1 : 0
  bucket = google_storage_bucket.results.name
  role   = "roles/storage.objectCreator"
  member = google_service_account.receiver.member

  condition {
    title       = local.captures_condition.title
    description = local.captures_condition.description
    expression  = local.captures_condition.expression
  }
}

resource "google_storage_bucket_iam_member" "receiver_captures_viewer" {
  count  = var.webhook_capture_limit > 0 ? 1 : 0
  bucket = google_storage_bucket.results.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.receiver.member

  condition {
    title       = local.captures_condition.title
    description = local.captures_condition.description
    expression  = local.captures_condition.expression
  }
}

resource "google_cloudfunctions2_function" "receiver" {
  project     = var.project_id
  location    = var.region
  name        = "${var.name_prefix}-receiver"
  description = "Receives Gemini API webhooks and publishes them to ${google_pubsub_topic.events.name}."

  build_config {
    runtime           = var.runtime
    entry_point       = "ReceiveWebhook"
    service_account   = google_service_account.build.id
    docker_repository = google_artifact_registry_repository.functions.id

    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    service_account_email = google_service_account.receiver.email

    # Gemini's servers call from the internet; see the invoker grant below.
    ingress_settings               = "ALLOW_ALL"
    all_traffic_on_latest_revision = true

    max_instance_count               = var.receiver_max_instances
    min_instance_count               = var.receiver_min_instances
    max_instance_request_concurrency = var.receiver_concurrency
    # Concurrency above 1 needs at least one whole vCPU.
    available_cpu    = "1"
    available_memory = var.receiver_memory
    timeout_seconds  = var.receiver_timeout_seconds

    # Exactly what pkg/receiver.Config reads (a test keeps them equal), except
    # WEBHOOK_SIGNING_SECRETS: deployed, the secrets come from Secret Manager.
    environment_variables = merge(local.tracing_env, {
      GOOGLE_CLOUD_PROJECT            = var.project_id
      WEBHOOK_SIGNING_SECRET          = google_secret_manager_secret.webhook_signing.id
      WEBHOOK_SECRET_CACHE_TTL        = var.receiver_settings.secret_cache_ttl
      WEBHOOK_SECRET_REFRESH_INTERVAL = var.receiver_settings.secret_refresh_interval
      WEBHOOK_JWKS_URL                = var.receiver_settings.jwks_url
      WEBHOOK_JWKS_REFRESH_INTERVAL   = var.receiver_settings.jwks_refresh_interval
      WEBHOOK_JWT_AUDIENCE            = var.webhook_jwt_audience
      WEBHOOK_JWT_ISSUER              = var.webhook_jwt_issuer
      WEBHOOK_JWT_LEEWAY              = var.receiver_settings.jwt_leeway
      WEBHOOK_TIMESTAMP_TOLERANCE     = var.receiver_settings.timestamp_tolerance
      WEBHOOK_MAX_BODY_BYTES          = var.receiver_settings.max_body_bytes
      FIRESTORE_DATABASE              = local.firestore_database
      IDEMPOTENCY_COLLECTION          = var.idempotency_collection
      IDEMPOTENCY_TTL                 = var.idempotency_ttl
      IDEMPOTENCY_LEASE               = var.receiver_settings.idempotency_lease
      JOBS_COLLECTION                 = var.jobs_collection
      JOBS_TTL                        = var.jobs_ttl
      EVENTS_TOPIC                    = google_pubsub_topic.events.id
      PUBSUB_ORDERING                 = var.receiver_settings.pubsub_ordering
      PUBLISH_TIMEOUT                 = var.receiver_settings.publish_timeout
      LEDGER_TIMEOUT                  = var.receiver_settings.ledger_timeout
      WEBHOOK_CAPTURE_LIMIT           = var.webhook_capture_limit
      RESULTS_BUCKET                  = google_storage_bucket.results.name
      LOG_LEVEL                       = var.log_level
    })
  }

  # The first revision must start with its permissions in place: start-up
  # builds the clients, and the first delivery uses all of them.
  depends_on = [
    google_pubsub_topic_iam_member.receiver_events_publisher,
    google_secret_manager_secret_iam_member.receiver_signing_accessor,
    google_secret_manager_secret_iam_member.receiver_signing_viewer,
    google_project_iam_member.receiver_firestore_user,
    google_storage_bucket_iam_member.receiver_captures_creator,
    google_storage_bucket_iam_member.receiver_captures_viewer,
    google_storage_bucket_iam_member.build_source_reader,
    google_artifact_registry_repository_iam_member.build_image_writer,
    google_project_iam_member.build_log_writer,
  ]
}

# Public on purpose, and the only public endpoint: Gemini cannot send a Google
# identity token, so Cloud Run cannot authenticate it. The webhook signature
# (Standard Webhooks HMAC or Gemini's RS256 JWT) is the authentication; the
# receiver checks it before reading the payload, and max_instance_count bounds
# what a flood of unsigned requests can cost.
resource "google_cloud_run_v2_service_iam_member" "receiver_public_invoker" {
  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.receiver.service_config[0].service
  role     = "roles/run.invoker"
  member   = "allUsers"
}
