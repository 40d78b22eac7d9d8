// Package cleanup releases resources in the reverse order of their
// acquisition, the way a function's wiring needs when one of several clients
// fails to start.
package cleanup

import "errors"

// Stack holds release functions. The zero value is ready to use; it is not
// safe for concurrent use.
type Stack struct {
	fns []func() error
}

// Push adds a release function, to run before every function pushed earlier.
func (s *Stack) Push(release func() error) { s.fns = append(s.fns, release) }

// Close runs every function pushed, newest first, even when some fail, and
// joins their errors. It empties the stack, so a second Close does nothing.
func (s *Stack) Close() error {
	var errs []error
	for i := len(s.fns) - 1; i >= 0; i-- {
		errs = append(errs, s.fns[i]())
	}
	s.fns = nil
	return errors.Join(errs...)
}
