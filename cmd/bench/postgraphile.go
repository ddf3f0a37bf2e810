package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/orderstream/orderstream/internal/devstack"
)

// PostGraphile 4 is the lookup baseline: a GraphQL server that generates
// its schema from the database, serving the same orders table and unique
// (external_id, user_id) index as OrderStream, in a Node.js process of its
// own. `make postgraphile` installs the version pinned in
// deploy/postgraphile/package.json.

const (
	postGraphileStart = time.Minute
	postGraphileStop  = 10 * time.Second
)

// postGraphileLookupQuery asks PostGraphile for what lookupQuery asks
// OrderStream, with the GraphQL types PostGraphile gives the two columns
// (the condition's externalId and userId: see conditionTypes). The unique
// index is not a constraint, so PostGraphile has no
// orderByExternalIdAndUserId; the condition argument makes the same
// WHERE external_id = $1 AND user_id = $2 over the same index.
func postGraphileLookupQuery(externalIDType, userIDType string) string {
	return `query($e: ` + externalIDType + `!, $u: ` + userIDType + `!) { allOrders(condition: {externalId: $e, userId: $u}, first: 1) { nodes { id externalId status eventId total items createdAt } } }`
}

// conditionTypesQuery reads the types of the fields of PostGraphile's
// OrderCondition input. A column of a domain type gets a scalar of its own
// (external_id, of domain order_external_id since migration 000010, is
// OrderExternalId, not String), and a variable must be declared with it.
const conditionTypesQuery = `{ __type(name: "OrderCondition") { inputFields { name type { name } } } }`

// conditionTypes asks PostGraphile at url for the GraphQL types of the
// externalId and userId fields of OrderCondition.
func conditionTypes(ctx context.Context, client *http.Client, url string) (externalID, userID string, err error) {
	var data struct {
		Type *struct {
			InputFields []struct {
				Name string `json:"name"`
				Type struct {
					Name string `json:"name"`
				} `json:"type"`
			} `json:"inputFields"`
		} `json:"__type"`
	}
	if code := postGraphQL(ctx, client, url, conditionTypesQuery, nil, &data); code != "" {
		return "", "", fmt.Errorf("introspect PostGraphile's OrderCondition: %s", code)
	}
	if data.Type == nil {
		return "", "", errors.New("PostGraphile has no OrderCondition input type")
	}
	for _, f := range data.Type.InputFields {
		switch f.Name {
		case "externalId":
			externalID = f.Type.Name
		case "userId":
			userID = f.Type.Name
		}
	}
	if externalID == "" || userID == "" {
		return "", "", fmt.Errorf("PostGraphile's OrderCondition lacks a named type for externalId (%q) or userId (%q)", externalID, userID)
	}
	return externalID, userID, nil
}

// postGraphile is a running PostGraphile server.
type postGraphile struct {
	proc  *devstack.Process
	url   string // its GraphQL endpoint
	query string // the lookup, with the types of its schema
}

// startPostGraphile starts PostGraphile from dir (deploy/postgraphile, with
// its node_modules) over dbURL and waits until it answers a query.
func startPostGraphile(ctx context.Context, dir, dbURL string) (*postGraphile, error) {
	cli := filepath.Join(dir, "node_modules", "postgraphile", "cli.js")
	if _, err := os.Stat(cli); err != nil {
		return nil, fmt.Errorf("PostGraphile is not installed in %s: run `make postgraphile` (or leave %s out of -phases)", dir, selPostGraphile)
	}
	port, err := devstack.FreePort()
	if err != nil {
		return nil, err
	}
	// One Node.js process, its defaults, plus what its documentation
	// recommends for production: dynamic JSON, no query log, no mutations
	// (the baseline reads only).
	cmd := exec.Command("node", cli, "--connection", dbURL, "--schema", "public",
		"--host", "127.0.0.1", "--port", strconv.Itoa(port),
		"--dynamic-json", "--disable-query-log", "--disable-default-mutations")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	proc, err := devstack.StartProcess(cmd, syscall.SIGTERM)
	if err != nil {
		return nil, fmt.Errorf("start PostGraphile: %w", err)
	}
	pg := &postGraphile{proc: proc, url: fmt.Sprintf("http://127.0.0.1:%d/graphql", port)}
	wctx, cancel := context.WithTimeout(ctx, postGraphileStart)
	defer cancel()
	client := &http.Client{Timeout: 5 * time.Second}
	body, _ := json.Marshal(map[string]any{"query": "{ __typename }"})
	for {
		resp, err := client.Post(pg.url, "application/json", bytes.NewReader(body))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				ext, user, err := conditionTypes(wctx, client, pg.url)
				if err != nil {
					pg.stop()
					return nil, err
				}
				pg.query = postGraphileLookupQuery(ext, user)
				return pg, nil
			}
		}
		select {
		case <-proc.Done():
			return nil, fmt.Errorf("PostGraphile exited during start-up: %s", proc.ExitStatus())
		case <-wctx.Done():
			pg.stop()
			return nil, fmt.Errorf("PostGraphile did not answer on %s within %s (last error: %v)", pg.url, postGraphileStart, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (pg *postGraphile) stop() {
	if err := pg.proc.Stop(syscall.SIGTERM, postGraphileStop); err != nil {
		fmt.Fprintf(os.Stderr, "bench: stop PostGraphile: %v\n", err)
	}
}

// postGraphileLookup is graphqlLookup against PostGraphile: a random seeded
// order among the first n; success means the order was found.
func postGraphileLookup(url, query string, client *http.Client, n int, users []string) opFunc {
	return func(ctx context.Context, _ int, rng *rand.Rand) string {
		ext, user := seedKey(rng.IntN(n), users)
		var data struct {
			AllOrders struct {
				Nodes []struct {
					ExternalID string `json:"externalId"`
				} `json:"nodes"`
			} `json:"allOrders"`
		}
		if code := postGraphQL(ctx, client, url, query, map[string]any{"e": ext, "u": user}, &data); code != "" {
			return code
		}
		if len(data.AllOrders.Nodes) != 1 || data.AllOrders.Nodes[0].ExternalID != ext {
			return "NOT_FOUND"
		}
		return ""
	}
}

// postGraphileVersion is the installed PostGraphile's version, from its
// package.json.
func postGraphileVersion(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "node_modules", "postgraphile", "package.json"))
	var p struct {
		Version string `json:"version"`
	}
	if err != nil || json.Unmarshal(b, &p) != nil || p.Version == "" {
		return "(version unknown)"
	}
	return p.Version
}

// nodeVersion is what `node --version` prints.
func nodeVersion(ctx context.Context) string {
	out, err := exec.CommandContext(ctx, "node", "--version").Output()
	if err != nil {
		return "(version unknown)"
	}
	return string(bytes.TrimSpace(out))
}
