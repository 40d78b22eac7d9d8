# Monitoring: log-based metrics for failed verifications, disabled webhooks
# and lost webhooks, and the alerts that catch what breaks silently in
# production.

# Every rejected delivery is one "webhook rejected" log line carrying the
# status and code; 401 is a signature, token or timestamp that did not verify.
# A burst means a rotated secret that the deployment lacks, or someone probing
# the public endpoint.
resource "google_logging_metric" "verification_failures" {
  project     = var.project_id
  name        = "${var.name_prefix}/webhook_verification_failures"
  description = "Webhook deliveries the receiver rejected as not authentic (HTTP 401), by error code."

  filter = join(" AND ", [
    "resource.type=\"cloud_run_revision\"",
    "resource.labels.service_name=\"${google_cloudfunctions2_function.receiver.name}\"",
    "jsonPayload.message=\"webhook rejected\"",
    "jsonPayload.status=401",
  ])

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"

    labels {
      key         = "code"
      value_type  = "STRING"
      description = "The receiver's error code, such as signature_mismatch or timestamp_too_old."
    }
  }

  label_extractors = {
    code = "EXTRACT(jsonPayload.code)"
  }

  depends_on = [google_project_service.enabled]
}

resource "google_monitoring_alert_policy" "dead_letter_backlog" {
  project      = var.project_id
  display_name = "${var.name_prefix}: events in the dead-letter queue"
  combiner     = "OR"
  severity     = "ERROR"

  conditions {
    display_name = "Undelivered messages on ${google_pubsub_subscription.dead_letter.name}"

    condition_threshold {
      filter = join(" AND ", [
        "resource.type = \"pubsub_subscription\"",
        "resource.labels.subscription_id = \"${google_pubsub_subscription.dead_letter.name}\"",
        "metric.type = \"pubsub.googleapis.com/subscription/num_undelivered_messages\"",
      ])
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "300s"

      aggregations {
        alignment_period   = "300s"
        per_series_aligner = "ALIGN_MAX"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Events failed ${var.max_delivery_attempts} push deliveries to the materializer and were dead-lettered. Read the materializer's logs for the message ids, fix the cause, then replay the messages from `${google_pubsub_subscription.dead_letter.name}` (terraform/README.md, \"Dead letters\")."
  }

  notification_channels = var.notification_channels

  depends_on = [google_project_service.enabled]
}

resource "google_monitoring_alert_policy" "push_backlog_age" {
  project      = var.project_id
  display_name = "${var.name_prefix}: materializer falling behind"
  combiner     = "OR"
  severity     = "WARNING"

  conditions {
    display_name = "Oldest unacked event on ${google_pubsub_subscription.materializer.name}"

    condition_threshold {
      filter = join(" AND ", [
        "resource.type = \"pubsub_subscription\"",
        "resource.labels.subscription_id = \"${google_pubsub_subscription.materializer.name}\"",
        "metric.type = \"pubsub.googleapis.com/subscription/oldest_unacked_message_age\"",
      ])
      comparison      = "COMPARISON_GT"
      threshold_value = var.oldest_unacked_age_threshold_seconds
      duration        = "300s"

      aggregations {
        alignment_period   = "60s"
        per_series_aligner = "ALIGN_MAX"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Events wait longer than ${var.oldest_unacked_age_threshold_seconds}s for the materializer: it is failing (see its logs and 5xx) or at max_instance_count."
  }

  notification_channels = var.notification_channels

  depends_on = [google_project_service.enabled]
}

resource "google_monitoring_alert_policy" "receiver_5xx" {
  project      = var.project_id
  display_name = "${var.name_prefix}: receiver 5xx"
  combiner     = "OR"
  severity     = "ERROR"

  conditions {
    display_name = "5xx responses of ${google_cloudfunctions2_function.receiver.name}"

    condition_threshold {
      filter = join(" AND ", [
        "resource.type = \"cloud_run_revision\"",
        "resource.labels.service_name = \"${google_cloudfunctions2_function.receiver.name}\"",
        "metric.type = \"run.googleapis.com/request_count\"",
        "metric.labels.response_code_class = \"5xx\"",
      ])
      comparison      = "COMPARISON_GT"
      threshold_value = var.receiver_5xx_rate_threshold
      duration        = "300s"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_RATE"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "The receiver answers 5xx: Firestore or Pub/Sub is failing, or the function is misconfigured (code not_configured). Gemini retries for 24 hours, so nothing is lost yet. Filter the receiver's logs on severity>=ERROR."
  }

  notification_channels = var.notification_channels

  depends_on = [google_project_service.enabled]
}

# The reconciler logs one ERROR line per webhook that Gemini disabled after
# failed deliveries (reconciler.MsgWebhookDisabled; a test keeps the text
# equal). While it is disabled, Gemini delivers nothing to it: every job
# finishing meanwhile is found only by the reconciler.
resource "google_logging_metric" "webhooks_disabled" {
  project     = var.project_id
  name        = "${var.name_prefix}/webhooks_disabled"
  description = "Webhooks the reconciler found disabled after failed deliveries, per pass, by webhook id."

  filter = join(" AND ", [
    "resource.type=\"cloud_run_revision\"",
    "resource.labels.service_name=\"${google_cloudfunctions2_function.reconciler.name}\"",
    "severity=ERROR",
    "jsonPayload.message=\"webhook disabled after failed deliveries\"",
  ])

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"

    labels {
      key         = "webhook_id"
      value_type  = "STRING"
      description = "The disabled webhook's id in the WebhookService."
    }
  }

  label_extractors = {
    webhook_id = "EXTRACT(jsonPayload.webhook_id)"
  }

  depends_on = [google_project_service.enabled]
}

# Each completion event the reconciler published is one WARNING line
# (reconciler.MsgGapFilled): a finished job whose webhook never came.
resource "google_logging_metric" "gaps_filled" {
  project     = var.project_id
  name        = "${var.name_prefix}/reconciler_gaps_filled"
  description = "Completion events the reconciler published because the job's webhook never came, by Gemini event type."

  filter = join(" AND ", [
    "resource.type=\"cloud_run_revision\"",
    "resource.labels.service_name=\"${google_cloudfunctions2_function.reconciler.name}\"",
    "jsonPayload.message=\"gap filled: completion event published without its webhook\"",
  ])

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"

    labels {
      key         = "event_type"
      value_type  = "STRING"
      description = "The Gemini event type published, such as batch.succeeded."
    }
  }

  label_extractors = {
    event_type = "EXTRACT(jsonPayload.event_type)"
  }

  depends_on = [google_project_service.enabled]
}

resource "google_monitoring_alert_policy" "webhook_disabled" {
  project      = var.project_id
  display_name = "${var.name_prefix}: Gemini disabled a webhook"
  combiner     = "OR"
  severity     = "ERROR"

  conditions {
    display_name = "Webhooks in state disabled_due_to_failed_deliveries"

    condition_threshold {
      filter = join(" AND ", [
        "resource.type = \"cloud_run_revision\"",
        "metric.type = \"logging.googleapis.com/user/${google_logging_metric.webhooks_disabled.name}\"",
      ])
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"

      aggregations {
        alignment_period     = "600s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Gemini stopped delivering to a webhook after its deliveries kept failing (the reconciler's ERROR line \"webhook disabled after failed deliveries\" names it). Until it is re-enabled, completion events come only from the reconciler, one reconcile_schedule late. Fix the endpoint (the receiver's logs and 5xx), then re-enable it with `geminihooks webhooks update ID --state enabled`, or set reconciler_settings.reenable_webhooks."
  }

  notification_channels = var.notification_channels

  depends_on = [google_project_service.enabled]
}

resource "google_monitoring_alert_policy" "gaps_filled" {
  project      = var.project_id
  display_name = "${var.name_prefix}: webhooks lost (reconciler filled gaps)"
  combiner     = "OR"
  severity     = "WARNING"

  conditions {
    display_name = "Completion events published by the reconciler"

    condition_threshold {
      filter = join(" AND ", [
        "resource.type = \"cloud_run_revision\"",
        "metric.type = \"logging.googleapis.com/user/${google_logging_metric.gaps_filled.name}\"",
      ])
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"

      aggregations {
        alignment_period     = "600s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "The reconciler found finished jobs whose webhook never came and published their completion events itself (marked reconciled); nothing is lost, but webhooks are. Its log lines name each job. Look for a disabled webhook, a wrong per-request webhook_config, receiver 5xx or rejected signatures around the jobs' end times."
  }

  notification_channels = var.notification_channels

  depends_on = [google_project_service.enabled]
}
