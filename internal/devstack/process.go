package devstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"runtime"
	"syscall"
	"time"
)

// Process is a child process started by StartProcess.
type Process struct {
	cmd  *exec.Cmd
	name string
	done chan struct{}
	err  error // result of cmd.Wait, set before done is closed
}

// StartProcess starts cmd so that the kernel sends it deathSignal if this
// process dies, even by SIGKILL, and waits for it in the background.
//
// The kernel sends the parent-death signal when the OS thread that forked the
// child exits, not the process (https://go.dev/issue/27505), so the child is
// started and waited for on a goroutine locked to its thread: that thread
// lives exactly as long as the child. A deathSignal of 0 leaves cmd's
// SysProcAttr.Pdeathsig as it is.
func StartProcess(cmd *exec.Cmd, deathSignal syscall.Signal) (*Process, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	if deathSignal != 0 {
		cmd.SysProcAttr.Pdeathsig = deathSignal
	}
	p := &Process{cmd: cmd, name: cmd.Path, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.err = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start %s: %w", p.name, err)
	}
	return p, nil
}

// Cmd returns the command the child runs; its ProcessState is set once Done
// is closed.
func (p *Process) Cmd() *exec.Cmd { return p.cmd }

// Pid returns the process id of the child.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the child has exited and been reaped.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err returns the result of waiting for the child (nil for exit status 0).
// It is only meaningful once Done is closed.
func (p *Process) Err() error {
	select {
	case <-p.done:
		return p.err
	default:
		return nil
	}
}

// Exited reports whether the child has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Signal sends sig to the child, or to its whole process group when it was
// started with SysProcAttr.Setpgid. Signalling an exited child is a no-op.
func (p *Process) Signal(sig syscall.Signal) error {
	if p.Exited() {
		return nil
	}
	pid := p.cmd.Process.Pid
	if p.cmd.SysProcAttr != nil && p.cmd.SysProcAttr.Setpgid && p.cmd.SysProcAttr.Pgid == 0 {
		pid = -pid
	}
	if err := syscall.Kill(pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal %s: %w", p.name, err)
	}
	return nil
}

// Stop sends sig and waits up to timeout for the child to exit, then kills
// it with SIGKILL. It returns the child's exit error, or an error saying it
// had to be killed. Calling Stop on an exited child returns its exit error.
func (p *Process) Stop(sig syscall.Signal, timeout time.Duration) error {
	if p.Exited() {
		return p.err
	}
	if err := p.Signal(sig); err != nil {
		return err
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-p.done:
		return p.err
	case <-timer.C:
	}
	if err := p.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	<-p.done
	return fmt.Errorf("%s did not exit within %s after %s and was killed", p.name, timeout, sig)
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// ExitStatus describes how the process ended ("exit status 3", "signal:
// killed"), for messages; "exit status 0" when it ended cleanly.
func (p *Process) ExitStatus() string {
	err := p.Err()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		return exitErr.ProcessState.String()
	}
	if err != nil {
		return err.Error()
	}
	return "exit status 0"
}

// WaitHTTP polls url until it answers 200, ctx ends, or stop is closed
// (pass a Process's Done to give up when it exits; nil waits on).
func WaitHTTP(ctx context.Context, url string, stop <-chan struct{}) error {
	client := &http.Client{Timeout: 2 * time.Second}
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body) //nolint:errcheck // draining only
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("no 200 from %s: %w (last: %v)", url, ctx.Err(), last)
		case <-stop:
			return errStopped
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// errStopped is WaitHTTP's error when stop closed first.
var errStopped = errors.New("stopped waiting: the process exited")
