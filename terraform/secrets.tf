# Secret Manager secrets. Terraform creates the secrets but never their
# versions: a value set through Terraform would be stored in plain text in the
# state. README.md shows how to add versions with gcloud.

resource "google_secret_manager_secret" "webhook_signing" {
  project   = var.project_id
  secret_id = "${var.name_prefix}-webhook-signing-secret"

  # The receiver accepts a signature made with any enabled version, so a
  # rotation is: add a version, let Gemini switch, disable the old version.
  replication {
    auto {}
  }

  deletion_protection = var.deletion_protection

  depends_on = [google_project_service.enabled]
}

resource "google_secret_manager_secret" "gemini_api_key" {
  project   = var.project_id
  secret_id = "${var.name_prefix}-gemini-api-key"

  replication {
    auto {}
  }

  deletion_protection = var.deletion_protection

  depends_on = [google_project_service.enabled]
}
