package devstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Service timeouts.
const (
	// ReadyTimeout bounds the wait for a started service's readiness URL.
	ReadyTimeout = 60 * time.Second
	// StopTimeout is how long Stop waits after SIGTERM before SIGKILL: a
	// little above the API's default SHUTDOWN_TIMEOUT (35 s).
	StopTimeout = 40 * time.Second
)

// ServiceOptions describes a child process that a launcher runs, stops and
// starts again.
type ServiceOptions struct {
	Name string
	Bin  string
	// Env is the child's whole environment.
	Env []string
	// LogPath, when set, receives the child's output across restarts, each
	// start after a "===== name start #n at hh:mm:ss =====" line.
	LogPath string
	// Output, when set, receives a copy of the output (a terminal).
	Output io.Writer
	// DeathSignal reaches the child if this process dies, even by SIGKILL;
	// 0 means SIGKILL.
	DeathSignal syscall.Signal
	// ProcessGroup runs the child in a process group of its own, so that a
	// Ctrl-C in the terminal reaches only this process, which then stops
	// the children in order.
	ProcessGroup bool
	// ReadyURL is polled after each start until it answers 200 ("" = no
	// wait).
	ReadyURL string
	// Base is the service's HTTP base URL, for clients ("" = none).
	Base string
	// Wrap, when set, is a command and its arguments that run Bin: the
	// child is Wrap[0] with Wrap[1:] and Bin as its arguments (valgrind,
	// which keeps the pid: the process is still the service's).
	Wrap []string
}

// Service is a child process that can be stopped, killed, paused and
// started again with the same settings.
type Service struct {
	mu     sync.Mutex
	opts   ServiceOptions
	p      *Process
	starts int
	kind   string // "api", "worker" or "": the order Stack.Close stops them in
}

// NewService returns a service; Start runs it.
func NewService(opts ServiceOptions) *Service { return &Service{opts: opts} }

// Name is the service's name.
func (s *Service) Name() string { return s.opts.Name }

// URL is the service's HTTP base URL (the API's, or the worker's health
// endpoint), such as http://127.0.0.1:8080; "" when it has none.
func (s *Service) URL() string { return s.opts.Base }

// LogPath is the file the output goes to ("" when none).
func (s *Service) LogPath() string { return s.opts.LogPath }

// Env returns the environment the next start uses.
func (s *Service) Env() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opts.Env
}

// SetEnv replaces the environment of the next start.
func (s *Service) SetEnv(env []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.Env = env
}

// Starts counts the starts so far.
func (s *Service) Starts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.starts
}

// Process is the current incarnation (nil before the first start).
func (s *Service) Process() *Process {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.p
}

// Done is closed when the current incarnation has exited.
func (s *Service) Done() <-chan struct{} {
	if p := s.Process(); p != nil {
		return p.Done()
	}
	return closedChan
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// Running reports whether the current incarnation runs.
func (s *Service) Running() bool {
	p := s.Process()
	return p != nil && !p.Exited()
}

// Start starts the service (again) and waits until its ReadyURL answers
// 200, ctx ends, or it exits.
func (s *Service) Start(ctx context.Context) error {
	if err := s.StartNoWait(); err != nil {
		return err
	}
	return s.WaitReady(ctx)
}

// StartNoWait starts the service (again) without waiting for readiness.
func (s *Service) StartNoWait() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p != nil && !s.p.Exited() {
		return fmt.Errorf("%s is running already", s.opts.Name)
	}
	var outs []io.Writer
	var f *os.File
	if s.opts.LogPath != "" {
		var err error
		if f, err = os.OpenFile(s.opts.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
			return fmt.Errorf("start %s: %w", s.opts.Name, err)
		}
		outs = append(outs, f)
		fmt.Fprintf(f, "===== %s start #%d at %s =====\n", s.opts.Name, s.starts+1, time.Now().Format("15:04:05.000"))
	}
	if s.opts.Output != nil {
		outs = append(outs, s.opts.Output)
	}
	bin := s.opts.Bin
	if !strings.ContainsRune(bin, filepath.Separator) {
		bin = "." + string(filepath.Separator) + bin // a file here, not a command on PATH
	}
	cmd := exec.Command(bin)
	if w := s.opts.Wrap; len(w) > 0 {
		cmd = exec.Command(w[0], append(slices.Clone(w[1:]), bin)...)
	}
	cmd.Env = s.opts.Env
	if len(outs) > 0 {
		w := io.MultiWriter(outs...)
		if len(outs) == 1 {
			w = outs[0]
		}
		cmd.Stdout, cmd.Stderr = w, w
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: s.opts.ProcessGroup}
	sig := s.opts.DeathSignal
	if sig == 0 {
		sig = syscall.SIGKILL
	}
	p, err := StartProcess(cmd, sig)
	if err != nil {
		if f != nil {
			f.Close()
		}
		return fmt.Errorf("start %s: %w", s.opts.Name, err)
	}
	if f != nil {
		go func() { <-p.Done(); f.Close() }()
	}
	s.p = p
	s.starts++
	return nil
}

