package graph

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/coder/websocket"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/orderstream/orderstream/graph/model"
	"github.com/orderstream/orderstream/internal/order"
)

// WebsocketOptions configure subscriptions: the websocket transport on
// /graphql (graphql-transport-ws, wsproto.go, and the older graphql-ws
// protocol).
type WebsocketOptions struct {
	// Authenticate checks the Authorization value of the connection_init
	// payload ("Bearer <token>") and returns ctx carrying the principal,
	// ending when the credentials expire. Nil: authentication is off
	// (AUTH_DISABLED) and every connection is accepted.
	Authenticate func(ctx context.Context, authorization string) (context.Context, error)
	// Allow takes one request from the rate limit of ctx's principal; it is
	// asked for the connection and for each operation on it. Nil: no limit.
	Allow func(ctx context.Context) (ok bool, retryAfter time.Duration)
	// Origins are the browser origins allowed besides the API's own host
	// (CORS_ALLOWED_ORIGINS: the same list as HTTP CORS).
	Origins []string
	// PingInterval is how often the server pings; a client that does not
	// answer within twice that is disconnected (default 25 s).
	PingInterval time.Duration
	// InitTimeout is how long a connection may wait before its
	// connection_init (default 10 s; then it is closed with 4408).
	InitTimeout time.Duration
	// MaxSubscriptions bounds the subscriptions of one connection (default 100).
	MaxSubscriptions int
	// Shutdown, when set, ends when the server shuts down: the websocket
	// connections are closed then (hijacked connections are not drained by
	// http.Server.Shutdown), so that clients reconnect elsewhere.
	Shutdown context.Context
}

func (o WebsocketOptions) withDefaults() WebsocketOptions {
	if o.PingInterval <= 0 {
		o.PingInterval = 25 * time.Second
	}
	if o.MaxSubscriptions <= 0 {
		o.MaxSubscriptions = 100
	}
	if o.InitTimeout <= 0 {
		o.InitTimeout = 10 * time.Second
	}
	return o
}

// wsConn marks the context of a websocket connection's operations.
type wsConn struct{ subscriptions atomic.Int64 }

type wsConnKey struct{}

func wsConnFrom(ctx context.Context) *wsConn {
	c, _ := ctx.Value(wsConnKey{}).(*wsConn)
	return c
}

// acceptOptions are the websocket handshake options: the origin check of
// HTTP CORS.
func (o WebsocketOptions) acceptOptions(subprotocols []string) *websocket.AcceptOptions {
	if slices.Contains(o.Origins, "*") {
		return &websocket.AcceptOptions{Subprotocols: subprotocols, InsecureSkipVerify: true} // as CORS allows any origin
	}
	return &websocket.AcceptOptions{Subprotocols: subprotocols, OriginPatterns: o.Origins}
}

// refusal is why connect refused a connection: the close code and reason.
type refusal struct {
	code   websocket.StatusCode
	reason string
	err    error
}

// connect admits a connection at its connection_init: the Authorization
// value of the payload, the rate limit, the end on shutdown. It returns
// the context of the connection's operations (carrying the principal and
// the wsConn; it ends when the credentials expire, at shutdown, or with
// ctx), or why the connection is refused: 4403 for credentials, 4429 over
// the rate limit.
func (o WebsocketOptions) connect(ctx context.Context, authorization string, log *slog.Logger) (context.Context, *refusal) {
	if o.Authenticate != nil {
		actx, err := o.Authenticate(ctx, authorization)
		if err != nil {
			log.Info("websocket connection refused", "err", err)
			return ctx, &refusal{code: closeForbidden, reason: "Forbidden", err: err}
		}
		ctx = actx
	}
	if o.Allow != nil {
		if ok, _ := o.Allow(ctx); !ok {
			return ctx, &refusal{code: closeTooManyRequests, reason: "Too many requests", err: fmt.Errorf("rate limited")}
		}
	}
	if o.Shutdown != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		// Unregister from Shutdown when the connection ends: it lives
		// as long as the process and would otherwise keep every
		// connection's context.
		stop := context.AfterFunc(o.Shutdown, cancel)
		context.AfterFunc(ctx, func() { stop() })
	}
	return context.WithValue(ctx, wsConnKey{}, &wsConn{}), nil
}

