# MaterializeResults: the push endpoint of the events subscription. It fetches
# the finished job from the Gemini API, writes its results to the results
# bucket once, and announces them on the results topic.

resource "google_service_account" "materializer" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-materializer"
  display_name = "geminihooks materializer (MaterializeResults)"

  depends_on = [google_project_service.enabled]
}

# Results are write-once, enforced by the code: every object is created under
# a does-not-exist precondition and never overwritten. Creating (create), the
# existence check (get), the sha256 metadata set after the upload commits
# (update) and the removal of an upload whose checksums mismatch (delete) need
# objectUser; objectCreator and objectViewer alone would fail every write at
# the metadata step.
# The materializer records each job's end in the job registry. Firestore
# roles exist only at project level; the condition narrows this one to the
# registry's database.
resource "google_project_iam_member" "materializer_firestore_user" {
  project = var.project_id
  role    = "roles/datastore.user"
  member  = google_service_account.materializer.member

  condition {
    title       = "${var.name_prefix}-registry-database"
    description = "Only the database holding the geminihooks job registry."
    expression  = "resource.name == \"projects/${var.project_id}/databases/${local.firestore_database}\""
  }
}

resource "google_storage_bucket_iam_member" "materializer_results_writer" {
  bucket = google_storage_bucket.results.name
  role   = "roles/storage.objectUser"
  member = google_service_account.materializer.member
}

resource "google_pubsub_topic_iam_member" "materializer_results_publisher" {
  project = var.project_id
  topic   = google_pubsub_topic.results.id
  role    = "roles/pubsub.publisher"
  member  = google_service_account.materializer.member
}

resource "google_secret_manager_secret_iam_member" "materializer_api_key_accessor" {
  project   = var.project_id
  secret_id = google_secret_manager_secret.gemini_api_key.id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.materializer.member
}

resource "google_cloudfunctions2_function" "materializer" {
  project     = var.project_id
  location    = var.region
  name        = "${var.name_prefix}-materializer"
  description = "Materializes finished Gemini jobs from ${google_pubsub_topic.events.name} into ${google_storage_bucket.results.name}."

  build_config {
    runtime           = var.runtime
    entry_point       = "MaterializeResults"
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
    service_account_email = google_service_account.materializer.email

    # Only Pub/Sub (same project) reaches it, and only with the push
    # identity's token (see the invoker grant below).
    ingress_settings               = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision = true

    max_instance_count               = var.materializer_max_instances
    max_instance_request_concurrency = var.materializer_concurrency
    available_cpu                    = "1"
    available_memory                 = var.materializer_memory
    timeout_seconds                  = var.materializer_timeout_seconds

    # Exactly what pkg/materializer.Config reads (a test keeps them equal);
    # GEMINI_API_KEY comes from Secret Manager below.
    environment_variables = merge(local.tracing_env, {
      GOOGLE_CLOUD_PROJECT  = var.project_id
      GEMINI_BASE_URL       = var.materializer_settings.gemini_base_url
      GEMINI_DOWNLOAD_HOSTS = join(",", var.materializer_settings.download_hosts)
      GEMINI_FETCH_TIMEOUT  = var.materializer_settings.fetch_timeout
      RESULTS_BUCKET        = google_storage_bucket.results.name
      RESULTS_PREFIX        = var.materializer_settings.results_prefix
      RESULTS_TOPIC         = google_pubsub_topic.results.id
      UPLOAD_CHUNK_SIZE     = var.materializer_settings.upload_chunk_size
      PUBSUB_ORDERING       = var.materializer_settings.pubsub_ordering
      FIRESTORE_DATABASE    = local.firestore_database
      JOBS_COLLECTION       = var.jobs_collection
      JOBS_TTL              = var.jobs_ttl
      LOG_LEVEL             = var.log_level
    })

    # Read when an instance starts: after adding a version, new instances
    # pick it up (README.md, "Rotating").
    secret_environment_variables {
      key        = "GEMINI_API_KEY"
      project_id = var.project_id
      secret     = google_secret_manager_secret.gemini_api_key.secret_id
      version    = var.gemini_api_key_version
    }
  }

  depends_on = [
    google_project_iam_member.materializer_firestore_user,
    google_storage_bucket_iam_member.materializer_results_writer,
    google_pubsub_topic_iam_member.materializer_results_publisher,
    google_secret_manager_secret_iam_member.materializer_api_key_accessor,
    google_storage_bucket_iam_member.build_source_reader,
    google_artifact_registry_repository_iam_member.build_image_writer,
    google_project_iam_member.build_log_writer,
  ]
}

# The identity Pub/Sub presents when it pushes events. It may invoke the
# materializer and nothing else.
resource "google_service_account" "push" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-push"
  display_name = "geminihooks events push subscription"

  depends_on = [google_project_service.enabled]
}

resource "google_cloud_run_v2_service_iam_member" "materializer_push_invoker" {
  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.materializer.service_config[0].service
  role     = "roles/run.invoker"
  member   = google_service_account.push.member
}

# Pub/Sub mints the push identity's OIDC tokens. Projects created before
# April 2021 need this grant explicitly; on newer ones it is redundant but
# harmless, and it is scoped to this one account.
resource "google_service_account_iam_member" "push_token_creator" {
  service_account_id = google_service_account.push.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_service_agent
}