// WaitReady polls ReadyURL until it answers 200 (at most ReadyTimeout).
func (s *Service) WaitReady(ctx context.Context) error {
	p := s.Process()
	if s.opts.ReadyURL == "" || p == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, ReadyTimeout)
	defer cancel()
	err := WaitHTTP(ctx, s.opts.ReadyURL, p.Done())
	if err != nil && p.Exited() {
		return fmt.Errorf("%s exited during start-up: %s", s.opts.Name, p.ExitStatus())
	}
	if err != nil {
		return fmt.Errorf("%s not ready: %w", s.opts.Name, err)
	}
	return nil
}

// Stop sends SIGTERM and waits up to timeout (0: StopTimeout) for the
// service to exit, then kills it. It returns nil for a clean exit (status
// 0), else the exit error or an error saying it had to be killed.
func (s *Service) Stop(timeout time.Duration) error {
	p := s.Process()
	if p == nil {
		return nil
	}
	if timeout <= 0 {
		timeout = StopTimeout
	}
	return p.Stop(syscall.SIGTERM, timeout)
}

// Kill sends SIGKILL and waits for the service to be gone.
func (s *Service) Kill() {
	if p := s.Process(); p != nil {
		p.Signal(syscall.SIGKILL) //nolint:errcheck // an exited child is fine
		<-p.Done()
	}
}

// Restart stops the service (SIGTERM, see Stop) and starts it again with
// the same settings.
func (s *Service) Restart(ctx context.Context) error {
	if err := s.Stop(0); err != nil && !isExit(err) {
		return err
	}
	return s.Start(ctx)
}

// Pause freezes the service (SIGSTOP): it keeps its connections but
// answers nothing, like a process stuck in a long pause.
func (s *Service) Pause() error { return s.Signal(syscall.SIGSTOP) }

// Resume undoes Pause (SIGCONT).
func (s *Service) Resume() error { return s.Signal(syscall.SIGCONT) }

// Signal sends sig to the current incarnation.
func (s *Service) Signal(sig syscall.Signal) error {
	if p := s.Process(); p != nil {
		return p.Signal(sig)
	}
	return nil
}

// Logs returns the service's log file as written so far.
func (s *Service) Logs() string {
	if s.opts.LogPath == "" {
		return ""
	}
	b, err := os.ReadFile(s.opts.LogPath)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// LogTail returns at most n bytes from the end of the log file.
func (s *Service) LogTail(n int) string {
	if s.opts.LogPath == "" {
		return ""
	}
	return readTail(s.opts.LogPath, 0, n)
}

func isExit(err error) bool {
	var exitErr *exec.ExitError
	return errors.As(err, &exitErr)
}