// legacyWebsocketTransport serves the older subscriptions-transport-ws
// protocol (subprotocol graphql-ws, or none) with gqlgen's transport, with
// the same admission as graphql-transport-ws (wsproto.go), which is served
// by wsTransport and never reaches this one.
func legacyWebsocketTransport(o WebsocketOptions, log *slog.Logger) transport.Websocket {
	return transport.Websocket{
		Implementation: transport.CoderWebsocketImplementation{AcceptOptions: *o.acceptOptions(nil)},
		InitTimeout:    o.InitTimeout,
		InitFunc: func(ctx context.Context, p transport.InitPayload) (context.Context, *transport.InitPayload, error) {
			ctx, no := o.connect(ctx, p.Authorization(), log)
			if no != nil {
				ctx = transport.WithWebsocketCloseCode(ctx, int(no.code))
				return transport.AppendCloseReason(ctx, no.reason), nil, no.err
			}
			return ctx, nil, nil
		},
		ErrorFunc: func(ctx context.Context, err error) {
			log.Debug("websocket", "err", err)
		},
		KeepAlivePingInterval: o.PingInterval,
	}
}

// wsGate is the extension that keeps subscriptions on websockets and
// applies the rate limit and the subscription bound to each operation on
// a websocket (HTTP requests are limited by the HTTP middleware).
type wsGate struct{ opts WebsocketOptions }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationInterceptor
} = wsGate{}

func (wsGate) ExtensionName() string                          { return "OrderStreamWebsocket" }
func (wsGate) Validate(schema graphql.ExecutableSchema) error { return nil }

func (g wsGate) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	oc := graphql.GetOperationContext(ctx)
	sub := oc.Operation != nil && oc.Operation.Operation == ast.Subscription
	conn := wsConnFrom(ctx)
	if conn == nil {
		if sub {
			return refuse("BAD_REQUEST", "subscriptions are served over a websocket on /graphql (graphql-transport-ws)", nil)
		}
		return next(ctx)
	}
	if g.opts.Allow != nil {
		if ok, wait := g.opts.Allow(ctx); !ok {
			secs := int(math.Ceil(wait.Seconds()))
			return refuse("RATE_LIMITED", fmt.Sprintf("too many requests: retry after %d s", secs), map[string]any{"retryAfterSeconds": secs})
		}
	}
	if !sub {
		return next(ctx)
	}
	if conn.subscriptions.Add(1) > int64(g.opts.MaxSubscriptions) {
		conn.subscriptions.Add(-1)
		return refuse("TOO_MANY_SUBSCRIPTIONS", fmt.Sprintf("at most %d subscriptions per connection", g.opts.MaxSubscriptions), nil)
	}
	var once sync.Once
	free := func() { once.Do(func() { conn.subscriptions.Add(-1) }) }
	if slot := opSlotFrom(ctx); slot != nil {
		// graphql-transport-ws frees the slot as soon as the client
		// completes the subscription, before it has wound down.
		slot.onFree(free)
	}
	h := next(ctx)
	return func(ctx context.Context) *graphql.Response {
		r := h(ctx)
		if r == nil { // the end of the subscription
			free()
		}
		return r
	}
}

func refuse(code, msg string, ext map[string]any) graphql.ResponseHandler {
	if ext == nil {
		ext = map[string]any{}
	}
	ext["code"] = code
	return graphql.OneShot(&graphql.Response{Errors: gqlerror.List{{Message: msg, Extensions: ext}}})
}

// forward turns a Watcher into the channel of a subscription resolver.
// When the watch ends early the subscription ends with its error.
func forward(ctx context.Context, w *order.Watcher) <-chan *model.Order {
	out := make(chan *model.Order)
	go func() {
		defer close(out)
		for o := range w.C {
			select {
			case out <- toOrder(o):
			case <-ctx.Done():
				return
			}
		}
		if err := w.Err(); err != nil {
			addSubscriptionError(ctx, &gqlerror.Error{Message: order.ErrorMessage(err),
				Extensions: map[string]any{"code": order.ErrorCode(err)}})
		}
	}()
	return out
}
