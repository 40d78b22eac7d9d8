# Inputs. Only project_id is required; every default is a production default.
# Defaults of the *_settings objects equal the code's own defaults (a test
# keeps them equal), so leaving them alone changes nothing.

variable "project_id" {
  description = "Google Cloud project that hosts geminihooks."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a project ID (6-30 lowercase letters, digits and hyphens), not a project number or name."
  }
}

variable "region" {
  description = "Region of the functions, the Artifact Registry repository and (by default) the buckets."
  type        = string
  default     = "us-central1"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region must be a Cloud Functions region such as us-central1."
  }
}

variable "name_prefix" {
  description = "Prefix of every resource name; change it to run several deployments in one project."
  type        = string
  default     = "geminihooks"

  validation {
    # Service account ids are at most 30 characters, and the longest suffix
    # is "-materializer" (13).
    condition     = can(regex("^[a-z][a-z0-9-]{0,15}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 2-17 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "labels" {
  description = "Labels added to every resource that takes labels (app = geminihooks is always set)."
  type        = map(string)
  default     = {}
}

variable "deletion_protection" {
  description = "Protect stateful resources (Firestore database, secrets, a non-empty results bucket) from terraform destroy. Set to false and apply before tearing down."
  type        = bool
  default     = true
}

# --- Functions -------------------------------------------------------------

variable "runtime" {
  description = "Cloud Functions Go runtime; it must be at least the go directive of go.mod."
  type        = string
  default     = "go126"

  validation {
    condition     = can(regex("^go1[0-9]{2}$", var.runtime))
    error_message = "runtime must be a Go runtime id such as go126."
  }
}

variable "log_level" {
  description = "LOG_LEVEL of every function."
  type        = string
  default     = "info"

  validation {
    condition     = contains(["debug", "info", "notice", "warning", "error"], var.log_level)
    error_message = "log_level must be one of debug, info, notice, warning, error."
  }
}

variable "tracing" {
  description = "The functions' traces. exporter: otlp sends spans to Cloud Trace (through the Telemetry API, as each function's own service account), none records none (log lines still carry Cloud Run's trace). sample_ratio: the share of jobs traced, 0 to 1; decided by trace id, so every function of a job's journey decides alike. batch_delay_ms, export_timeout_ms, max_queue_size, max_export_batch_size: how ended spans are batched for export (OpenTelemetry's OTEL_BSP_* variables); a span that finds the queue full is dropped."
  type = object({
    exporter              = optional(string, "otlp")
    sample_ratio          = optional(number, 1)
    batch_delay_ms        = optional(number, 5000)
    export_timeout_ms     = optional(number, 30000)
    max_queue_size        = optional(number, 2048)
    max_export_batch_size = optional(number, 512)
  })
  default = {}

  validation {
    condition     = contains(["otlp", "none"], var.tracing.exporter)
    error_message = "tracing.exporter must be otlp or none."
  }
  validation {
    condition     = var.tracing.sample_ratio >= 0 && var.tracing.sample_ratio <= 1
    error_message = "tracing.sample_ratio must be from 0 to 1."
  }
  validation {
    condition = alltrue([
      for v in [var.tracing.batch_delay_ms, var.tracing.export_timeout_ms, var.tracing.max_queue_size, var.tracing.max_export_batch_size] : v >= 1 && floor(v) == v
    ])
    error_message = "tracing.batch_delay_ms, export_timeout_ms, max_queue_size and max_export_batch_size must be positive whole numbers."
  }
}

variable "receiver_max_instances" {
  description = "Upper bound on receiver instances: the cost guard against a flood of (even unsigned) requests."
  type        = number
  default     = 10

  validation {
    condition     = var.receiver_max_instances >= 1 && var.receiver_max_instances <= 1000
    error_message = "receiver_max_instances must be between 1 and 1000."
  }
}

variable "receiver_min_instances" {
  description = "Receiver instances kept warm; 0 scales to zero (Gemini retries a cold start that times out)."
  type        = number
  default     = 0

  validation {
    condition     = var.receiver_min_instances >= 0 && var.receiver_min_instances <= var.receiver_max_instances
    error_message = "receiver_min_instances must be between 0 and receiver_max_instances."
  }
}

variable "receiver_concurrency" {
  description = "Concurrent requests per receiver instance."
  type        = number
  default     = 80

  validation {
    condition     = var.receiver_concurrency >= 1 && var.receiver_concurrency <= 1000
    error_message = "receiver_concurrency must be between 1 and 1000."
  }
}

variable "receiver_memory" {
  description = "Memory of a receiver instance (one vCPU each)."
  type        = string
  default     = "512Mi"

  validation {
    condition     = can(regex("^[0-9]+(Mi|Gi)$", var.receiver_memory))
    error_message = "receiver_memory must be like 512Mi or 1Gi."
  }
}

variable "receiver_timeout_seconds" {
  description = "Request timeout of the receiver. A delivery takes milliseconds; the bound only cuts off a stuck one."
  type        = number
  default     = 60

  validation {
    condition     = var.receiver_timeout_seconds >= 10 && var.receiver_timeout_seconds <= 300
    error_message = "receiver_timeout_seconds must be between 10 and 300."
  }
}

variable "materializer_max_instances" {
  description = "Upper bound on materializer instances: the cost guard, and a cap on parallel calls to the Gemini API."
  type        = number
  default     = 5

  validation {
    condition     = var.materializer_max_instances >= 1 && var.materializer_max_instances <= 1000
    error_message = "materializer_max_instances must be between 1 and 1000."
  }
}

variable "materializer_concurrency" {
  description = "Concurrent pushes per materializer instance; each upload in flight holds one upload chunk in memory."
  type        = number
  default     = 4

  validation {
    condition     = var.materializer_concurrency >= 1 && var.materializer_concurrency <= 100
    error_message = "materializer_concurrency must be between 1 and 100."
  }
}

variable "materializer_memory" {
  description = "Memory of a materializer instance (one vCPU each)."
  type        = string
  default     = "1Gi"

  validation {
    condition     = can(regex("^[0-9]+(Mi|Gi)$", var.materializer_memory))
    error_message = "materializer_memory must be like 512Mi or 1Gi."
  }
}

variable "materializer_timeout_seconds" {
  description = "Request timeout of the materializer; also the push subscription's ack deadline, so Pub/Sub never redelivers a message that is still being worked on."
  type        = number
  default     = 540

  validation {
    # 600 s is Pub/Sub's longest ack deadline.
    condition     = var.materializer_timeout_seconds >= 10 && var.materializer_timeout_seconds <= 600
    error_message = "materializer_timeout_seconds must be between 10 and 600 (Pub/Sub's maximum ack deadline)."
  }
}

# --- Verification and de-duplication ---------------------------------------

variable "webhook_jwt_audience" {
  description = "Required aud claim of per-request (JWT) webhooks; empty accepts any. Pin it once the first delivery has logged the value."
  type        = string
  default     = ""
}

variable "webhook_jwt_issuer" {
  description = "Required iss claim of per-request (JWT) webhooks; empty accepts any."
  type        = string
  default     = ""
}

variable "webhook_capture_limit" {
  description = "WEBHOOK_CAPTURE_LIMIT: how many verified deliveries the receiver stores, with its verdict, under captures/ in the results bucket (geminihooks captures pull turns them into test fixtures). 0 is off; 50 suits a first deployment. Above 0, the receiver may create and read objects under captures/ only."
  type        = number
  default     = 0

  validation {
    condition     = var.webhook_capture_limit >= 0 && var.webhook_capture_limit <= 1000 && floor(var.webhook_capture_limit) == var.webhook_capture_limit
    error_message = "webhook_capture_limit must be a whole number from 0 (off) to 1000."
  }
}

variable "idempotency_collection" {
  description = "Firestore collection of the delivery ledger; the TTL policy is placed on it."
  type        = string
  default     = "webhook_deliveries"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,100}$", var.idempotency_collection))
    error_message = "idempotency_collection must be a top-level collection id."
  }
}

variable "idempotency_ttl" {
  description = "How long a webhook-id is remembered, in hours (\"168h\"). It must outlast Gemini's 24-hour retry window."
  type        = string
  default     = "168h"

  validation {
    condition     = can(regex("^[0-9]+h$", var.idempotency_ttl)) && try(tonumber(trimsuffix(var.idempotency_ttl, "h")) >= 25, false)
    error_message = "idempotency_ttl must be whole hours, at least 25h (for example 168h)."
  }
}

variable "jobs_collection" {
  description = "Firestore collection of the job registry (pkg/registry); its TTL policy and the reconciler's index are placed on it."
  type        = string
  default     = "jobs"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,100}$", var.jobs_collection))
    error_message = "jobs_collection must be a top-level collection id."
  }
}

