# ReconcileJobs: the safety net for lost webhooks. Cloud Scheduler calls it
# every reconcile_schedule; each pass lists the project's batches and polls
# the registered jobs past their expected completion, and publishes the
# completion event of every finished job that has none, through the same
# per-job claim as the receiver (so the two never both publish).

resource "google_service_account" "reconciler" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-reconciler"
  display_name = "geminihooks reconciler (ReconcileJobs)"

  depends_on = [google_project_service.enabled]
}

resource "google_pubsub_topic_iam_member" "reconciler_events_publisher" {
  project = var.project_id
  topic   = google_pubsub_topic.events.id
  role    = "roles/pubsub.publisher"
  member  = google_service_account.reconciler.member
}

resource "google_secret_manager_secret_iam_member" "reconciler_api_key_accessor" {
  project   = var.project_id
  secret_id = google_secret_manager_secret.gemini_api_key.id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.reconciler.member
}

# The reconciler claims jobs in the delivery ledger and reads and advances
# the job registry. Firestore roles exist only at project level; the
# condition narrows this one to their database.
resource "google_project_iam_member" "reconciler_firestore_user" {
  project = var.project_id
  role    = "roles/datastore.user"
  member  = google_service_account.reconciler.member

  condition {
    title       = "${var.name_prefix}-reconciler-database"
    description = "Only the database holding the geminihooks delivery ledger and job registry."
    expression  = "resource.name == \"projects/${var.project_id}/databases/${local.firestore_database}\""
  }
}

resource "google_cloudfunctions2_function" "reconciler" {
  project     = var.project_id
  location    = var.region
  name        = "${var.name_prefix}-reconciler"
  description = "Publishes the completion events of finished Gemini jobs whose webhook never came to ${google_pubsub_topic.events.name}."

  build_config {
    runtime           = var.runtime
    entry_point       = "ReconcileJobs"
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
    service_account_email = google_service_account.reconciler.email

    # Only Cloud Scheduler (same project, which Cloud Run counts as
    # internal) reaches it, and only with the scheduler identity's token.
    ingress_settings               = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision = true

    # One pass at a time is plenty; two at once would still be safe (every
    # event goes through the job's claim).
    max_instance_count               = 1
    max_instance_request_concurrency = 1
    available_cpu                    = "1"
    available_memory                 = "512Mi"
    timeout_seconds                  = var.reconciler_timeout_seconds

    # Exactly what pkg/reconciler.Config reads (a test keeps them equal);
    # GEMINI_API_KEY comes from Secret Manager below. The ledger, registry,
    # topic and publish settings are the receiver's: both claim jobs in the
    # same ledger (a test keeps the expressions equal).
    environment_variables = merge(local.tracing_env, {
      GOOGLE_CLOUD_PROJECT        = var.project_id
      GEMINI_BASE_URL             = var.materializer_settings.gemini_base_url
      GEMINI_FETCH_TIMEOUT        = var.reconciler_settings.fetch_timeout
      FIRESTORE_DATABASE          = local.firestore_database
      IDEMPOTENCY_COLLECTION      = var.idempotency_collection
      IDEMPOTENCY_TTL             = var.idempotency_ttl
      IDEMPOTENCY_LEASE           = var.receiver_settings.idempotency_lease
      JOBS_COLLECTION             = var.jobs_collection
      JOBS_TTL                    = var.jobs_ttl
      EVENTS_TOPIC                = google_pubsub_topic.events.id
      PUBSUB_ORDERING             = var.receiver_settings.pubsub_ordering
      PUBLISH_TIMEOUT             = var.receiver_settings.publish_timeout
      LEDGER_TIMEOUT              = var.receiver_settings.ledger_timeout
      RECONCILE_LOOK_BACK         = var.reconciler_settings.look_back
      RECONCILE_PAGE_SIZE         = var.reconciler_settings.page_size
      RECONCILE_MAX_PAGES         = var.reconciler_settings.max_pages
      RECONCILE_MAX_CALLS         = var.reconciler_settings.max_calls
      RECONCILE_GRACE             = var.reconciler_settings.grace
      RECONCILE_RECHECK_MIN       = var.reconciler_settings.recheck_min
      RECONCILE_RECHECK_MAX       = var.reconciler_settings.recheck_max
      RECONCILE_TIMEOUT           = var.reconciler_settings.timeout
      RECONCILE_REENABLE_WEBHOOKS = var.reconciler_settings.reenable_webhooks
      LOG_LEVEL                   = var.log_level
    })

    secret_environment_variables {
      key        = "GEMINI_API_KEY"
      project_id = var.project_id
      secret     = google_secret_manager_secret.gemini_api_key.secret_id
      version    = var.gemini_api_key_version
    }
  }

  depends_on = [
    google_pubsub_topic_iam_member.reconciler_events_publisher,
    google_secret_manager_secret_iam_member.reconciler_api_key_accessor,
    google_project_iam_member.reconciler_firestore_user,
    google_storage_bucket_iam_member.build_source_reader,
    google_artifact_registry_repository_iam_member.build_image_writer,
    google_project_iam_member.build_log_writer,
  ]
}

# The identity Cloud Scheduler presents when it calls the reconciler. It may
# invoke the reconciler and nothing else.
resource "google_service_account" "scheduler" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-scheduler"
  display_name = "geminihooks reconcile schedule"

  depends_on = [google_project_service.enabled]
}

resource "google_cloud_run_v2_service_iam_member" "reconciler_scheduler_invoker" {
  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.reconciler.service_config[0].service
  role     = "roles/run.invoker"
  member   = google_service_account.scheduler.member
}

# Cloud Scheduler mints the scheduler identity's OIDC tokens. Projects
# created before March 2019 need this grant explicitly; on newer ones it is
# redundant but harmless, and it is scoped to this one account.
resource "google_service_account_iam_member" "scheduler_token_creator" {
  service_account_id = google_service_account.scheduler.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-cloudscheduler.iam.gserviceaccount.com"
}

resource "google_cloud_scheduler_job" "reconcile" {
  project     = var.project_id
  region      = var.region
  name        = "${var.name_prefix}-reconcile"
  description = "Runs a reconcile pass of ${google_cloudfunctions2_function.reconciler.name}."
  schedule    = var.reconcile_schedule
  time_zone   = "Etc/UTC"
  # A pass is bounded by RECONCILE_TIMEOUT; the deadline leaves it room.
  attempt_deadline = "${var.reconciler_timeout_seconds}s"

  # No retries: the next scheduled pass is the retry, and a pass that
  # stopped early (a 429) is better not repeated at once.
  retry_config {
    retry_count = 0
  }

  http_target {
    http_method = "POST"
    uri         = google_cloudfunctions2_function.reconciler.service_config[0].uri

    oidc_token {
      service_account_email = google_service_account.scheduler.email
      audience              = google_cloudfunctions2_function.reconciler.service_config[0].uri
    }
  }

  depends_on = [
    google_project_service.enabled,
    google_cloud_run_v2_service_iam_member.reconciler_scheduler_invoker,
  ]
}
