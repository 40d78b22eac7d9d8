// Package gemini is the client that geminihooks uses to re-fetch finished
// jobs from the Gemini Developer API and to stream their results.
//
// A webhook only says that a job changed; its pointers are never trusted.
// The materializer names the job, and this package fetches the truth:
//
//   - [Client.GetBatch]: a batch job (generation or embedding), with its
//     state, request counts and results (a responses file, or inlined
//     responses already converted to JSONL lines);
//   - [Client.GetInteraction]: an Interactions API resource (a Deep Research
//     run), parsed for the report renderer and kept verbatim in
//     [Interaction.Raw];
//   - [Client.GetVideoOperation]: a Veo video generation operation and the
//     download URIs of its videos;
//   - [Client.Download]: a file's bytes as a stream that survives truncated
//     responses by resuming with HTTP Range requests.
//
// Identifiers coming from webhooks are validated strictly ([BatchName],
// [InteractionID], [OperationName], [SplitOperation], [FileName]) before any
// request is made; bare ids, resource names and the resource's URL on the
// API are all accepted.
// The API key goes to the configured base URL only. Downloads may be
// redirected to, or point at, an allow-list of download hosts
// ([Options].DownloadHosts), which get no key; any other host is refused.
//
// Errors are classified for the caller, which acknowledges permanent
// failures and retries transient ones: see [IsTransient] and [APIError],
// which reads both Google's error JSON (a numeric code and a status) and the
// Interactions API's (a string code).
// The API key is sent in the x-goog-api-key header only, and never appears
// in an error.
package gemini
