// Package geminisim simulates the parts of the Gemini Developer API that
// geminihooks talks to, for tests, the local runner and benchmarks.
//
// A [Server] is an http.Handler that answers, with the documented wire
// format and Google's error JSON (the Interactions API's own, string-code
// error JSON on interactions):
//
//   - GET /v1beta/batches/{id}: a batch (generation or embedding) as a
//     long-running Operation;
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
// Jobs live in memory. Tests create them (CreateBatch, CreateInteraction,
// CreateVideo), move them along (StartBatch, CompleteBatch, FailInteraction,
// ...) and get back the [event.Payload] that Gemini would deliver; a [Sender]
// delivers it the way Gemini does: Standard Webhooks HMAC signatures for
// project-level webhooks, an RS256 JWT for per-request ones, at-least-once
// with exponential backoff.
//
// Result files are never held in memory. A [ResultsFile] (batch JSONL) or a
// [VideoFile] describes deterministic content that is generated on the fly
// while it is streamed, so multi-GiB downloads run at memory speed, and
// [DigestOf] yields the checksums of exactly the bytes served, for comparing
// against a stored copy. Embedding batches are the exception: their
// results, bounded like inline ones, are built in memory.
//
// Fault knobs (FailNext, SetDelay, TruncateNext) and per-route request
// counters let tests exercise retries and partial downloads.
//
// Where the sources disagree about the wire format, the simulator supports
// each documented variant behind an option and says which one it defaults to.
package geminisim
