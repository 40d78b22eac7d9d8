# One Cloud Monitoring dashboard for a job's journey: deliveries, their
# publish latency and rejections; what the materializer made of each event,
# how late and how much; the push and dead-letter backlogs; the reconciler;
# and the alerts. dashboard_test.go checks that every metric it charts is
# defined here or is one of Cloud Monitoring's built-in metrics.

locals {
  user_metrics = "logging.googleapis.com/user"
  # PromQL's names of log-based metrics: logging_googleapis_com:user_NAME,
  # every character of NAME outside [a-zA-Z0-9_] turned into "_".
  promql_materialized = {
    bytes   = "logging_googleapis_com:user_${replace(google_logging_metric.materialized_bytes.name, "/[^a-zA-Z0-9_]/", "_")}"
    objects = "logging_googleapis_com:user_${replace(google_logging_metric.materialized_objects.name, "/[^a-zA-Z0-9_]/", "_")}"
  }

  dashboard_tiles = [
    # Row 1: the receiver.
    {
      xPos = 0, yPos = 0, width = 16, height = 16
      widget = {
        title = "Webhook deliveries by outcome"
        xyChart = {
          dataSets = [{
            plotType = "STACKED_BAR"
            timeSeriesQuery = {
              timeSeriesFilter = {
                filter = "metric.type=\"${local.user_metrics}/${google_logging_metric.deliveries.name}\" resource.type=\"cloud_run_revision\""
                aggregation = {
                  alignmentPeriod    = "60s"
                  perSeriesAligner   = "ALIGN_RATE"
                  crossSeriesReducer = "REDUCE_SUM"
                  groupByFields      = ["metric.label.\"outcome\""]
                }
              }
            }
          }]
          yAxis = { label = "deliveries/s", scale = "LINEAR" }
        }
      }
    },
    {
      xPos = 16, yPos = 0, width = 16, height = 16
      widget = {
        title = "Accepted deliveries by event type and scheme"
        xyChart = {
          dataSets = [{
            plotType = "STACKED_BAR"
            timeSeriesQuery = {
              timeSeriesFilter = {
                filter = "metric.type=\"${local.user_metrics}/${google_logging_metric.deliveries.name}\" resource.type=\"cloud_run_revision\" metric.label.\"outcome\"=\"accepted\""
                aggregation = {
                  alignmentPeriod    = "60s"
                  perSeriesAligner   = "ALIGN_RATE"
                  crossSeriesReducer = "REDUCE_SUM"
                  groupByFields      = ["metric.label.\"event_type\"", "metric.label.\"scheme\""]
                }
              }
            }
          }]
          yAxis = { label = "deliveries/s", scale = "LINEAR" }
        }
      }
    },
    {
      xPos = 32, yPos = 0, width = 16, height = 16
      widget = {
        title = "Rejected deliveries by code; failed verifications by code"
        xyChart = {
          dataSets = [
            {
              plotType = "STACKED_BAR"
              timeSeriesQuery = {
                timeSeriesFilter = {
                  filter = "metric.type=\"${local.user_metrics}/${google_logging_metric.deliveries.name}\" resource.type=\"cloud_run_revision\" metric.label.\"outcome\"=\"rejected\""
                  aggregation = {
                    alignmentPeriod    = "60s"
                    perSeriesAligner   = "ALIGN_RATE"
                    crossSeriesReducer = "REDUCE_SUM"
                    groupByFields      = ["metric.label.\"code\""]
                  }
                }
              }
            },
            {
              plotType = "LINE"
              timeSeriesQuery = {
                timeSeriesFilter = {
                  filter = "metric.type=\"${local.user_metrics}/${google_logging_metric.verification_failures.name}\" resource.type=\"cloud_run_revision\""
                  aggregation = {
                    alignmentPeriod    = "60s"
                    perSeriesAligner   = "ALIGN_RATE"
                    crossSeriesReducer = "REDUCE_SUM"
                    groupByFields      = ["metric.label.\"code\""]
                  }
                }
              }
            },
          ]
          yAxis = { label = "deliveries/s", scale = "LINEAR" }
        }
      }
    },

    # Row 2: latencies.
    {
      xPos = 0, yPos = 16, width = 16, height = 16
      widget = {
        title = "Publish latency (p50, p99)"
        xyChart = {
          dataSets = [for p in ["50", "99"] : {
            plotType = "LINE"
            timeSeriesQuery = {
              timeSeriesFilter = {
                filter = "metric.type=\"${local.user_metrics}/${google_logging_metric.publish_latency.name}\" resource.type=\"cloud_run_revision\""
                aggregation = {
                  alignmentPeriod    = "60s"
                  perSeriesAligner   = "ALIGN_DELTA"
                  crossSeriesReducer = "REDUCE_PERCENTILE_${p}"
                }
              }
            }
          }]
          yAxis = { label = "ms", scale = "LOG10" }
        }
      }
    },
    {
      xPos = 16, yPos = 16, width = 16, height = 16
      widget = {
        title = "Job completion to results stored (p50, p95) by kind"
        xyChart = {
          dataSets = [for p in ["50", "95"] : {
            plotType = "LINE"
            timeSeriesQuery = {
              timeSeriesFilter = {
                filter = "metric.type=\"${local.user_metrics}/${google_logging_metric.completion_to_stored.name}\" resource.type=\"cloud_run_revision\""
                aggregation = {
                  alignmentPeriod    = "300s"
                  perSeriesAligner   = "ALIGN_DELTA"
                  crossSeriesReducer = "REDUCE_PERCENTILE_${p}"
                  groupByFields      = ["metric.label.\"kind\""]
                }
              }
            }
          }]
          yAxis = { label = "ms", scale = "LOG10" }
        }
      }
    },
    {
      xPos = 32, yPos = 16, width = 16, height = 16
      widget = {
        title = "Receiver request latency (p99, Cloud Run)"
        xyChart = {
          dataSets = [{
            plotType = "LINE"
            timeSeriesQuery = {
              timeSeriesFilter = {
                filter = "metric.type=\"run.googleapis.com/request_latencies\" resource.type=\"cloud_run_revision\" resource.label.\"service_name\"=\"${google_cloudfunctions2_function.receiver.name}\""
                aggregation = {
                  alignmentPeriod    = "60s"
                  perSeriesAligner   = "ALIGN_DELTA"
                  crossSeriesReducer = "REDUCE_PERCENTILE_99"
                }
              }
            }
          }]
          yAxis = { label = "ms", scale = "LOG10" }
        }
      }
    },

    # Row 3: the materializer.
    {
      xPos = 0, yPos = 32, width = 16, height = 16
      widget = {
        title = "Materializer outcomes"
        xyChart = {
          dataSets = [{
            plotType = "STACKED_BAR"
            timeSeriesQuery = {
              timeSeriesFilter = {
                filter = "metric.type=\"${local.user_metrics}/${google_logging_metric.materializer_outcomes.name}\" resource.type=\"cloud_run_revision\""
                aggregation = {
                  alignmentPeriod    = "60s"
                  perSeriesAligner   = "ALIGN_RATE"
                  crossSeriesReducer = "REDUCE_SUM"
                  groupByFields      = ["metric.label.\"outcome\""]
                }
              }
            }
          }]
          yAxis = { label = "events/s", scale = "LINEAR" }
        }
      }
    },
    {
      # PromQL sums a distribution's values (_sum), which a filter cannot.
      xPos = 16, yPos = 32, width = 16, height = 16
      widget = {
        title = "Bytes materialized by kind"
        xyChart = {
          dataSets = [{
            plotType        = "STACKED_AREA"
            timeSeriesQuery = { prometheusQuery = "sum by (kind) (rate(${local.promql_materialized.bytes}_sum{monitored_resource=\"cloud_run_revision\"}[5m]))" }
          }]
          yAxis = { label = "bytes/s", scale = "LINEAR" }
        }
      }
    },
    {
      xPos = 32, yPos = 32, width = 16, height = 16
      widget = {
        title = "Objects materialized by kind"
        xyChart = {
          dataSets = [{
            plotType        = "STACKED_AREA"
            timeSeriesQuery = { prometheusQuery = "sum by (kind) (rate(${local.promql_materialized.objects}_sum{monitored_resource=\"cloud_run_revision\"}[5m]))" }
          }]
          yAxis = { label = "objects/s", scale = "LINEAR" }
        }
      }
    },

    # Row 4: Pub/Sub.
    {
      xPos = 0, yPos = 48, width = 16, height = 16
      widget = {
        title = "Dead-letter queue depth"
        xyChart = {
          dataSets = [{
            plotType = "LINE"
            timeSeriesQuery = {
              timeSeriesFilter = {
                filter = "metric.type=\"pubsub.googleapis.com/subscription/num_undelivered_messages\" resource.type=\"pubsub_subscription\" resource.label.\"subscription_id\"=\"${google_pubsub_subscription.dead_letter.name}\""
                aggregation = {
                  alignmentPeriod    = "60s"
                  perSeriesAligner   = "ALIGN_MAX"
                  crossSeriesReducer = "REDUCE_SUM"
                }
              }
            }
          }]
          yAxis = { label = "messages", scale = "LINEAR" }
        }
      }
    },
    {
      xPos = 16, yPos = 48, width = 16, height = 16
      widget = {
        title = "Events dead-lettered"
        xyChart = {
          dataSets = [{
            plotType = "STACKED_BAR"
            timeSeriesQuery = {
              timeSeriesFilter = {
                filter = "metric.type=\"pubsub.googleapis.com/subscription/dead_letter_message_count\" resource.type=\"pubsub_subscription\" resource.label.\"subscription_id\"=\"${google_pubsub_subscription.materializer.name}\""
                aggregation = {
                  alignmentPeriod    = "60s"
                  perSeriesAligner   = "ALIGN_DELTA"
                  crossSeriesReducer = "REDUCE_SUM"
                }
              }
            }
          }]
          yAxis = { label = "messages", scale = "LINEAR" }
        }
      }
    },
    {
      xPos = 32, yPos = 48, width = 16, height = 16
      widget = {
        title = "Oldest unacked event (push and dead-letter)"
        xyChart = {
          dataSets = [for sub in [google_pubsub_subscription.materializer.name, google_pubsub_subscription.dead_letter.name] : {
            plotType = "LINE"
            timeSeriesQuery = {
              timeSeriesFilter = {
                filter = "metric.type=\"pubsub.googleapis.com/subscription/oldest_unacked_message_age\" resource.type=\"pubsub_subscription\" resource.label.\"subscription_id\"=\"${sub}\""
                aggregation = {
                  alignmentPeriod    = "60s"
                  perSeriesAligner   = "ALIGN_MAX"
                  crossSeriesReducer = "REDUCE_MAX"
                  groupByFields      = ["resource.label.\"subscription_id\""]
                }
              }
            }
          }]
          thresholds = [{ value = var.oldest_unacked_age_threshold_seconds, color = "YELLOW", direction = "ABOVE" }]
          yAxis      = { label = "s", scale = "LINEAR" }
        }
      }
    },

    # Row 5: the reconciler.
    {
      xPos = 0, yPos = 64, width = 24, height = 16
      widget = {
        title = "Gaps the reconciler filled (webhooks lost) by event type"
        xyChart = {
          dataSets = [{
            plotType = "STACKED_BAR"
            timeSeriesQuery = {
              timeSeriesFilter = {
                filter = "metric.type=\"${local.user_metrics}/${google_logging_metric.gaps_filled.name}\" resource.type=\"cloud_run_revision\""
                aggregation = {
                  alignmentPeriod    = "600s"
                  perSeriesAligner   = "ALIGN_DELTA"
                  crossSeriesReducer = "REDUCE_SUM"
                  groupByFields      = ["metric.label.\"event_type\""]
                }
              }
            }
          }]
          yAxis = { label = "events", scale = "LINEAR" }
        }
      }
    },
    {
      xPos = 24, yPos = 64, width = 24, height = 16
      widget = {
        title = "Webhooks Gemini disabled"
        xyChart = {
          dataSets = [{
            plotType = "STACKED_BAR"
            timeSeriesQuery = {
              timeSeriesFilter = {
                filter = "metric.type=\"${local.user_metrics}/${google_logging_metric.webhooks_disabled.name}\" resource.type=\"cloud_run_revision\""
                aggregation = {
                  alignmentPeriod    = "600s"
                  perSeriesAligner   = "ALIGN_DELTA"
                  crossSeriesReducer = "REDUCE_SUM"
                  groupByFields      = ["metric.label.\"webhook_id\""]
                }
              }
            }
          }]
          yAxis = { label = "webhooks", scale = "LINEAR" }
        }
      }
    },
  ]

  # Row 6 on: the module's alerts, three to a row.
  alert_policies = [
    google_monitoring_alert_policy.dead_letter_backlog,
    google_monitoring_alert_policy.push_backlog_age,
    google_monitoring_alert_policy.receiver_5xx,
    google_monitoring_alert_policy.webhook_disabled,
    google_monitoring_alert_policy.gaps_filled,
  ]
  alert_tiles = [for i, p in local.alert_policies : {
    xPos = (i % 3) * 16, yPos = 80 + floor(i / 3) * 16, width = 16, height = 16
    widget = {
      title      = p.display_name
      alertChart = { name = p.name }
    }
  }]

  logs_tile = {
    xPos = 0, yPos = 80 + ceil(length(local.alert_policies) / 3) * 16, width = 48, height = 20
    widget = {
      title = "Warnings and errors of the functions (each line links to its trace)"
      logsPanel = {
        filter = join(" AND ", [
          "resource.type=\"cloud_run_revision\"",
          "resource.labels.service_name=(\"${google_cloudfunctions2_function.receiver.name}\" OR \"${google_cloudfunctions2_function.materializer.name}\" OR \"${google_cloudfunctions2_function.reconciler.name}\")",
          "severity>=WARNING",
        ])
        resourceNames = ["projects/${var.project_id}"]
      }
    }
  }
}

resource "google_monitoring_dashboard" "journey" {
  project = var.project_id
  dashboard_json = jsonencode({
    displayName = "${var.name_prefix}: webhook to results"
    mosaicLayout = {
      columns = 48
      tiles   = concat(local.dashboard_tiles, local.alert_tiles, [local.logs_tile])
    }
  })

  depends_on = [google_project_service.enabled]
}
