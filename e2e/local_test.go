package e2e

import (
	"bufio"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestHostCheck: in development the API answers only requests whose Host
// is this machine or in ALLOWED_HOSTS (DNS rebinding: a page on a foreign
// name that resolves to 127.0.0.1); in production the reverse proxy checks
// Host, and the API does not.
func TestHostCheck(t *testing.T) {
	e := newInfra(t, "ALLOWED_HOSTS=orders.dev.internal")
	dev, _ := e.startAPI("api-dev")
	prod := newInfra(t, "APP_ENV=production")
	prodBase, _ := prod.startAPI("api-prod")
	status := func(base, host, path string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		base, host, path string
		want             int
	}{
		{dev, "127.0.0.1", "/graphql/schema.graphql", 200},
		{dev, "localhost:8080", "/graphql/schema.graphql", 200},
		{dev, "[::1]:8080", "/", 200},
		{dev, "orders.dev.internal:8080", "/graphql/schema.graphql", 200},
		{dev, "evil.example", "/graphql/schema.graphql", 403},
		{dev, "evil.example:8080", "/", 403},
		{dev, "192.168.1.20:8080", "/graphql?query={__typename}", 403},
		{prodBase, "evil.example", "/graphql/schema.graphql", 200},
	} {
		if got := status(tc.base, tc.host, tc.path); got != tc.want {
			t.Errorf("Host %s GET %s (%s): %d; want %d", tc.host, tc.path, tc.base, got, tc.want)
		}
	}
}

// TestEveryLogLineJSON: what net/http and the log package write for
// hostile input (TLS handshake bytes on the plain port, a malformed request
// line, a websocket upgrade from a foreign origin, which gqlgen logs with
// the log package) comes out as JSON lines, never plain text that echoes
// the attacker's bytes.
func TestEveryLogLineJSON(t *testing.T) {
	e := newInfra(t)
	base, api := e.startAPI("api")
	addr := strings.TrimPrefix(base, "http://")
	send := func(raw string) {
		t.Helper()
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Write([]byte(raw))
		bufio.NewReader(c).ReadString('\n') //nolint:errcheck // whatever it answers
	}
	send("\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03evil-client-hello")          // a TLS ClientHello
	send("GARBAGE /graphql HTTP/9.9 evil-request-line\r\n\r\n")                    // a malformed request line
	send("GET /graphql HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\n" + // an upgrade from elsewhere
		"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
		"Sec-WebSocket-Protocol: graphql-transport-ws\r\nOrigin: https://evil-origin.example\r\n\r\n")

	var lines []string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if out := api.output(); strings.Contains(out, "evil-origin.example") {
			lines = strings.Split(out, "\n")
			break
		}
	}
	if lines == nil {
		t.Fatalf("the refused websocket upgrade left no log line:\n%s", api.output())
	}
	for _, line := range lines {
		if line == "" || strings.HasPrefix(line, "===== ") { // the launcher's start marker
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("a log line is not JSON: %q", line)
		}
		if strings.Contains(line, "evil-origin.example") && m["level"] == nil {
			t.Errorf("the upgrade's line lacks a level: %s", line)
		}
	}
}
