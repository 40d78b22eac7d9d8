// Package idempotency records webhook deliveries so that the sender's
// at-least-once retries have exactly-once effects.
//
// Gemini retries a delivery for up to 24 hours until it gets a 2xx answer,
// and every retry carries the same webhook-id. A receiver therefore claims
// the id before acting on it and records the result afterwards:
//
//	c, err := ledger.Claim(ctx, key)         // error: answer 503
//	switch c.Outcome {
//	case idempotency.Duplicate:              // already published: answer 200
//	case idempotency.InFlight:               // another process holds it: answer 503
//	case idempotency.Claimed:                // ours: publish, then
//		ledger.MarkPublished(ctx, c, id)     // or ledger.Release(ctx, c) on failure
//	}
//
// # Keys
//
// A key is what one effect is claimed on. The receiver claims a terminal
// event (the end of a job, which happens once) on JobKey of its job, so the
// same finished job delivered under two webhook-ids, or found by the
// reconciler, is published once; it claims any other event on its
// webhook-id, which Gemini keeps across retries.
//
// # Records
//
// Each key owns one record (a Firestore document whose id is DocID of
// the key) in one of two states:
//
//   - "received": a process claimed the id and holds a lease until
//     lease_expires_at. Claims during the lease get InFlight, so the sender
//     retries later. After the lease the holder is presumed dead (it crashed
//     before publishing) and the next claim takes the record over: it
//     renews the lease, increments attempts and gets Claimed with Takeover
//     set. Takeover is a conditional write on the record's last update time,
//     so of several concurrent takers exactly one wins and the rest see
//     InFlight.
//   - "published": the event was published (message_id, published_at); every
//     later claim gets Duplicate.
//
// The first claim creates the record with a create-if-absent write, which is
// atomic on its own. A read-then-write transaction would also be correct, but
// it serialises contending requests on a document lock and collapses under a
// burst of retries.
//
// Release deletes a claim whose publish failed, so the sender's next retry
// can claim at once instead of waiting out the lease. It is conditional on
// the record being exactly as the claim left it, so it never removes a newer
// claim made by another process after a takeover.
//
// # Expiry
//
// Every record carries ExpiryField (expire_at), TTL after it was written
// (default 7 days). A Firestore TTL policy on that field deletes old records;
// the Terraform configuration must name the same field. The TTL must exceed
// the sender's 24-hour retry window, otherwise a late retry would find no
// record and publish the event a second time.
//
// # Implementations
//
// Firestore is the production ledger. Memory keeps records in process
// memory with the same semantics, for tests and local runs; it cannot dedupe
// across instances.
//
// Both leave one gap that no ledger can close: a process that publishes and
// then dies before MarkPublished leaves a "received" record, and the takeover
// after the lease publishes again. Consumers of the published events should
// therefore still tolerate a rare duplicate (by webhook-id).
package idempotency
