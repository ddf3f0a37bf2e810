package closer

import (
	"errors"
	"slices"
	"testing"
)

func TestStack(t *testing.T) {
	var s Stack
	var order []int
	first, second := errors.New("first"), errors.New("second")
	s.Add(func() error { order = append(order, 1); return second })
	s.Add(func() error { order = append(order, 2); return first })
	s.Add(func() error { order = append(order, 3); return nil })
	if err := s.Close(); err != first || !slices.Equal(order, []int{3, 2, 1}) {
		t.Errorf("Close: %v, order %v; want the newest error, 3 2 1", err, order)
	}
	if err := s.Close(); err != nil || len(order) != 3 {
		t.Errorf("second Close: %v, order %v; want nothing run again", err, order)
	}
}
