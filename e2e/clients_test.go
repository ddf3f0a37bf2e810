package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
)

// clientsDir is the npm project of the real-client tests.
const clientsDir = "../clients"

// nodeTest runs `node --test file` in clients/ with env added. Without
// clients/node_modules (`make clients` installs it) the test is skipped,
// except in CI (CI=true), where it fails.
func nodeTest(t *testing.T, file string, env ...string) {
	t.Helper()
	dir, err := filepath.Abs(clientsDir)
	if err != nil {
		t.Fatal(err)
	}
	need := func(what string) {
		t.Helper()
		msg := what + ": run `make clients` (npm ci in clients/ and Debian's chromium)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules")); err != nil {
		need("clients/node_modules is missing")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		need("node is not on PATH")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "--test-reporter=spec", file)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	t.Logf("node --test %s:\n%s", file, out)
	if err != nil {
		t.Fatalf("node --test %s: %v", file, err)
	}
}

// TestRealClients runs the real clients against the binaries with
// authentication on: Apollo Client (clients/apollo.test.mjs) and GraphiQL in
// headless Chromium (clients/graphiql.test.mjs).
func TestRealClients(t *testing.T) {
	user := uuid.NewString()
	tok := mint(t, e2eSecret, user, "", time.Hour)
	const origin = "http://app.example"
	e := newEnv(t, "AUTH_JWT_SECRET="+e2eSecret, "RATE_LIMIT_RPS=0", "CORS_ALLOWED_ORIGINS="+origin,
		"GRAPHIQL_DEMO_TOKEN="+tok)

	t.Run("Apollo", func(t *testing.T) {
		nodeTest(t, "apollo.test.mjs", "GRAPHQL_URL="+e.base+"/graphql", "TOKEN="+tok, "USER_ID="+user, "CORS_ORIGIN="+origin)
	})

	t.Run("GraphiQL", func(t *testing.T) {
		if _, err := os.Stat(chromiumPath()); err != nil && os.Getenv("CI") != "true" {
			t.Skipf("no Chromium at %s: run `make clients`", chromiumPath())
		}
		ext := "graphiql-" + uuid.NewString()[:8]
		r := e.as(tok).graphql(`mutation($in: CreateOrderInput!) { createOrder(input: $in) { order { status } } }`, map[string]any{
			"in": map[string]any{"externalId": ext, "userId": user, "items": []any{map[string]any{"name": "Product A", "quantity": 2, "price": "29.99"}}},
		})
		if r.code() != "" {
			t.Fatalf("create: %+v", r.Errors)
		}
		shot := filepath.Join(artifactDir(t), "graphiql.png")
		nodeTest(t, "graphiql.test.mjs", "BASE_URL="+e.base, "USER_ID="+user, "EXTERNAL_ID="+ext,
			"SCREENSHOT="+shot, "CHROMIUM="+chromiumPath())
		t.Logf("screenshot of GraphiQL with the result: %s", shot)
	})
}

// chromiumPath is Debian's chromium, or $CHROMIUM.
func chromiumPath() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

// artifactDir is where tests leave files for people to look at:
// $ARTIFACTS_DIR, or a directory under the system's temporary one that
// outlives the test.
func artifactDir(t *testing.T) string {
	dir := os.Getenv("ARTIFACTS_DIR")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "orderstream-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}
