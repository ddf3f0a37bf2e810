package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestPersistedQueries walks the automatic persisted query protocol as
// Apollo's PersistedQueryLink does, with authentication on: a hashed GET
// the server does not know is PERSISTED_QUERY_NOT_FOUND (code and message),
// the retry with the query stores it, and the hashed GET then answers.
func TestPersistedQueries(t *testing.T) {
	e := newEnv(t, "AUTH_JWT_SECRET="+e2eSecret, "RATE_LIMIT_RPS=0")
	user := uuid.NewString()
	tok := mint(t, e2eSecret, user, "", time.Hour)
	query := `query($userId: ID!) { orderByExternalId(externalId: "apq-none", userId: $userId) { id } }`
	sum := sha256.Sum256([]byte(query))
	hash := hex.EncodeToString(sum[:])
	ext := func(h string) string {
		return `{"persistedQuery":{"version":1,"sha256Hash":"` + h + `"}}`
	}
	vars := `{"userId":"` + user + `"}`
	hashedGET := func(h string) (int, gqlResult) {
		t.Helper()
		q := url.Values{"extensions": {ext(h)}, "variables": {vars}, "operationName": {""}}
		resp, body := get(t, e.base, "/graphql?"+q.Encode(), "Authorization", "Bearer "+tok)
		var r gqlResult
		if err := json.Unmarshal(body, &r); err != nil {
			t.Fatalf("decode %q: %v", body, err)
		}
		return resp.StatusCode, r
	}

	status, r := hashedGET(hash)
	if status != 200 || r.code() != "PERSISTED_QUERY_NOT_FOUND" || r.Errors[0].Message != "PersistedQueryNotFound" {
		t.Fatalf("unknown hash: %d %+v; want 200, PERSISTED_QUERY_NOT_FOUND with message PersistedQueryNotFound", status, r.Errors)
	}

	// The retry: the query with its hash (Apollo sends it as POST).
	body := `{"query":` + jsonString(query) + `,"variables":` + vars + `,"extensions":` + ext(hash) + `}`
	code, _, b := e.raw(http.MethodPost, "/graphql", tok, body)
	if code != 200 || !strings.Contains(string(b), `"orderByExternalId":null`) {
		t.Fatalf("retry with the query: %d %s", code, b)
	}

	status, r = hashedGET(hash)
	if status != 200 || len(r.Errors) > 0 || string(r.Data["orderByExternalId"]) != "null" {
		t.Fatalf("known hash: %d %+v %s; want the answer", status, r.Errors, r.Data["orderByExternalId"])
	}

	// A query whose hash does not match is refused with a code.
	bad := `{"query":` + jsonString(query) + `,"variables":` + vars + `,"extensions":` + ext(strings.Repeat("0", 64)) + `}`
	if _, _, b := e.raw(http.MethodPost, "/graphql", tok, bad); !strings.Contains(string(b), `"code"`) {
		t.Errorf("mismatched hash: %s; want an error with extensions.code", b)
	}

	// Without a token, a hashed GET is 401 like any other request.
	q := url.Values{"extensions": {ext(hash)}, "variables": {vars}}
	if resp, _ := get(t, e.base, "/graphql?"+q.Encode()); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("hashed GET without a token: %d; want 401", resp.StatusCode)
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
