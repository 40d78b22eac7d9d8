// Package results reads what the materializer stored for a finished job:
// batch results line by line, a Deep Research report with its citations and
// the raw interaction, generated videos. It is the consumer's side of the
// results topic: a [Reader] opens a job from a results.stored event (or from
// a bucket and a job folder), and every byte it hands out is checked
// against the job's manifest.
//
//	r, err := results.New(store, bucket, results.Options{})  // store: blob.GCS, blob.Dir, ...
//	job, err := r.Open(ctx, ev)                              // ev: event.DecodeResults(msg.Data)
//	for line, err := range job.Lines(ctx) {
//		if err != nil { ... }                                // a bad line, or the object is corrupt
//		if line.Error != nil { failed++ } else { use(line.Key, line.Response) }
//	}
//
// # Integrity
//
// manifest.json lists every object of the job with its size and CRC32C.
// Opening a job from its event checks the manifest against the event's own
// listing of it; every object is then checked as it streams, by counting
// and hashing the bytes that pass. A stream that ends short, runs long or
// hashes differently ends with an error wrapping [ErrCorrupt] instead of
// io.EOF: at the latest on the last read, earlier when an object runs past
// its size. A consumer therefore never mistakes a truncated or altered object
// for a complete one, although it may have seen the lines before the damage
// (keep the effect of a job idempotent, or stage it, until the loop ends
// without an error).
//
// # Memory
//
// Lines streams: it holds one read buffer of 64 KiB and the current line,
// whatever the size of results.jsonl. A line may be at most
// [Options.MaxLineSize] bytes ([DefaultMaxLineSize], 16 MiB, unless set);
// a longer one ends the iteration with [ErrLineTooLong], since holding it
// would make memory depend on the data. Report, Citations and Interaction
// read a whole object of at most [MaxDocumentSize] bytes; use [Job.Open]
// to stream anything larger, such as a video.
//
// # Stores
//
// A Reader reads through an [Opener]: [blob.GCS] for a Cloud Storage bucket,
// [blob.Dir] for the local runner's data directory (the bucket's objects as
// plain files), [blob.Memory] in tests.
package results
