// Package signature verifies the signatures on Gemini API webhook deliveries.
//
// Gemini signs deliveries in one of two ways, and a Verifier accepts both:
//
//   - Static (project-level) webhooks use Standard Webhooks "v1" signatures:
//     webhook-signature holds a space-separated list of "v1,<base64>" entries,
//     each an HMAC-SHA256 over "{webhook-id}.{webhook-timestamp}.{raw body}"
//     keyed with a "whsec_" secret. Several secrets can be active at once so
//     that a rotation needs no downtime; a signature from any of them is
//     accepted.
//   - Dynamic (per-request) webhooks carry a compact RS256 JWS in
//     webhook-signature. Its "kid" names a key in Gemini's JWKS, which a
//     KeySource resolves. The algorithm is fixed to RS256 and is checked
//     before any key is looked up, so a token can never choose how it is
//     verified.
//
// The signature is checked over the exact bytes received, so callers must pass
// the raw request body, read once, before any JSON decoding.
//
// Failures are *Error values with a stable Code and a Kind that tells the
// caller which HTTP status to answer: 400 for a malformed request, 401 for a
// bad or missing credential, and 503 when a dependency (Secret Manager, the
// JWKS host) failed and the sender should retry. Error messages name header
// fields, secret labels and key ids, but never a secret, a signature value or
// a token.
//
// For JWT deliveries the body is not covered by the signature (Gemini does not
// document a body-hash claim), and webhook-id and webhook-timestamp are
// optional, unsigned headers. Callers should act on Delivery.Claims, not on
// the body, for such deliveries.
//
// Verifier.Explain runs the same checks as Verify and reports how it got to
// its verdict (the secret labels tried, the clock skew, the JWT header and
// claims), for operators diagnosing rejected deliveries.
//
// The package also holds the signing side (SignHMAC, JWTSigner, and
// WebhookClaims for the claims of a per-request delivery), used by tests,
// the local Gemini simulator and the operator CLI.
package signature
