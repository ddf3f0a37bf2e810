package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/coder/websocket"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// wsSubprotocol is the websocket subprotocol of graphql-transport-ws.
const wsSubprotocol = "graphql-transport-ws"

// Close codes of graphql-transport-ws (enisdenjo/graphql-ws PROTOCOL.md).
// graphql-ws clients do not reconnect after 4400, 4401, 4409 and 4429;
// they do after 4403 and 4408 (and after 1000 and 1001).
const (
	closeBadRequest       websocket.StatusCode = 4400 // a message of a type or format not in the protocol
	closeUnauthorized     websocket.StatusCode = 4401 // subscribe before connection_ack
	closeForbidden        websocket.StatusCode = 4403 // connection_init without valid credentials, or they expired
	closeInitTimeout      websocket.StatusCode = 4408 // no connection_init within InitTimeout
	closeSubscriberExists websocket.StatusCode = 4409 // subscribe with the id of a live operation
	closeTooManyRequests  websocket.StatusCode = 4429 // a second connection_init, or over the rate limit
)

// wsWriteTimeout bounds one message write: a client that does not read is
// disconnected rather than holding the connection's operations.
const wsWriteTimeout = 10 * time.Second

// wsTransport serves graphql-transport-ws to the letter of its protocol
// document, which gqlgen's websocket transport does not (it closes with
// 1000 or 1002 where the protocol says 44xx, runs a subscribe without an
// id, and lets a second subscribe with a live id replace the first, whose
// stream then cannot be stopped):
//
//   - a message that is not JSON, of an unknown type, of a server's type
//     (next, error, connection_ack), or without the fields its type needs
//     (subscribe: a non-empty id and a payload with a query string;
//     complete: a non-empty id) closes with 4400;
//   - no connection_init within InitTimeout: 4408; a second one: 4429;
//     refused credentials: 4403 (and 4429 over the rate limit, as before);
//   - subscribe before connection_ack: 4401; with the id of a live
//     operation: 4409;
//   - an operation refused before it runs (invalid, over a limit, not
//     found) gets one error message and no complete; a stream ends with
//     complete, or with error when it fails; after the client's complete
//     nothing more is sent for that id, and the id may be used again;
//   - ping is answered with pong at any time; the server pings every
//     PingInterval after the ack and closes with 1001 a connection from
//     which nothing came for twice that;
//   - expired credentials close with 4403 (graphql-ws clients reconnect,
//     with fresh connectionParams), shutdown with 1000.
//
// Admission (connect), the origin check, the rate limit and the
// subscription bound (wsGate) are those of the legacy transport.
type wsTransport struct {
	opts WebsocketOptions
	log  *slog.Logger
}

var _ graphql.Transport = wsTransport{}

// Supports takes the upgrades that offer graphql-transport-ws; the others
// go on to the legacy transport.
func (t wsTransport) Supports(r *http.Request) bool {
	if r.Header.Get("Upgrade") == "" {
		return false
	}
	for _, v := range r.Header.Values("Sec-WebSocket-Protocol") {
		for p := range strings.SplitSeq(v, ",") {
			if strings.TrimSpace(p) == wsSubprotocol {
				return true
			}
		}
	}
	return false
}

func (t wsTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	c, err := websocket.Accept(w, r, t.opts.acceptOptions([]string{wsSubprotocol}))
	if err != nil {
		t.log.Debug("websocket handshake refused", "err", err) // Accept has answered (403 for an origin)
		return
	}
	c.SetReadLimit(MaxBodyBytes)
	ctx, cancel := context.WithCancel(r.Context())
	s := &wsSession{t: t, conn: c, exec: exec, header: r.Header, ctx: ctx, cancel: cancel,
		ops: map[string]*wsOp{}, lastSeen: time.Now()}
	s.run()
}

// wsSession is one graphql-transport-ws connection.
type wsSession struct {
	t      wsTransport
	conn   *websocket.Conn
	exec   graphql.GraphExecutor
	header http.Header
	// ctx ends with the connection: every operation's context derives
	// from it (through opCtx).
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // the operations' goroutines

	// sendMu serialises writes. An operation's message is written only
	// while the operation is live, checked under sendMu, and the client's
	// complete takes sendMu too: once it is handled nothing more goes out
	// for that operation, even if the id is used again at once.
	sendMu sync.Mutex

	mu       sync.Mutex
	initSeen bool
	opCtx    context.Context // set at connection_ack: the principal, the wsConn
	ops      map[string]*wsOp
	closing  bool
	lastSeen time.Time
}

// wsOp is a live operation.
type wsOp struct {
	cancel context.CancelFunc
	slot   *opSlot
}

