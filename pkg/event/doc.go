// Package event turns a Gemini API webhook delivery into the completion event
// that geminihooks publishes to Pub/Sub.
//
// The flow has two steps. [FromDelivery] picks the event of a verified
// delivery: the JWT claims of a per-request webhook when they carry it
// ([FromClaims]), with a body that contradicts them refused, else the body.
// [Parse] reads Gemini's "thin payload" envelope into a [Notification]; the
// Type constants and the catalog name the event types it recognizes, and
// [Payload] is the same envelope for sending deliveries. [Normalize] then
// turns a Notification into an [Event]: a CloudEvents 1.0 structured-mode
// JSON document whose data follows the versioned schema in [Schema]
// (schema/completion-event.v1.json). Consumers read published events back
// with [Decode].
//
// Gemini's webhook payloads are documented loosely and the sources disagree
// (event names, field names, id formats, where user_metadata sits). Parsing is
// therefore lenient about every variant seen in the documentation, and strict
// about everything that would make the event unsafe to route or store: a
// malformed payload yields an [*Error] that the receiver answers with a 400.
// Unknown event types are not errors; they are published with kind "unknown"
// and their data kept verbatim so that nothing Gemini sends is lost. Each
// assumption about what Gemini leaves undocumented is tagged as such in a
// comment where it is handled, and testdata/captures holds real deliveries
// that pin them.
//
// The package also defines the second event of the pipeline: [Results],
// which the materializer publishes once it has stored a job's artifacts in
// Cloud Storage ([NewResultsStored]) or given up ([NewResultsFailed]). Its
// schema is [ResultsSchema] (schema/results-event.v1.json), and subscribers
// read it with [DecodeResults].
package event
