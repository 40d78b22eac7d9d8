package testenv

import (
	"context"
	"sync"
)

// WaitingContexts returns n contexts derived from parent and a channel that
// is closed once every one of them has been waited on. A caller that blocks
// until its work or its context is done calls the context's Done, so when
// the work is held back (a gated fake server, say), the channel closing
// proves that all n callers are blocked at once: a test that lets callers
// pile up behind a shared operation waits for it instead of sleeping.
func WaitingContexts(parent context.Context, n int) ([]context.Context, <-chan struct{}) {
	var wg sync.WaitGroup
	wg.Add(n)
	ctxs := make([]context.Context, n)
	for i := range ctxs {
		ctxs[i] = &waitingContext{Context: parent, waited: &wg}
	}
	all := make(chan struct{})
	go func() {
		wg.Wait()
		close(all)
	}()
	return ctxs, all
}

// waitingContext reports the first call to Done.
type waitingContext struct {
	context.Context
	once   sync.Once
	waited *sync.WaitGroup
}

func (c *waitingContext) Done() <-chan struct{} {
	c.once.Do(c.waited.Done)
	return c.Context.Done()
}
