package config

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestErrorLog: what net/http logs itself goes through slog as JSON.
func TestErrorLog(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		w.WriteHeader(500) // net/http logs "superfluous response.WriteHeader call"
	}))
	srv.Config.ErrorLog = ErrorLog(log)
	srv.Start()
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	line := strings.TrimSpace(buf.String())
	var m map[string]any
	if err := json.Unmarshal([]byte(line), &m); err != nil || m["level"] != "WARN" || !strings.Contains(m["msg"].(string), "superfluous") {
		t.Errorf("net/http's line: %q (%v); want a JSON WARN line about the superfluous WriteHeader", line, err)
	}
}