func (s *wsSession) run() {
	defer s.wg.Wait()
	defer s.cancel()
	initTimer := time.AfterFunc(s.t.opts.InitTimeout, func() {
		s.mu.Lock()
		seen := s.initSeen
		s.mu.Unlock()
		if !seen {
			s.close(closeInitTimeout, "Connection initialisation timeout")
		}
	})
	defer initTimer.Stop()
	for {
		// Not s.ctx: a cancelled Read drops the connection without a close
		// frame, and every close here sends one (close).
		_, data, err := s.conn.Read(context.Background())
		if err != nil {
			if st := websocket.CloseStatus(err); s.ctx.Err() == nil && st != websocket.StatusNormalClosure && st != websocket.StatusGoingAway {
				s.t.log.Debug("websocket read", "err", err)
			}
			return
		}
		s.mu.Lock()
		s.lastSeen = time.Now()
		s.mu.Unlock()
		if !s.handle(data) {
			return
		}
	}
}

// handle acts on one message from the client; false when it closed the
// connection.
func (s *wsSession) handle(data []byte) bool {
	m, err := parseWSMessage(data)
	if err != nil {
		s.close(closeBadRequest, "Invalid message received: "+err.Error())
		return false
	}
	switch m.Type {
	case "connection_init":
		return s.init(m.Payload)
	case "ping":
		s.sendMu.Lock()
		s.write(wsOut{Type: "pong", Payload: m.Payload})
		s.sendMu.Unlock()
	case "pong":
		// lastSeen is updated for every message.
	case "subscribe":
		return s.subscribe(m)
	case "complete":
		s.sendMu.Lock()
		s.mu.Lock()
		op := s.ops[m.ID]
		delete(s.ops, m.ID) // unknown ids are ignored, as the protocol allows
		s.mu.Unlock()
		s.sendMu.Unlock()
		if op != nil {
			op.slot.free()
			op.cancel()
		}
	default: // next, error, connection_ack: the server's to send
		s.close(closeBadRequest, fmt.Sprintf("Unexpected message of type %s received", m.Type))
		return false
	}
	return true
}

func (s *wsSession) init(payload json.RawMessage) bool {
	s.mu.Lock()
	again := s.initSeen
	s.initSeen = true
	s.mu.Unlock()
	if again {
		s.close(closeTooManyRequests, "Too many initialisation requests")
		return false
	}
	var p transport.InitPayload
	_ = json.Unmarshal(payload, &p) // an object or null: parseWSMessage checked
	ctx, no := s.t.opts.connect(s.ctx, p.Authorization(), s.t.log)
	if no != nil {
		s.close(no.code, no.reason)
		return false
	}
	s.mu.Lock()
	s.opCtx = ctx
	s.mu.Unlock()
	s.sendMu.Lock()
	s.write(wsOut{Type: "connection_ack"})
	s.sendMu.Unlock()
	context.AfterFunc(ctx, func() {
		switch {
		case s.ctx.Err() != nil: // the connection is ending anyway
		case s.t.opts.Shutdown != nil && s.t.opts.Shutdown.Err() != nil:
			s.close(websocket.StatusNormalClosure, "the server is shutting down: reconnect")
		default: // the credentials expired
			s.close(closeForbidden, "Forbidden: the credentials expired")
		}
	})
	s.wg.Add(1)
	go s.ping(ctx)
	return true
}

// ping sends a ping every PingInterval and closes a connection from which
// nothing came for twice that.
func (s *wsSession) ping(ctx context.Context) {
	defer s.wg.Done()
	every := s.t.opts.PingInterval
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		s.mu.Lock()
		quiet := time.Since(s.lastSeen)
		s.mu.Unlock()
		if quiet >= 2*every {
			go s.close(websocket.StatusGoingAway, fmt.Sprintf("no pong within %s", 2*every))
			return
		}
		s.sendMu.Lock()
		s.write(wsOut{Type: "ping"})
		s.sendMu.Unlock()
	}
}

func (s *wsSession) subscribe(m wsIn) bool {
	s.mu.Lock()
	if s.opCtx == nil {
		s.mu.Unlock()
		s.close(closeUnauthorized, "Unauthorized")
		return false
	}
	if _, live := s.ops[m.ID]; live {
		s.mu.Unlock()
		s.close(closeSubscriberExists, fmt.Sprintf("Subscriber for %s already exists", m.ID))
		return false
	}
	ctx, cancel := context.WithCancel(s.opCtx)
	op := &wsOp{cancel: cancel, slot: &opSlot{}}
	s.ops[m.ID] = op
	s.wg.Add(1)
	s.mu.Unlock()
	go s.execute(withOpSlot(ctx, op.slot), m.ID, op, m.params, time.Now())
	return true
}

