package procfs

import (
	"os"
	"testing"
)

func TestParseStat(t *testing.T) {
	// A command name with spaces and parentheses, as postgres backends have.
	stat := "4242 (postgres: postgres orderstream 127.0.0.1(5) idle) S 4200 4200 4200 0 -1 4194560 1200 0 0 0 " +
		"150 37 9 4 20 0 1 0 1234 215040000 3000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0"
	st, err := ParseStat(stat)
	if err != nil {
		t.Fatal(err)
	}
	want := Stat{State: 'S', PPID: 4200, UTime: 150, STime: 37, CUTime: 9, CSTime: 4}
	if st != want {
		t.Errorf("ParseStat = %+v, want %+v", st, want)
	}
	if _, err := ParseStat("12 (x) S 1"); err == nil {
		t.Error("ParseStat of a short line: no error")
	}
}

// TestChildren: this test process is among its parent's children, and has
// no child of its own.
func TestChildren(t *testing.T) {
	if _, ok := Children(os.Getppid())[os.Getpid()]; !ok {
		t.Errorf("Children(%d) does not hold this process (%d)", os.Getppid(), os.Getpid())
	}
	if c := Children(os.Getpid()); len(c) != 0 {
		t.Errorf("Children of this process: %v, want none", c)
	}
}
