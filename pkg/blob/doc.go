// Package blob stores finished jobs' results as write-once objects.
//
// A result is written exactly once under a name that the caller derives from
// the job: the first [Store.Create] for a name streams the content into a new
// object; every later Create for that name (a webhook redelivery, a retry
// after a crash, a concurrent worker) leaves the object untouched and returns
// its attributes with [Object.Created] false. Readers therefore never observe
// a partial or rewritten object, and a redelivery can call [Store.Stat] first
// to skip downloading gigabytes that are already stored.
//
// Three implementations share one contract:
//
//   - [GCS] writes to a Cloud Storage bucket with a resumable upload and a
//     does-not-exist precondition; memory stays at one upload chunk plus a
//     small read-ahead that keeps the source flowing while a chunk is sent.
//   - [Dir] writes plain files under a local directory, for the local runner.
//   - [Memory] keeps objects in a map, for unit tests.
//
// Every implementation returns the size, CRC32C (Castagnoli) and MD5 of what
// was stored without reading it back. GCS has the storage client compute the
// CRC32C while it streams, which the service checks before it commits, and
// reports the service's checksums; Dir and Memory compute theirs while
// streaming, SHA-256 included.
//
// Object names are slash-separated relative paths; [ValidateName] lists the
// rules, which are the same for every implementation so that a name accepted
// in tests is accepted in production.
package blob