// execute runs one operation and sends its messages.
func (s *wsSession) execute(ctx context.Context, id string, op *wsOp, params *graphql.RawParams, start time.Time) {
	defer s.wg.Done()
	defer op.cancel()
	defer func() {
		s.mu.Lock()
		if s.ops[id] == op {
			delete(s.ops, id)
		}
		s.mu.Unlock()
	}()
	ctx = graphql.StartOperationTrace(ctx)
	errs := &subscriptionErrors{}
	ctx = context.WithValue(ctx, subscriptionErrorsKey{}, errs)
	params.Headers = s.header
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}

	oc, reqErrs := s.exec.CreateOperationContext(ctx, params)
	if reqErrs != nil {
		resp := s.exec.DispatchError(graphql.WithOperationContext(ctx, oc), reqErrs)
		s.send(id, op, wsOut{Type: "error", Payload: mustJSON(resp.Errors)})
		return
	}
	ctx = graphql.WithOperationContext(ctx, oc)
	defer func() {
		if p := recover(); p != nil {
			err := oc.Recover(ctx, p) // logs it (NewHandler's recover func)
			var gqlErr *gqlerror.Error
			if !errors.As(err, &gqlErr) {
				gqlErr = &gqlerror.Error{Message: "internal error", Extensions: map[string]any{"code": "INTERNAL_SERVER_ERROR"}}
			}
			s.send(id, op, wsOut{Type: "error", Payload: mustJSON(gqlerror.List{gqlErr})})
		}
	}()
	responses, ctx := s.exec.DispatchOperation(ctx, oc)
	ended := false // an error message went out: the operation is over
	for first := true; ; first = false {
		// Called until it says nil, even after the end: wsGate frees the
		// subscription's slot then.
		resp := responses(ctx)
		if resp == nil {
			break
		}
		if ended {
			continue
		}
		if first && len(resp.Data) == 0 && len(resp.Errors) > 0 {
			// Refused before it ran (not found, rate limited, too many
			// subscriptions): an error message, which ends it.
			s.send(id, op, wsOut{Type: "error", Payload: mustJSON(resp.Errors)})
			ended = true
			op.cancel()
			continue
		}
		b, err := marshalResponse(resp)
		if err != nil {
			panic(fmt.Errorf("marshal response: %w", err))
		}
		s.send(id, op, wsOut{Type: "next", Payload: b})
	}
	switch {
	case ended:
	case s.connectionEnding():
		// Shutdown or expired credentials: the close that follows says so;
		// a complete would tell the client the stream ended normally.
	case len(errs.list()) > 0:
		s.send(id, op, wsOut{Type: "error", Payload: mustJSON(errs.list())})
	default:
		s.send(id, op, wsOut{Type: "complete"})
	}
}

// connectionEnding reports whether the connection's operations context
// has ended (shutdown, expired credentials, the connection closing).
func (s *wsSession) connectionEnding() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing || s.opCtx == nil || s.opCtx.Err() != nil
}

// send writes a message of op, unless the client completed op or the
// connection is closing.
func (s *wsSession) send(id string, op *wsOp, m wsOut) {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	s.mu.Lock()
	live := s.ops[id] == op && !s.closing
	s.mu.Unlock()
	if live {
		m.ID = id
		s.write(m)
	}
}

// write sends m; call it with sendMu held. A failed write ends the
// connection (coder/websocket closes it), and with it the read loop.
func (s *wsSession) write(m wsOut) {
	b, err := json.Marshal(m)
	if err != nil {
		panic(fmt.Errorf("marshal %s message: %w", m.Type, err))
	}
	// Not s.ctx: coder/websocket drops the connection when a write's
	// context ends mid-frame, and close cancels s.ctx before its close frame.
	ctx, cancel := context.WithTimeout(context.Background(), wsWriteTimeout)
	defer cancel()
	if err := s.conn.Write(ctx, websocket.MessageText, b); err != nil && s.ctx.Err() == nil {
		s.t.log.Debug("websocket write", "type", m.Type, "err", err)
	}
}

// close ends the operations and closes the connection with code, once.
// It waits for the close handshake (at most a few seconds).
func (s *wsSession) close(code websocket.StatusCode, reason string) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return
	}
	s.closing = true
	s.mu.Unlock()
	s.cancel()
	const maxReason = 123 // a close frame's payload is at most 125 bytes
	if len(reason) > maxReason {
		reason = strings.ToValidUTF8(reason[:maxReason-3], "") + "..."
	}
	_ = s.conn.Close(code, reason)
}

