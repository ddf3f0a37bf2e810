// Package closer is the stack of closers a main collects while it opens
// its dependencies (the Main.Run/Close shape of server.go and worker/):
// each step adds what closes what it opened, Close runs them newest first.
package closer

// Stack closes what was opened, newest first. The zero value is ready.
type Stack struct{ fns []func() error }

// Add pushes f; Close calls it before anything added earlier.
func (s *Stack) Add(f func() error) { s.fns = append(s.fns, f) }

// Close calls every closer, newest first, once, and returns the first error.
func (s *Stack) Close() error {
	var first error
	for i := len(s.fns) - 1; i >= 0; i-- {
		if err := s.fns[i](); err != nil && first == nil {
			first = err
		}
	}
	s.fns = nil
	return first
}