variable "jobs_ttl" {
  description = "How long a job record is kept after its last write, in hours (\"336h\"). At least 72h: a batch may run 48 hours before Gemini expires it."
  type        = string
  default     = "336h"

  validation {
    condition     = can(regex("^[0-9]+h$", var.jobs_ttl)) && try(tonumber(trimsuffix(var.jobs_ttl, "h")) >= 72, false)
    error_message = "jobs_ttl must be whole hours, at least 72h (for example 336h)."
  }
}

variable "receiver_settings" {
  description = "Receiver tuning; each attribute is the environment variable of the same name in the README's configuration table."
  type = object({
    secret_cache_ttl        = optional(string, "5m")
    secret_refresh_interval = optional(string, "30s")
    jwks_url                = optional(string, "https://generativelanguage.googleapis.com/.well-known/jwks.json")
    jwks_refresh_interval   = optional(string, "30s")
    jwt_leeway              = optional(string, "30s")
    timestamp_tolerance     = optional(string, "5m")
    max_body_bytes          = optional(number, 1048576)
    idempotency_lease       = optional(string, "30s")
    publish_timeout         = optional(string, "5s")
    ledger_timeout          = optional(string, "2s")
    pubsub_ordering         = optional(bool, true)
  })
  default = {}

  validation {
    condition = alltrue([
      for d in [
        var.receiver_settings.secret_cache_ttl,
        var.receiver_settings.secret_refresh_interval,
        var.receiver_settings.jwks_refresh_interval,
        var.receiver_settings.jwt_leeway,
        var.receiver_settings.timestamp_tolerance,
        var.receiver_settings.idempotency_lease,
        var.receiver_settings.publish_timeout,
        var.receiver_settings.ledger_timeout,
      ] : can(regex("^([0-9]+(ms|s|m|h))+$", d))
    ])
    error_message = "receiver_settings durations must be Go durations such as 30s, 5m or 1h30m."
  }

  validation {
    condition     = startswith(var.receiver_settings.jwks_url, "https://")
    error_message = "receiver_settings.jwks_url must be an https URL."
  }
}

