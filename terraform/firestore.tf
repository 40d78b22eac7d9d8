# Firestore: the delivery ledger (pkg/idempotency), the job registry
# (pkg/registry), their TTL policies and the registry's index.

resource "google_firestore_database" "this" {
  count = var.create_firestore_database ? 1 : 0

  project     = var.project_id
  name        = var.firestore_database
  location_id = var.firestore_location
  type        = "FIRESTORE_NATIVE"

  delete_protection_state = var.deletion_protection ? "DELETE_PROTECTION_ENABLED" : "DELETE_PROTECTION_DISABLED"
  # ABANDON leaves the database (and every other app's data in it) in place
  # when this configuration is destroyed.
  deletion_policy = var.deletion_protection ? "ABANDON" : "DELETE"

  depends_on = [google_project_service.enabled]
}

locals {
  firestore_database = var.create_firestore_database ? google_firestore_database.this[0].name : var.firestore_database
}

# Every ledger record carries the expiry time in this field
# (idempotency.ExpiryField); the policy makes Firestore delete expired
# records, typically within a day of expiry. A test keeps the field name equal
# to the code's.
resource "google_firestore_field" "idempotency_expiry" {
  project    = var.project_id
  database   = local.firestore_database
  collection = var.idempotency_collection
  field      = "expire_at"

  ttl_config {}

  # An empty index_config exempts the field from single-field indexes:
  # nothing queries it, and indexing a timestamp that only grows would hot-spot
  # the index at high write rates.
  index_config {}

  depends_on = [google_project_service.enabled]
}

# The job registry's records carry their expiry in the same field name
# (registry.ExpiryField).
resource "google_firestore_field" "jobs_expiry" {
  project    = var.project_id
  database   = local.firestore_database
  collection = var.jobs_collection
  field      = "expire_at"

  ttl_config {}
  index_config {}

  depends_on = [google_project_service.enabled]
}

# The reconciler asks for pending jobs past their expected completion
# (state == "pending" AND expected_at <= now, oldest first): an equality and
# a range on two fields need a composite index (registry.IndexFields).
resource "google_firestore_index" "jobs_overdue" {
  project    = var.project_id
  database   = local.firestore_database
  collection = var.jobs_collection

  fields {
    field_path = "state"
    order      = "ASCENDING"
  }

  fields {
    field_path = "expected_at"
    order      = "ASCENDING"
  }

  depends_on = [google_project_service.enabled]
}
