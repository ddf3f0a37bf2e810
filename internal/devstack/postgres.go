// Package devstack runs the infrastructure OrderStream needs on a developer
// machine or in CI without containers: a throwaway PostgreSQL cluster started
// from the locally installed server binaries and an in-process Kafka-protocol
// broker (franz-go's kfake). It is used by the test harnesses
// (internal/pgtest, internal/kafkatest) and by cmd/devstack.
//
// Child processes are tied to this process with a parent-death signal, so a
// test binary killed by a timeout does not leave servers behind.
package devstack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/orderstream/orderstream/internal/procfs"
)

const (
	pgReadyTimeout = 30 * time.Second
	pgStopTimeout  = 10 * time.Second
	pgLogTailBytes = 8 << 10
	// pgPortAttempts is how often a server on a port we picked is retried
	// when another process grabbed that port in the meantime.
	pgPortAttempts = 3
)

// ErrPostgresNotFound is returned by StartPostgres when no PostgreSQL server
// binaries can be found.
var ErrPostgresNotFound = errors.New("PostgreSQL server binaries not found: install the Debian package postgresql (apt-get install -y postgresql)")

// PostgresOptions configures StartPostgres.
type PostgresOptions struct {
	// DataDir is the cluster's data directory. It is created if missing, and
	// initdb runs only if it holds no PG_VERSION, so data persists across
	// runs.
	DataDir string
	// Port is the TCP port on 127.0.0.1; 0 picks a free port.
	Port int
	// BinDir holds initdb and postgres. "" finds the newest
	// /usr/lib/postgresql/*/bin, else the directory of pg_ctl on PATH.
	BinDir string
	// Fast trades durability for speed, for tests: fsync,
	// synchronous_commit and full_page_writes are off.
	Fast bool
	// Host is the address to listen on besides 127.0.0.1 (HOST; "" means
	// 127.0.0.1 only, "0.0.0.0" every interface). Only local connections
	// are trusted (initdb --auth=trust writes loopback lines in
	// pg_hba.conf): other addresses reach the port but cannot log in.
	Host string
	// Settings are server settings for the command line (-c name=value),
	// such as max_connections.
	Settings map[string]string
	// Log receives devstack's own messages; nil discards them.
	Log *slog.Logger
	// Output receives the server log. nil writes it to postgres.log in the
	// parent directory of DataDir, or discards it if that file cannot be
	// opened.
	Output io.Writer
}

// Postgres is a PostgreSQL server running as a child process.
type Postgres struct {
	binDir   string
	dataDir  string
	fast     bool
	host     string
	settings map[string]string
	log      *slog.Logger
	cred     *syscall.Credential // nil: run as ourselves
	userOut  io.Writer           // PostgresOptions.Output
	logPath  string              // server log file we open when userOut is nil

	mu         sync.Mutex
	port       int
	tmpSockDir string   // socket directory we made and remove
	outFile    *os.File // opened from logPath while the server runs
	proc       *Process
	stopErr    error
}