# --- Materialization -------------------------------------------------------

variable "gemini_api_key_version" {
  description = "Version of the Gemini API key secret the materializer and the reconciler read at instance start: \"latest\" or a version number."
  type        = string
  default     = "latest"

  validation {
    condition     = can(regex("^(latest|[1-9][0-9]*)$", var.gemini_api_key_version))
    error_message = "gemini_api_key_version must be \"latest\" or a version number."
  }
}

variable "materializer_settings" {
  description = "Materializer tuning; each attribute is the environment variable of the same name in the README's configuration table."
  type = object({
    gemini_base_url   = optional(string, "https://generativelanguage.googleapis.com")
    download_hosts    = optional(list(string), []) # empty: the code's default list
    results_prefix    = optional(string, "gemini")
    upload_chunk_size = optional(number, 8388608)
    fetch_timeout     = optional(string, "30s")
    pubsub_ordering   = optional(bool, true)
  })
  default = {}

  validation {
    condition     = var.materializer_settings.upload_chunk_size >= 262144 && var.materializer_settings.upload_chunk_size % 262144 == 0
    error_message = "materializer_settings.upload_chunk_size must be a positive multiple of 262144 (256 KiB)."
  }

  validation {
    condition     = can(regex("^([0-9]+(ms|s|m|h))+$", var.materializer_settings.fetch_timeout))
    error_message = "materializer_settings.fetch_timeout must be a Go duration such as 30s."
  }
}

# --- Reconciliation --------------------------------------------------------

variable "reconcile_schedule" {
  description = "When Cloud Scheduler runs a reconcile pass (cron syntax, UTC). Every 10 minutes by default: a lost webhook is found within one interval after its grace period."
  type        = string
  default     = "*/10 * * * *"

  validation {
    condition     = length(split(" ", trimspace(var.reconcile_schedule))) == 5
    error_message = "reconcile_schedule must be a five-field cron expression such as */10 * * * *."
  }
}

variable "reconciler_timeout_seconds" {
  description = "Request timeout of the reconciler, and Cloud Scheduler's attempt deadline; it must exceed reconciler_settings.timeout."
  type        = number
  default     = 300

  validation {
    condition     = var.reconciler_timeout_seconds >= 60 && var.reconciler_timeout_seconds <= 1800
    error_message = "reconciler_timeout_seconds must be between 60 and 1800 (Cloud Scheduler's longest attempt deadline)."
  }
}

