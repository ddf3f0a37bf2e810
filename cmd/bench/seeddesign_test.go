package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orderstream/orderstream/internal/kafkatest"
	"github.com/orderstream/orderstream/internal/pgtest"
)

func TestMain(m *testing.M) {
	if os.Getenv(callgrindChildEnv) != "" {
		callgrindChild() // a child of TestCallgrindCountsTheWorkOfAWindow
		return
	}
	pgtest.Main(m, kafkatest.Shutdown)
}

func TestDesignConfigRoundTrip(t *testing.T) {
	want := designConfig{dbURL: "postgres://127.0.0.1/x", brokers: []string{"127.0.0.1:1", "127.0.0.1:2"}, partitions: 8,
		apiPool: 32, workerPool: 16, ordersTopic: "o", acksTopic: "a", group: "g"}
	env := map[string]string{}
	for _, kv := range want.env() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	got, err := designConfigFrom(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if got.dbURL != want.dbURL || !slices.Equal(got.brokers, want.brokers) || got.partitions != 8 || got.apiPool != 32 ||
		got.workerPool != 16 || got.ordersTopic != "o" || got.acksTopic != "a" || got.group != "g" {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if _, err := designConfigFrom(func(string) string { return "" }); err == nil {
		t.Error("an empty environment: no error")
	}
}

// TestSeedDesign runs the seed design on a fresh database and topics: an
// order posted comes back done with its total, and is done in the table;
// the bench's checked op succeeds on it; bad input is refused.
func TestSeedDesign(t *testing.T) {
	dbURL := pgtest.NewDB(t)
	kb := kafkatest.New(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	if err := execOnce(ctx, dbURL, designTableSQL); err != nil {
		t.Fatal(err)
	}
	cfg := designConfig{dbURL: dbURL, brokers: kb.Brokers, partitions: kb.Partitions, apiPool: 4, workerPool: 4,
		ordersTopic: kb.OrdersTopic, acksTopic: kb.AcksTopic, group: "seed-test-" + kb.OrdersTopic}
	runCtx, stop := context.WithCancel(ctx)
	urls, done := make(chan string, 1), make(chan error, 1)
	go func() {
		done <- runSeedDesign(runCtx, cfg, slog.New(slog.NewTextHandler(t.Output(), nil)), func(u string) { urls <- u })
	}()
	var url string
	select {
	case url = <-urls:
	case err := <-done:
		t.Fatalf("runSeedDesign: %v", err)
	}
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("runSeedDesign: %v", err)
		}
	}()

	body := `{"external_id": "ext-1", "user_id": "7f1d1d0e-5c3b-4a9e-9b7e-2f0d2b1c9a11",
		"payload": {"items": [{"name": "A", "quantity": 2, "price": "29.99"}, {"name": "B", "quantity": 1, "price": "0.50"}]}}`
	status, b := postJSON(t, url+"/orders", body) // the first waits for the worker to join its group
	if status != http.StatusCreated {
		t.Fatalf("POST /orders: %d %s", status, b)
	}
	var o designOrder
	if err := json.Unmarshal(b, &o); err != nil {
		t.Fatal(err)
	}
	if o.Status != "done" || o.Total != "60.48" || o.ExternalID != "ext-1" || o.ID == 0 {
		t.Errorf("answer %s", b)
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var stored string
	if err := conn.QueryRow(ctx, "SELECT status FROM seed_orders WHERE id = $1", o.ID).Scan(&stored); err != nil || stored != "done" {
		t.Errorf("stored status %q, %v; want done", stored, err)
	}

	op := restCreate([]string{url}, newHTTPClient(1, 1), newOrderGen())
	rng := rand.New(rand.NewPCG(1, 2))
	for range 5 {
		if code := op(ctx, 0, rng); code != "" {
			t.Fatalf("restCreate on the seed design: %s", code)
		}
	}
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM seed_orders WHERE status = 'done'").Scan(&n); err != nil || n != 6 {
		t.Errorf("%d done orders, %v; want 6", n, err)
	}

	if status, b := postJSON(t, url+"/orders", `{"user_id": "x"}`); status != http.StatusBadRequest || !strings.Contains(string(b), "INVALID_INPUT") {
		t.Errorf("bad input: %d %s", status, b)
	}
}

func postJSON(t *testing.T, url, body string) (int, []byte) {
	t.Helper()
	resp, err := http.Post(url, "application/json", bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}
