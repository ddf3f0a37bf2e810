package postgres

// QueuedCreates is how many creates wait in the combiner for a batch (tests).
func (s *Store) QueuedCreates() int {
	if s.creates == nil {
		return 0
	}
	s.creates.mu.Lock()
	defer s.creates.mu.Unlock()
	return len(s.creates.pending)
}