variable "reconciler_settings" {
  description = "Reconciler tuning; each attribute is the RECONCILE_* (or GEMINI_FETCH_TIMEOUT) environment variable of the same name in the README's configuration table."
  type = object({
    look_back         = optional(string, "72h")
    page_size         = optional(number, 100)
    max_pages         = optional(number, 10)
    max_calls         = optional(number, 200)
    grace             = optional(string, "15m")
    recheck_min       = optional(string, "10m")
    recheck_max       = optional(string, "6h")
    timeout           = optional(string, "2m")
    reenable_webhooks = optional(bool, false)
    fetch_timeout     = optional(string, "30s")
  })
  default = {}

  validation {
    condition = alltrue([
      for d in [
        var.reconciler_settings.look_back,
        var.reconciler_settings.grace,
        var.reconciler_settings.recheck_min,
        var.reconciler_settings.recheck_max,
        var.reconciler_settings.timeout,
        var.reconciler_settings.fetch_timeout,
      ] : can(regex("^([0-9]+(ms|s|m|h))+$", d))
    ])
    error_message = "reconciler_settings durations must be Go durations such as 15m or 72h."
  }

  validation {
    condition     = var.reconciler_settings.max_calls >= var.reconciler_settings.max_pages + 2 && var.reconciler_settings.page_size >= 1 && var.reconciler_settings.max_pages >= 1
    error_message = "reconciler_settings.max_calls must exceed max_pages by at least 2 (the webhook listing and one job poll); page_size and max_pages must be positive."
  }
}

# --- Firestore -------------------------------------------------------------

variable "firestore_database" {
  description = "Firestore (native mode) database holding the delivery ledger."
  type        = string
  default     = "(default)"
}

variable "create_firestore_database" {
  description = "Create firestore_database. Leave false when the project already has it (a project has at most one (default) database)."
  type        = bool
  default     = false
}

variable "firestore_location" {
  description = "Location of the Firestore database when create_firestore_database is true (for example nam5 or us-central1)."
  type        = string
  default     = "nam5"
}

# --- Pub/Sub ---------------------------------------------------------------

variable "topic_message_retention" {
  description = "How long the events and results topics keep messages, so a new or reset subscription can replay them (seconds, \"604800s\")."
  type        = string
  default     = "604800s"

  validation {
    condition     = can(regex("^[0-9]+s$", var.topic_message_retention)) && try(tonumber(trimsuffix(var.topic_message_retention, "s")) >= 600 && tonumber(trimsuffix(var.topic_message_retention, "s")) <= 2678400, false)
    error_message = "topic_message_retention must be between 600s and 2678400s (31 days)."
  }
}

variable "subscription_message_retention" {
  description = "How long the push subscription keeps unacknowledged messages (seconds)."
  type        = string
  default     = "604800s"

  validation {
    condition     = can(regex("^[0-9]+s$", var.subscription_message_retention)) && try(tonumber(trimsuffix(var.subscription_message_retention, "s")) >= 600 && tonumber(trimsuffix(var.subscription_message_retention, "s")) <= 2678400, false)
    error_message = "subscription_message_retention must be between 600s and 2678400s (31 days)."
  }
}

variable "dead_letter_retention" {
  description = "How long the dead-letter subscription keeps messages for inspection and replay (seconds; the maximum, 31 days, by default)."
  type        = string
  default     = "2678400s"

  validation {
    condition     = can(regex("^[0-9]+s$", var.dead_letter_retention)) && try(tonumber(trimsuffix(var.dead_letter_retention, "s")) >= 600 && tonumber(trimsuffix(var.dead_letter_retention, "s")) <= 2678400, false)
    error_message = "dead_letter_retention must be between 600s and 2678400s (31 days)."
  }
}

variable "max_delivery_attempts" {
  description = "Push deliveries of one event before it is moved to the dead-letter topic."
  type        = number
  default     = 10

  validation {
    condition     = var.max_delivery_attempts >= 5 && var.max_delivery_attempts <= 100
    error_message = "max_delivery_attempts must be between 5 and 100 (Pub/Sub's limits)."
  }
}

variable "push_retry_backoff" {
  description = "Exponential backoff between push redeliveries (Pub/Sub allows 0s to 600s)."
  type = object({
    minimum = optional(string, "10s")
    maximum = optional(string, "600s")
  })
  default = {}

  validation {
    condition = alltrue([
      for d in [var.push_retry_backoff.minimum, var.push_retry_backoff.maximum] :
      can(regex("^[0-9]+s$", d)) && try(tonumber(trimsuffix(d, "s")) <= 600, false)
    ])
    error_message = "push_retry_backoff values must be whole seconds between 0s and 600s."
  }

  validation {
    condition     = try(tonumber(trimsuffix(var.push_retry_backoff.minimum, "s")) <= tonumber(trimsuffix(var.push_retry_backoff.maximum, "s")), false)
    error_message = "push_retry_backoff.minimum must not exceed push_retry_backoff.maximum."
  }
}

# --- Storage ---------------------------------------------------------------

