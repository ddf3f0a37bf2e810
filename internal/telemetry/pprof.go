package telemetry

import (
	"log/slog"
	"net/http"
	"net/http/pprof"
)

// ServePprof adds net/http/pprof's handlers under /debug/pprof/ to mux
// (PPROF=true on the API's port and on the worker's health endpoint), and
// logs that it did: profiles are for benchmarks and debugging, not for a
// port the public reaches.
func ServePprof(mux *http.ServeMux, log *slog.Logger) {
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	log.Warn("pprof enabled on /debug/pprof/")
}
