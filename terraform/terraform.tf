# Versions and providers. Remote state is configured at init time (see
# README.md): the module declares no backend so that a first apply needs
# nothing but credentials, and Cloud Build adds a GCS backend of its own.

terraform {
  # 1.9 is the first release whose variable validations may refer to other
  # variables.
  required_version = ">= 1.9"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 7.0"
    }
    # 2.4 added glob patterns to archive_file's excludes, which the source
    # archive relies on.
    archive = {
      source  = "hashicorp/archive"
      version = "~> 2.7"
    }
  }
}

provider "google" {
  project        = var.project_id
  region         = var.region
  default_labels = local.labels
}
