// Package config reads settings from environment variables and builds the
// logger; the mains use it to fill their config structs.
package config

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/orderstream/orderstream/internal/telemetry"
)

// Env reads typed environment variables and remembers the first error.
type Env struct {
	errs []string
}

// String returns $key, or def when unset or empty.
func (e *Env) String(key, def string) string {
	if v := strings.TrimSpace(os.Getenv(key)); v != "" {
		return v
	}
	return def
}

// List returns $key split at commas, or def.
func (e *Env) List(key string, def []string) []string {
	v := e.String(key, "")
	if v == "" {
		return def
	}
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Int returns $key as an int, or def.
func (e *Env) Int(key string, def int) int {
	v := e.String(key, "")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		e.errs = append(e.errs, fmt.Sprintf("%s=%q is not an integer", key, v))
	}
	return n
}

// Duration returns $key as a time.Duration ("30s", "1m"), or def.
func (e *Env) Duration(key string, def time.Duration) time.Duration {
	v := e.String(key, "")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		e.errs = append(e.errs, fmt.Sprintf("%s=%q is not a positive duration such as 30s", key, v))
	}
	return d
}

// Err reports every malformed variable read so far.
func (e *Env) Err() error {
	if len(e.errs) == 0 {
		return nil
	}
	return fmt.Errorf("bad configuration: %s", strings.Join(e.errs, "; "))
}

// NewLogger returns a JSON slog logger on stderr at level ("debug", "info",
// "warn", "error"), tagged with the service name. Lines logged with a
// context carry its request id and trace ids (telemetry.LogHandler).
func NewLogger(service, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(telemetry.NewLogHandler(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: l}))).With("service", service)
}
