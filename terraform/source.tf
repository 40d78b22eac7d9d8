# Function source and build: the repository archived as the buildpack sees
# it, the bucket it is uploaded to, the Artifact Registry repository the
# images go to, and the identity the builds run as.

locals {
  # Paths, relative to the repository root, left out of the uploaded source
  # (doublestar globs, matched against every file and directory; a matching
  # directory is skipped whole). The build test in this directory builds
  # exactly what this list lets through, so keep it the only list.
  source_excludes = [
    ".git",
    ".ci",
    ".geminihooks",
    "bin",
    "scripts",
    "terraform",
    "cloudbuild.yaml",
    "**/testdata",
    "**/*_test.go",
    "**/*.test",
    "**/*.out",
  ]
}

data "archive_file" "source" {
  type        = "zip"
  source_dir  = "${path.module}/.."
  output_path = "${path.module}/.terraform/geminihooks-source.zip"
  excludes    = local.source_excludes
}

resource "google_storage_bucket" "source" {
  project  = var.project_id
  name     = "${var.project_id}-${var.name_prefix}-source"
  location = local.bucket_location

  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  # Only build inputs live here; they are recreated by the next apply.
  force_destroy = true

  depends_on = [google_project_service.enabled]
}

# The object name carries the archive's hash, so a code change is a new
# object and a new build, and an unchanged tree is no change at all.
resource "google_storage_bucket_object" "source" {
  name   = "geminihooks-${data.archive_file.source.output_md5}.zip"
  bucket = google_storage_bucket.source.name
  source = data.archive_file.source.output_path
}

resource "google_artifact_registry_repository" "functions" {
  project       = var.project_id
  location      = var.region
  repository_id = "${var.name_prefix}-functions"
  format        = "DOCKER"
  description   = "geminihooks function images built by Cloud Build."

  # Every deploy pushes a new image; without cleanup they accumulate and are
  # billed as storage.
  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = var.image_retention_count
    }
  }

  cleanup_policies {
    id     = "delete-old"
    action = "DELETE"
    condition {
      older_than = "2592000s"
    }
  }

  depends_on = [google_project_service.enabled]
}

# Builds run as this account instead of the project's default (Compute Engine
# or Cloud Build) account, which new projects no longer grant enough to build,
# and old projects grant far too much.
resource "google_service_account" "build" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-build"
  display_name = "geminihooks function builds"

  depends_on = [google_project_service.enabled]
}

resource "google_storage_bucket_iam_member" "build_source_reader" {
  bucket = google_storage_bucket.source.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.build.member
}

resource "google_artifact_registry_repository_iam_member" "build_image_writer" {
  project    = var.project_id
  location   = google_artifact_registry_repository.functions.location
  repository = google_artifact_registry_repository.functions.name
  role       = "roles/artifactregistry.writer"
  member     = google_service_account.build.member
}

# Build logs go to Cloud Logging; log writing cannot be scoped below the
# project.
resource "google_project_iam_member" "build_log_writer" {
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = google_service_account.build.member
}
