// Package testbin builds the API and worker binaries once per test process,
// from the working tree as it is, for the tests that run the real
// programs (e2e, faults). Import it only from _test files.
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

const module = "github.com/orderstream/orderstream"

var (
	once sync.Once
	dir  string
	err  error
)

// Build returns the paths of the API and worker binaries, building them on
// the first call of the process; it fails the test when the build fails.
func Build(t testing.TB) (api, worker string) {
	t.Helper()
	once.Do(func() {
		if dir, err = os.MkdirTemp("", "orderstream-bin-"); err != nil {
			return
		}
		for pkg, out := range map[string]string{module: "orderstream", module + "/worker": "orderstream-worker"} {
			if b, berr := exec.Command("go", "build", "-o", filepath.Join(dir, out), pkg).CombinedOutput(); berr != nil {
				err = fmt.Errorf("go build %s: %v\n%s", pkg, berr, b)
				return
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "orderstream"), filepath.Join(dir, "orderstream-worker")
}

// Cleanup removes the binaries; call it once the tests have run (from TestMain).
func Cleanup() {
	if dir != "" {
		os.RemoveAll(dir)
	}
}