variable "bucket_location" {
  description = "Location of the results and source buckets; null places them in var.region, next to the functions."
  type        = string
  default     = null
}

variable "results_lifecycle" {
  description = "Lifecycle of result objects in days since creation; null leaves a rule out. Results are written once and never updated."
  type = object({
    nearline_after_days = optional(number)
    coldline_after_days = optional(number)
    delete_after_days   = optional(number)
  })
  default = {}

  validation {
    condition = alltrue([
      for d in [var.results_lifecycle.nearline_after_days, var.results_lifecycle.coldline_after_days, var.results_lifecycle.delete_after_days] :
      d == null ? true : d >= 1
    ])
    error_message = "results_lifecycle days must be at least 1."
  }
}

variable "image_retention_count" {
  description = "Function images kept in Artifact Registry per function; older ones are deleted after 30 days."
  type        = number
  default     = 5

  validation {
    condition     = var.image_retention_count >= 1
    error_message = "image_retention_count must be at least 1."
  }
}

# --- Monitoring ------------------------------------------------------------

variable "notification_channels" {
  description = "Cloud Monitoring notification channel ids (projects/P/notificationChannels/N) that alerts go to; empty records incidents without notifying."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.notification_channels : can(regex("^projects/[^/]+/notificationChannels/[^/]+$", c))])
    error_message = "notification_channels must be full ids: projects/PROJECT/notificationChannels/ID."
  }
}

variable "oldest_unacked_age_threshold_seconds" {
  description = "Alert when the push subscription's oldest unacknowledged event is older than this."
  type        = number
  default     = 1800
}

variable "receiver_5xx_rate_threshold" {
  description = "Alert when the receiver answers more 5xx per second than this over 5 minutes (503 is also how it asks Gemini to retry, so a trickle is normal)."
  type        = number
  default     = 0.1
}

# --- Downstream consumers --------------------------------------------------

variable "example_consumer" {
  description = "An example pull subscription to the results topic for a consumer such as examples/subscriber (<name_prefix>-results-consumer): exactly-once delivery, the push_retry_backoff between redeliveries, and a dead-letter topic with a subscription holding what lands there. members (\"serviceAccount:…\") may pull it and read the results prefix of the results bucket. filter is a Pub/Sub filter on the attributes, e.g. attributes.kind = \"batch\" (it cannot be changed after creation). Off unless enabled."
  type = object({
    enabled               = optional(bool, false)
    filter                = optional(string, "")
    ack_deadline_seconds  = optional(number, 60)
    max_delivery_attempts = optional(number, 10)
    members               = optional(list(string), [])
  })
  default = {}

  validation {
    condition     = var.example_consumer.ack_deadline_seconds >= 10 && var.example_consumer.ack_deadline_seconds <= 600
    error_message = "example_consumer.ack_deadline_seconds must be between 10 and 600."
  }

  validation {
    condition     = var.example_consumer.max_delivery_attempts >= 5 && var.example_consumer.max_delivery_attempts <= 100
    error_message = "example_consumer.max_delivery_attempts must be between 5 and 100 (Pub/Sub's limits)."
  }

  validation {
    condition     = alltrue([for m in var.example_consumer.members : can(regex("^(serviceAccount|user|group|principal|principalSet):", m))])
    error_message = "example_consumer.members must be IAM members such as serviceAccount:consumer@my-project.iam.gserviceaccount.com."
  }
}

variable "audit_trail" {
  description = "An audit trail with no code: two BigQuery subscriptions write every message of the events and results topics, with their attributes and publish time (write_metadata), to one table, partitioned by publish day. dataset_id defaults to <name_prefix>_audit (hyphens become underscores), location to the bucket location; partition_expiration_days null keeps rows forever. Off unless enabled."
  type = object({
    enabled                   = optional(bool, false)
    dataset_id                = optional(string)
    table_id                  = optional(string, "events")
    location                  = optional(string)
    partition_expiration_days = optional(number)
  })
  default = {}

  validation {
    condition     = var.audit_trail.dataset_id == null || can(regex("^[A-Za-z0-9_]{1,1024}$", coalesce(var.audit_trail.dataset_id, "x")))
    error_message = "audit_trail.dataset_id must be letters, digits and underscores."
  }

  validation {
    condition     = can(regex("^[A-Za-z0-9_]{1,1024}$", var.audit_trail.table_id))
    error_message = "audit_trail.table_id must be letters, digits and underscores."
  }

  validation {
    condition     = var.audit_trail.partition_expiration_days == null || try(var.audit_trail.partition_expiration_days >= 1, false)
    error_message = "audit_trail.partition_expiration_days must be at least 1, or null to keep rows forever."
  }
}