// wsIn is a message from the client, checked by parseWSMessage.
type wsIn struct {
	Type    string
	ID      string
	Payload json.RawMessage // nil when absent or null
	params  *graphql.RawParams
}

// wsOut is a message to the client.
type wsOut struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// parseWSMessage decodes a message and checks it as graphql-ws's
// validateMessage does: an error means close with 4400.
func parseWSMessage(data []byte) (wsIn, error) {
	if !utf8.Valid(data) {
		return wsIn{}, errors.New("not UTF-8")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil || fields == nil {
		return wsIn{}, errors.New("a message must be a JSON object")
	}
	var m wsIn
	if err := json.Unmarshal(fields["type"], &m.Type); err != nil || m.Type == "" {
		return wsIn{}, errors.New("type must be a non-empty string")
	}
	payload := fields["payload"]
	if isJSONNull(payload) {
		payload = nil
	}
	needID := func() error {
		if err := json.Unmarshal(fields["id"], &m.ID); err != nil || m.ID == "" {
			return fmt.Errorf("%s needs an id: a non-empty string", m.Type)
		}
		return nil
	}
	switch m.Type {
	case "connection_init", "connection_ack", "ping", "pong":
		if payload != nil && !isJSONObject(payload) {
			return wsIn{}, fmt.Errorf("the payload of %s must be an object", m.Type)
		}
	case "subscribe":
		if err := needID(); err != nil {
			return wsIn{}, err
		}
		var p struct {
			Query         *string         `json:"query"`
			OperationName json.RawMessage `json:"operationName"`
			Variables     json.RawMessage `json:"variables"`
			Extensions    json.RawMessage `json:"extensions"`
		}
		if !isJSONObject(payload) || json.Unmarshal(payload, &p) != nil || p.Query == nil {
			return wsIn{}, errors.New("the payload of subscribe must be an object with a query string")
		}
		m.params = &graphql.RawParams{Query: *p.Query}
		var err error
		if m.params.OperationName, err = jsonString(p.OperationName); err != nil {
			return wsIn{}, errors.New("operationName must be a string")
		}
		if m.params.Variables, err = jsonObject(string(p.Variables)); err != nil {
			return wsIn{}, errors.New("variables must be an object")
		}
		if m.params.Extensions, err = jsonObject(string(p.Extensions)); err != nil {
			return wsIn{}, errors.New("extensions must be an object")
		}
	case "complete", "next", "error":
		if err := needID(); err != nil {
			return wsIn{}, err
		}
	default:
		return wsIn{}, fmt.Errorf("unknown message type %q", truncate(m.Type, 32))
	}
	m.Payload = payload
	return m, nil
}

func isJSONNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(bytes.TrimSpace(raw)) == "null"
}

func isJSONObject(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 0 && t[0] == '{'
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// subscriptionErrors collects the errors that end a subscription's stream
// (forward, addSubscriptionError): they go out as its error message.
type subscriptionErrors struct {
	mu   sync.Mutex
	errs gqlerror.List
}

type subscriptionErrorsKey struct{}

func (e *subscriptionErrors) add(err *gqlerror.Error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.errs = append(e.errs, err)
}

func (e *subscriptionErrors) list() gqlerror.List {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.errs
}

// addSubscriptionError ends a subscription with err: an error message on
// graphql-transport-ws, gqlgen's on the legacy transport; nothing over
// HTTP (which serves no subscriptions).
func addSubscriptionError(ctx context.Context, err *gqlerror.Error) {
	if e, ok := ctx.Value(subscriptionErrorsKey{}).(*subscriptionErrors); ok {
		e.add(err)
		return
	}
	if wsConnFrom(ctx) != nil {
		transport.AddSubscriptionError(ctx, err)
	}
}

// opSlot frees an operation's place in the per-connection subscription
// bound (wsGate) when the client completes it, not only when its stream
// has wound down: a client that completes one and subscribes again at
// once is not refused.
type opSlot struct {
	mu    sync.Mutex
	freed bool
	fn    func()
}

type opSlotKey struct{}

func withOpSlot(ctx context.Context, s *opSlot) context.Context {
	return context.WithValue(ctx, opSlotKey{}, s)
}

func opSlotFrom(ctx context.Context) *opSlot {
	s, _ := ctx.Value(opSlotKey{}).(*opSlot)
	return s
}

// onFree sets what free does (at once if free was called already).
func (s *opSlot) onFree(fn func()) {
	s.mu.Lock()
	s.fn = fn
	freed := s.freed
	s.mu.Unlock()
	if freed {
		fn()
	}
}

func (s *opSlot) free() {
	s.mu.Lock()
	s.freed = true
	fn := s.fn
	s.mu.Unlock()
	if fn != nil {
		fn()
	}
}