// StartPostgres initializes opts.DataDir if needed and starts a PostgreSQL
// server on 127.0.0.1 as a child process, waiting until it accepts
// connections. The superuser is postgres, with trust authentication.
//
// initdb and postgres refuse to run as root, so when this process is root
// they run as the postgres system user, which must be able to reach
// DataDir (DataDir itself is chowned to it).
//
// The server gets SIGQUIT (immediate shutdown) if this process dies, and it
// runs in its own process group, so a Ctrl-C in the terminal reaches only
// this process, which is expected to call Stop.
func StartPostgres(ctx context.Context, opts PostgresOptions) (*Postgres, error) {
	if opts.DataDir == "" {
		return nil, errors.New("start postgres: no data directory given")
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	binDir, err := findBinDir(opts.BinDir)
	if err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	dataDir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return nil, fmt.Errorf("start postgres: data directory: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("start postgres: create data directory: %w", err)
	}
	p := &Postgres{
		binDir:   binDir,
		dataDir:  dataDir,
		fast:     opts.Fast,
		host:     listenAddresses(opts.Host),
		settings: opts.Settings,
		log:      log,
		port:     opts.Port,
	}
	if err := p.prepareUser(); err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	if err := p.initdb(ctx); err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}

	p.userOut = opts.Output
	if p.userOut == nil {
		p.logPath = filepath.Join(filepath.Dir(dataDir), "postgres.log")
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	for attempt := 1; ; attempt++ {
		pickPort := opts.Port == 0
		if pickPort {
			if p.port, err = FreePort(); err != nil {
				return nil, fmt.Errorf("start postgres: %w", err)
			}
		}
		err = p.startLocked(ctx)
		if err == nil {
			return p, nil
		}
		if !pickPort || attempt >= pgPortAttempts || !errors.Is(err, errPortInUse) {
			return nil, fmt.Errorf("start postgres: %w", err)
		}
		log.Info("port taken meanwhile; retrying on another port", "port", p.port)
	}
}

// listenAddresses is the server's listen_addresses for a HOST: always
// 127.0.0.1, where devstack connects, and host besides.
func listenAddresses(host string) string {
	switch host {
	case "", "127.0.0.1", "localhost":
		return "127.0.0.1"
	case "0.0.0.0", "*", "::":
		return host
	}
	return "127.0.0.1," + host
}

// URL returns the connection URL of database dbname as the postgres
// superuser over TCP.
func (p *Postgres) URL(dbname string) string {
	return serverURL(p.Port(), dbname)
}

func serverURL(port int, dbname string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User("postgres"),
		Host:     "127.0.0.1:" + strconv.Itoa(port),
		Path:     "/" + dbname,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Port returns the TCP port the server listens on.
func (p *Postgres) Port() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.port
}

// DataDir returns the absolute path of the data directory.
func (p *Postgres) DataDir() string { return p.dataDir }

// CreateDatabase creates database name, cloned from template ("" for the
// server default). It is not an error if the database already exists.
// With a template on PostgreSQL 15 or later the files are copied
// (STRATEGY file_copy), which is fast for small databases.
func (p *Postgres) CreateDatabase(ctx context.Context, name, template string) error {
	conn, err := pgx.Connect(ctx, p.URL("postgres"))
	if err != nil {
		return fmt.Errorf("create database %s: connect: %w", name, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	if exists {
		return nil
	}
	sql := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
	if template != "" {
		sql += " TEMPLATE " + pgx.Identifier{template}.Sanitize()
		if serverMajor(conn.PgConn()) >= 15 {
			sql += " STRATEGY file_copy"
		}
	}
	if _, err := conn.Exec(ctx, sql); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // duplicate_database: lost a race
			return nil
		}
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// Stop shuts the server down (fast shutdown: SIGINT), waits up to 10 s and
// then kills it. It is safe to call more than once; later calls return the
// first result.
func (p *Postgres) Stop() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopLocked()
	return p.stopErr
}

// Crash kills the server and every one of its processes with SIGKILL, as a
// crash of PostgreSQL would (no shutdown checkpoint), then starts it again
// on the same port and data directory: the server recovers from its WAL.
func (p *Postgres) Crash(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc != nil {
		// Every server process dies at once, as in a crash of the machine.
		// The backends call setsid(), so the postmaster's process group
		// does not hold them: they are killed by pid. A backend that
		// outlived the postmaster would keep the shared memory attached,
		// and the next start would refuse it ("pre-existing shared memory
		// block is still in use").
		pid := p.proc.Pid()
		children := slices.Collect(maps.Keys(procfs.Children(pid)))
		syscall.Kill(-pid, syscall.SIGKILL) //nolint:errcheck // it may be gone already
		for _, c := range children {
			syscall.Kill(c, syscall.SIGKILL) //nolint:errcheck // it may be gone already
		}
		<-p.proc.Done()
		p.proc = nil
		p.cleanupLocked()
		for _, c := range children {
			waitGone(ctx, c)
		}
		p.log.Info("postgres killed", "port", p.port, "backends", len(children))
	}
	if err := p.startLocked(ctx); err != nil {
		return fmt.Errorf("start postgres after a crash: %w", err)
	}
	return nil
}

// Restart stops the server and starts it again on the same port and data
// directory. It also starts a stopped server.
func (p *Postgres) Restart(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopLocked()
	if err := p.startLocked(ctx); err != nil {
		return fmt.Errorf("restart postgres: %w", err)
	}
	return nil
}

func (p *Postgres) stopLocked() {
	if p.proc == nil {
		return
	}
	err := p.proc.Stop(syscall.SIGINT, pgStopTimeout)
	p.proc = nil
	if err != nil {
		p.stopErr = fmt.Errorf("stop postgres: %w", err)
	} else {
		p.stopErr = nil
		p.log.Info("postgres stopped", "port", p.port)
	}
	p.cleanupLocked()
}

// cleanupLocked removes what startLocked made besides the process.
func (p *Postgres) cleanupLocked() {
	if p.tmpSockDir != "" {
		os.RemoveAll(p.tmpSockDir)
		p.tmpSockDir = ""
	}
	if p.outFile != nil {
		p.outFile.Close()
		p.outFile = nil
	}
}

// logFile opens the server log file if the server log goes to one.
func (p *Postgres) logFile() *os.File {
	if p.userOut != nil || p.logPath == "" {
		return nil
	}
	if p.outFile == nil {
		f, err := os.OpenFile(p.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			p.log.Warn("cannot open postgres log file; discarding server log", "path", p.logPath, "err", err)
			p.logPath = ""
			return nil
		}
		p.outFile = f
	}
	return p.outFile
}

// serverLog connects the server's stdout and stderr to the log and returns
// a function giving the tail of what this server wrote. A log file is handed
// to the server as is, so it keeps logging should this process die; any
// other writer gets a copy through a pipe.
func (p *Postgres) serverLog(cmd *exec.Cmd) (tail func() string) {
	if f := p.logFile(); f != nil {
		var from int64
		if fi, err := f.Stat(); err == nil {
			from = fi.Size()
		}
		cmd.Stdout, cmd.Stderr = f, f
		path := p.logPath
		return func() string { return readTail(path, from, pgLogTailBytes) }
	}
	tb := &tailBuffer{max: pgLogTailBytes}
	w := &teeWriter{out: p.userOut, tail: tb}
	cmd.Stdout, cmd.Stderr = w, w
	// Backends that outlive a killed postmaster keep the pipe open.
	cmd.WaitDelay = 2 * time.Second
	return tb.String
}

// readTail returns at most n bytes from the end of file path, starting no
// earlier than offset from.
func readTail(path string, from int64, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	from = max(from, fi.Size()-int64(n))
	b, err := io.ReadAll(io.NewSectionReader(f, from, fi.Size()-from))
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	return string(b)
}

var errPortInUse = errors.New("port in use")

// startLocked starts the server on p.port and waits until it is ready.
func (p *Postgres) startLocked(ctx context.Context) error {
	sockDir, temporary, err := p.makeSocketDir()
	if err != nil {
		return err
	}
	args := []string{
		"-D", p.dataDir,
		"-p", strconv.Itoa(p.port),
		"-k", sockDir,
		"-c", "listen_addresses=" + p.host,
	}
	if p.fast {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	for _, k := range slices.Sorted(maps.Keys(p.settings)) {
		args = append(args, "-c", k+"="+p.settings[k])
	}
	cmd := exec.Command(filepath.Join(p.binDir, "postgres"), args...)
	cmd.Dir = p.dataDir
	cmd.Env = serverEnv()
	if temporary {
		p.tmpSockDir = sockDir
	}
	logTail := p.serverLog(cmd)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: p.cred}
	proc, err := StartProcess(cmd, syscall.SIGQUIT)
	if err != nil {
		p.cleanupLocked()
		return err
	}
	p.proc = proc
	start := time.Now()
	if err := p.waitReady(ctx, proc); err != nil {
		p.stopLocked()
		tail := logTail()
		if strings.Contains(tail, "could not bind") || strings.Contains(tail, "Address already in use") {
			err = fmt.Errorf("%w: %w", errPortInUse, err)
		}
		return fmt.Errorf("%w\n--- postgres server log (tail) ---\n%s", err, tail)
	}
	p.log.Info("postgres ready", "port", p.port, "data_dir", p.dataDir, "pid", proc.Pid(), "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// waitReady polls with a real connection until the server answers. It
// gives up as soon as the server exits: a port held by some other program
// may accept connections and never answer.
func (p *Postgres) waitReady(ctx context.Context, proc *Process) error {
	ctx, cancel := context.WithTimeout(ctx, pgReadyTimeout)
	defer cancel()
	ctx, cancelAttempt := context.WithCancel(ctx)
	defer cancelAttempt()
	go func() {
		select {
		case <-proc.Done():
			cancelAttempt()
		case <-ctx.Done():
		}
	}()
	cfg, err := pgx.ParseConfig(serverURL(p.port, "postgres") + "&connect_timeout=2")
	if err != nil {
		return fmt.Errorf("wait for postgres: %w", err)
	}
	var lastErr error
	for {
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		lastErr = err
		select {
		case <-proc.Done():
			return fmt.Errorf("postgres exited during startup: %v", proc.Err())
		case <-ctx.Done():
			if proc.Exited() {
				return fmt.Errorf("postgres exited during startup: %v", proc.Err())
			}
			return fmt.Errorf("postgres not accepting connections on port %d after %s: %w (last error: %v)", p.port, pgReadyTimeout, ctx.Err(), lastErr)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// prepareUser decides which user runs the server and gives it the data
// directory.
func (p *Postgres) prepareUser() error {
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return fmt.Errorf("running as root, but initdb and postgres refuse to run as root and there is no postgres user to run them as: %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("look up postgres user: %w", err)
	}
	p.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	if err := chownTree(p.dataDir, int(uid), int(gid)); err != nil {
		return fmt.Errorf("give data directory to postgres user: %w", err)
	}
	var groups []uint32
	if ids, err := u.GroupIds(); err == nil {
		for _, id := range ids {
			if g, err := strconv.ParseUint(id, 10, 32); err == nil {
				groups = append(groups, uint32(g))
			}
		}
	}
	return checkReachable(p.dataDir, uint32(uid), append(groups, uint32(gid)))
}

// chownTree chowns root and everything below it unless root already belongs
// to uid.
func chownTree(root string, uid, gid int) error {
	fi, err := os.Stat(root)
	if err != nil {
		return err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) == uid && int(st.Gid) == gid {
		return nil
	}
	return filepath.WalkDir(root, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, uid, gid)
	})
}

// checkReachable reports a clear error if uid cannot search every parent
// directory of dir (a 0700 directory owned by root, such as the one
// os.MkdirTemp makes, is a common cause).
func checkReachable(dir string, uid uint32, gids []uint32) error {
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("check data directory parent: %w", err)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if ok {
			mode := fi.Mode().Perm()
			var can bool
			switch {
			case st.Uid == uid:
				can = mode&0o100 != 0
			case slices.Contains(gids, st.Gid):
				can = mode&0o010 != 0
			default:
				can = mode&0o001 != 0
			}
			if !can {
				return fmt.Errorf("the postgres user (uid %d) cannot reach data directory %s: no search permission on %s (mode %s); use a data directory under a path it can traverse, or chmod o+x %s", uid, dir, d, mode, d)
			}
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// initdb initializes the data directory unless it holds a cluster already.
func (p *Postgres) initdb(ctx context.Context) error {
	if _, err := os.Stat(filepath.Join(p.dataDir, "PG_VERSION")); err == nil {
		return nil
	}
	start := time.Now()
	var lastErr error
	// C.UTF-8 is missing on some systems; C always exists.
	for _, locale := range []string{"C.UTF-8", "C"} {
		cmd := exec.CommandContext(ctx, filepath.Join(p.binDir, "initdb"),
			"-D", p.dataDir, "--auth=trust", "-U", "postgres", "-E", "UTF8",
			"--locale="+locale, "--no-sync")
		cmd.Dir = p.dataDir
		cmd.Env = serverEnv()
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: p.cred}
		proc, err := StartProcess(cmd, syscall.SIGKILL)
		if err != nil {
			return fmt.Errorf("initdb: %w", err)
		}
		<-proc.Done()
		if err := proc.Err(); err != nil {
			lastErr = fmt.Errorf("initdb --locale=%s: %w\n%s", locale, err, tailOf(out.String(), pgLogTailBytes))
			if ctx.Err() != nil {
				break
			}
			continue
		}
		p.log.Info("initialized postgres data directory", "data_dir", p.dataDir, "locale", locale, "took", time.Since(start).Round(time.Millisecond))
		return nil
	}
	return lastErr
}

// makeSocketDir returns the directory for the Unix socket: the data
// directory, which the server's user owns, if its path is short enough for
// a socket address (sun_path holds 107 bytes), else a new temporary
// directory that cleanupLocked removes.
func (p *Postgres) makeSocketDir() (dir string, temporary bool, err error) {
	if len(p.dataDir+"/.s.PGSQL.65535.lock") < 100 {
		return p.dataDir, false, nil
	}
	dir, err = os.MkdirTemp("/tmp", "pgsock-")
	if err != nil {
		return "", false, fmt.Errorf("create socket directory: %w", err)
	}
	if p.cred != nil {
		if err := os.Chown(dir, int(p.cred.Uid), int(p.cred.Gid)); err != nil {
			os.RemoveAll(dir)
			return "", false, fmt.Errorf("create socket directory: %w", err)
		}
	}
	return dir, true, nil
}

// findBinDir returns the directory holding initdb and postgres.
func findBinDir(binDir string) (string, error) {
	if binDir != "" {
		if !hasServerBinaries(binDir) {
			return "", fmt.Errorf("no initdb and postgres in %s: %w", binDir, ErrPostgresNotFound)
		}
		return binDir, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { return versionOf(b) - versionOf(a) })
	for _, d := range dirs {
		if hasServerBinaries(d) {
			return d, nil
		}
	}
	if pgCtl, err := exec.LookPath("pg_ctl"); err == nil {
		if real, err := filepath.EvalSymlinks(pgCtl); err == nil && hasServerBinaries(filepath.Dir(real)) {
			return filepath.Dir(real), nil
		}
		if hasServerBinaries(filepath.Dir(pgCtl)) {
			return filepath.Dir(pgCtl), nil
		}
	}
	return "", ErrPostgresNotFound
}

// versionOf returns N of /usr/lib/postgresql/N/bin, or 0.
func versionOf(binDir string) int {
	f, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	return int(f * 100)
}

func hasServerBinaries(dir string) bool {
	for _, name := range []string{"initdb", "postgres"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
			return false
		}
	}
	return true
}

// serverEnv is our environment without the libpq and server variables that
// would override the command line.
func serverEnv() []string {
	env := os.Environ()
	return slices.DeleteFunc(env, func(kv string) bool {
		return strings.HasPrefix(kv, "PGDATA=") || strings.HasPrefix(kv, "PGPORT=") ||
			strings.HasPrefix(kv, "PGHOST=") || strings.HasPrefix(kv, "PGUSER=")
	})
}

func serverMajor(conn *pgconn.PgConn) int {
	v := conn.ParameterStatus("server_version")
	major, _, _ := strings.Cut(v, ".")
	n, _ := strconv.Atoi(strings.TrimFunc(major, func(r rune) bool { return r < '0' || r > '9' }))
	return n
}

// teeWriter copies the server log to out and keeps its tail. Errors writing
// to out are ignored: a failing log writer must never block the server.
type teeWriter struct {
	out  io.Writer
	tail *tailBuffer
}

func (w *teeWriter) Write(b []byte) (int, error) {
	w.tail.Write(b)
	if w.out != nil {
		w.out.Write(b) //nolint:errcheck // see type doc
	}
	return len(b), nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(b), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

func tailOf(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// waitGone waits until process pid no longer exists (a killed child of
// another parent is reaped by init) or is a zombie, which has released its
// memory, shared memory included; or until ctx ends.
func waitGone(ctx context.Context, pid int) {
	for {
		if st, err := procfs.ReadStat(pid); err != nil || st.State == 'Z' {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}
