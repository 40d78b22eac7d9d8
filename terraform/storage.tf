# The results bucket the materializer writes to.

locals {
  bucket_location = coalesce(var.bucket_location, var.region)
}

resource "google_storage_bucket" "results" {
  project  = var.project_id
  name     = "${var.project_id}-${var.name_prefix}-results"
  location = local.bucket_location

  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  # A bucket that still holds results is only deleted once protection is
  # turned off.
  force_destroy = !var.deletion_protection

  dynamic "lifecycle_rule" {
    for_each = var.results_lifecycle.nearline_after_days == null ? [] : [var.results_lifecycle.nearline_after_days]
    content {
      condition {
        age = lifecycle_rule.value
      }
      action {
        type          = "SetStorageClass"
        storage_class = "NEARLINE"
      }
    }
  }

  dynamic "lifecycle_rule" {
    for_each = var.results_lifecycle.coldline_after_days == null ? [] : [var.results_lifecycle.coldline_after_days]
    content {
      condition {
        age = lifecycle_rule.value
      }
      action {
        type          = "SetStorageClass"
        storage_class = "COLDLINE"
      }
    }
  }

  dynamic "lifecycle_rule" {
    for_each = var.results_lifecycle.delete_after_days == null ? [] : [var.results_lifecycle.delete_after_days]
    content {
      condition {
        age = lifecycle_rule.value
      }
      action {
        type = "Delete"
      }
    }
  }

  depends_on = [google_project_service.enabled]
}
