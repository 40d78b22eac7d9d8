// Package geminisim simulates the parts of the Gemini Developer API that
// geminihooks talks to, for tests, the local runner and benchmarks.
//
// A [Server] is an http.Handler that answers, with the documented wire
// format and Google's error JSON (the Interactions API's own, string-code
// error JSON on interactions):
//
//   - GET /v1beta/batches: the project's batches, newest first, as a
//     ListOperationsResponse (operations, nextPageToken), pageSize bounded
//     by [DefaultBatchPageSize] and [MaxBatchPageSize];
//   - GET /v1beta/batches/{id}: a batch (generation or embedding) as a
//     long-running Operation;
//   - POST /v1beta/models/{model}:batchGenerateContent: creates a batch
//     from an uploaded JSONL file (inputConfig.fileName) or inline
//     requests, with an optional per-request webhookConfig {uris,
//     userMetadata};
//   - POST /v1beta/interactions: creates an interaction (a model or a Deep
//     Research agent) with an optional webhook_config {uris, user_metadata},
//     which requires background=true;
//   - POST /v1beta/models/{model}:predictLongRunning: starts a Veo video
//     generation, with an optional top-level webhookConfig;
//   - POST /upload/v1beta/files: the Files API's resumable upload, as the
//     Go SDK's Files.Upload performs it;
//   - GET /v1beta/files/{id} and the two download forms,
//     /download/v1beta/files/{id}:download?alt=media (the documented one) and
//     /v1beta/files/{id}:download?alt=media (the Go SDK's), which redirect
//     to a signed URL on a second listener, the download host (see
//     [Server.DownloadHandler]), as the real API redirects to a Google
//     storage host; the download host refuses requests that carry the API
//     key;
//   - GET /v1beta/interactions/{id}: an Interactions API resource (Deep
//     Research or a model interaction);
//   - GET /v1beta/models/{model}/operations/{op}: a Veo video generation
//     operation (the only documented path of one);
//   - GET /.well-known/jwks.json: the public keys that sign per-request
//     webhooks;
//   - the WebhookService: POST and GET /v1beta/webhooks, GET, PATCH and
//     DELETE /v1beta/webhooks/{id}, POST /v1beta/webhooks/{id}:ping (which
//     delivers a signed ping to the webhook) and
//     /v1beta/webhooks/{id}:rotateSigningSecret.
//
// The creation routes accept a small set of models ([KnownModels]) and
// refuse the rest with the API's 404; webhook URIs must be https, or http
// on a loopback host.
//
// Jobs live in memory. Tests create them over REST or with Go methods
// (CreateBatch, CreateInteraction, CreateVideo), move them along
// (StartBatch, CompleteBatch, FailInteraction, ...) and get back the
// [event.Payload] that Gemini delivers. Jobs created over REST can also
// finish on their own ([Options].CompleteAfter). Whenever a job ends (or an
// interaction requires action), the Server delivers the notification
// itself, as Gemini does: to the URIs of the job's webhook config, signed
// with an RS256 JWT from its keyring, or else to every enabled registered
// webhook subscribed to the event, signed with Standard Webhooks HMAC
// secrets; at least once, retrying with [Options].Retry. [Server.Deliveries]
// lists what was delivered and [Server.WaitIdle] waits for the work in
// flight. A [Sender] makes such deliveries by hand.
//
// Result files are never held in memory. A [ResultsFile] (batch JSONL) or a
// [VideoFile] describes deterministic content that is generated on the fly
// while it is streamed, so multi-GiB downloads run at memory speed, and
// [DigestOf] yields the checksums of exactly the bytes served, for comparing
// against a stored copy. Embedding batches, batches created over REST and
// uploaded files are the exception: their content, bounded like inline
// requests, is held in memory.
//
// Fault knobs let tests exercise retries, partial downloads and lost
// webhooks: FailNext and FailAfter (error answers), SetDelay, TruncateNext,
// per-route request counters, and for deliveries SetJobFault and
// SetWebhookFault (a notification dropped, or delivered twice under two
// webhook-ids) and Options.DisableAfterFailures (a webhook that keeps
// failing becomes disabled_due_to_failed_deliveries).
//
// Where the sources disagree about the wire format, the simulator supports
// each documented variant behind an option and says which one it defaults
// to; what no source documents is tagged "Undocumented:" where it is
// decided.
package geminisim
