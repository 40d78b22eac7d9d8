# Metrics of a job's journey, as log-based metrics over the one line each
# function writes per request (receiver: "webhook accepted|duplicate|ignored|
# rejected"; materializer: "event materialized", "materialization failed; the
# event will be redelivered", "push request rejected"). Cloud Logging counts
# a line once it is ingested, and a function writes it to stdout before its
# answer: an instance stopping (scale to zero) loses no data point, and there
# is nothing to flush. The fields each metric reads are checked against the
# code by metrics_test.go.

locals {
  receiver_logs = join(" AND ", [
    "resource.type=\"cloud_run_revision\"",
    "resource.labels.service_name=\"${google_cloudfunctions2_function.receiver.name}\"",
  ])
  materializer_logs = join(" AND ", [
    "resource.type=\"cloud_run_revision\"",
    "resource.labels.service_name=\"${google_cloudfunctions2_function.materializer.name}\"",
  ])
}

# Every delivery, by how it ended: accepted, duplicate, ignored (a ping) or
# rejected, with the error code of a rejection, the signature scheme and the
# Gemini event type (both only once the signature verified).
resource "google_logging_metric" "deliveries" {
  project     = var.project_id
  name        = "${var.name_prefix}/webhook_deliveries"
  description = "Webhook deliveries the receiver answered, by outcome, error code, signature scheme and Gemini event type."

  filter = "${local.receiver_logs} AND jsonPayload.outcome:*"

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"

    labels {
      key         = "outcome"
      value_type  = "STRING"
      description = "accepted, duplicate, ignored or rejected."
    }
    labels {
      key         = "code"
      value_type  = "STRING"
      description = "The error code of a rejected delivery, such as signature_mismatch or publish_failed."
    }
    labels {
      key         = "scheme"
      value_type  = "STRING"
      description = "The verified signature scheme: hmac or jwt."
    }
    labels {
      key         = "event_type"
      value_type  = "STRING"
      description = "The Gemini event type, such as batch.succeeded."
    }
  }

  label_extractors = {
    outcome    = "EXTRACT(jsonPayload.outcome)"
    code       = "EXTRACT(jsonPayload.code)"
    scheme     = "EXTRACT(jsonPayload.scheme)"
    event_type = "EXTRACT(jsonPayload.event_type)"
  }

  depends_on = [google_project_service.enabled]
}

# How long Pub/Sub took to acknowledge each completion event the receiver
# published: the share of the webhook's answer that is not the receiver's.
resource "google_logging_metric" "publish_latency" {
  project     = var.project_id
  name        = "${var.name_prefix}/publish_latency"
  description = "Time from the receiver's publish of a completion event to Pub/Sub's acknowledgement, in milliseconds."

  filter = "${local.receiver_logs} AND jsonPayload.publish_ms:*"

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "DISTRIBUTION"
    unit        = "ms"
  }

  value_extractor = "EXTRACT(jsonPayload.publish_ms)"

  bucket_options {
    # 0.25 ms to about 2 minutes.
    exponential_buckets {
      num_finite_buckets = 20
      growth_factor      = 2
      scale              = 0.25
    }
  }

  depends_on = [google_project_service.enabled]
}

# From the job's completion (as the Gemini API reports it) to its results
# stored: what the whole journey costs a consumer waiting for the results.
resource "google_logging_metric" "completion_to_stored" {
  project     = var.project_id
  name        = "${var.name_prefix}/completion_to_stored_lag"
  description = "Time from a job's completion to its results stored, in milliseconds, by job kind."

  filter = "${local.materializer_logs} AND jsonPayload.outcome=\"stored\" AND jsonPayload.lag_ms:*"

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "DISTRIBUTION"
    unit        = "ms"

    labels {
      key         = "kind"
      value_type  = "STRING"
      description = "batch, interaction or video."
    }
  }

  value_extractor  = "EXTRACT(jsonPayload.lag_ms)"
  label_extractors = { kind = "EXTRACT(jsonPayload.kind)" }

  bucket_options {
    # 100 ms to about 19 days (a webhook Gemini retried for a day, or a
    # reconciled job, lands far to the right).
    exponential_buckets {
      num_finite_buckets = 24
      growth_factor      = 2
      scale              = 100
    }
  }

  depends_on = [google_project_service.enabled]
}

# The bytes and objects each stored job produced (its manifest left out).
resource "google_logging_metric" "materialized_bytes" {
  project     = var.project_id
  name        = "${var.name_prefix}/materialized_bytes"
  description = "Bytes of results stored per job, by job kind."

  filter = "${local.materializer_logs} AND jsonPayload.outcome=\"stored\" AND jsonPayload.bytes:*"

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "DISTRIBUTION"
    unit        = "By"

    labels {
      key         = "kind"
      value_type  = "STRING"
      description = "batch, interaction or video."
    }
  }

  value_extractor  = "EXTRACT(jsonPayload.bytes)"
  label_extractors = { kind = "EXTRACT(jsonPayload.kind)" }

  bucket_options {
    # 1 KiB to 1 TiB.
    exponential_buckets {
      num_finite_buckets = 16
      growth_factor      = 4
      scale              = 1024
    }
  }

  depends_on = [google_project_service.enabled]
}

resource "google_logging_metric" "materialized_objects" {
  project     = var.project_id
  name        = "${var.name_prefix}/materialized_objects"
  description = "Objects of results stored per job, by job kind."

  filter = "${local.materializer_logs} AND jsonPayload.outcome=\"stored\" AND jsonPayload.objects:*"

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "DISTRIBUTION"
    unit        = "1"

    labels {
      key         = "kind"
      value_type  = "STRING"
      description = "batch, interaction or video."
    }
  }

  value_extractor  = "EXTRACT(jsonPayload.objects)"
  label_extractors = { kind = "EXTRACT(jsonPayload.kind)" }

  bucket_options {
    # 1 to 512 objects.
    exponential_buckets {
      num_finite_buckets = 10
      growth_factor      = 2
      scale              = 1
    }
  }

  depends_on = [google_project_service.enabled]
}

# Every push request, by what the materializer made of it: stored, failed
# (recorded and announced), redundant (announced before), not_a_job, retry
# (a transient failure, redelivered) or rejected (not an event; it ends in
# the dead-letter topic).
resource "google_logging_metric" "materializer_outcomes" {
  project     = var.project_id
  name        = "${var.name_prefix}/materializer_outcomes"
  description = "Push deliveries the materializer answered, by outcome, job kind and failure code."

  filter = "${local.materializer_logs} AND jsonPayload.outcome:*"

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"

    labels {
      key         = "outcome"
      value_type  = "STRING"
      description = "stored, failed, redundant, not_a_job, retry or rejected."
    }
    labels {
      key         = "kind"
      value_type  = "STRING"
      description = "batch, interaction or video."
    }
    labels {
      key         = "code"
      value_type  = "STRING"
      description = "The failure's code, such as batch_failed or gemini_not_found; transient_failure for a retry."
    }
  }

  label_extractors = {
    outcome = "EXTRACT(jsonPayload.outcome)"
    kind    = "EXTRACT(jsonPayload.kind)"
    code    = "EXTRACT(jsonPayload.code)"
  }

  depends_on = [google_project_service.enabled]
}
