package config

import (
	"log"
	"log/slog"
	"os"

	"github.com/orderstream/orderstream/internal/telemetry"
)

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

// ErrorLog is a standard library logger that writes through l at WARN, for
// http.Server.ErrorLog: the lines net/http writes itself (a TLS handshake
// error, a panic, a superfluous WriteHeader) are JSON like every other line.
func ErrorLog(l *slog.Logger) *log.Logger {
	return slog.NewLogLogger(l.Handler(), slog.LevelWarn)
}
