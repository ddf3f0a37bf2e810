// Package rest is the REST mirror of the GraphQL API, kept for older
// clients: POST /orders and /orders/by-external/{external_id}?user_id=…
// (GET, PUT, DELETE). It calls the same order.Service. openapi.json
// documents it (served at GET /openapi.json); every error, under /orders
// unknown routes and methods included, is {"error": {"code", "message",
// "field"?, "order"?}}.
package rest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/orderstream/orderstream/internal/order"
)

// MaxBodyBytes bounds a request body.
const MaxBodyBytes = 1 << 20

// Handler serves the REST mirror.
type Handler struct {
	orders *order.Service
	log    *slog.Logger
}

// Route is one REST route: a ServeMux pattern and its handler.
type Route struct {
	Pattern string
	Handler http.Handler
}

// Routes returns the REST routes, for the caller to mount (with its
// middleware in front of each: they write their errors with WriteError):
// the operations, then "/orders" and "/orders/" for the methods and paths
// no route takes (fallback: 404 and 405 in the REST error body). The
// OpenAPI document (OpenAPIHandler) is mounted apart: it needs no token.
func Routes(svc *order.Service, log *slog.Logger) []Route {
	h := &Handler{orders: svc, log: log}
	rs := h.routes()
	out := make([]Route, 0, len(rs)+2)
	for _, rt := range rs {
		out = append(out, Route{rt.method + " " + rt.path, rt.handler})
	}
	fb := fallback(rs)
	return append(out, Route{"/orders", fb}, Route{"/orders/", fb})
}

type itemsPayload struct {
	Items []order.Item `json:"items"`
}

type createRequest struct {
	ExternalID string     `json:"external_id"`
	UserID     string     `json:"user_id"`
	Payload    itemsInput `json:"payload"`
}

type updateRequest struct {
	Payload         itemsInput `json:"payload"`
	ExpectedEventID *jsonInt   `json:"expected_event_id"`
}

type cancelRequest struct {
	Reason          string   `json:"reason"`
	ExpectedEventID *jsonInt `json:"expected_event_id"`
}

// orderJSON is an order as the REST mirror shows it: statuses in lowercase,
// money as JSON numbers written exactly ("total": 59.98).
type orderJSON struct {
	ID            int64         `json:"id"`
	ExternalID    string        `json:"external_id"`
	UserID        string        `json:"user_id"`
	Status        string        `json:"status"`
	EventID       int           `json:"event_id"`
	Payload       itemsPayload  `json:"payload"`
	Total         order.Decimal `json:"total"`
	CancelReason  string        `json:"cancel_reason,omitempty"`
	FailureReason string        `json:"failure_reason,omitempty"`
	CreatedAt     time.Time     `json:"created_at"`
	UpdatedAt     time.Time     `json:"updated_at"`
}

func toJSON(o order.Order) orderJSON {
	return orderJSON{
		ID: o.ID, ExternalID: o.ExternalID, UserID: o.UserID, Status: strings.ToLower(string(o.Status)),
		EventID: o.EventID, Payload: itemsPayload{Items: o.Items}, Total: o.Total,
		CancelReason: o.CancelReason, FailureReason: o.FailureReason, CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt,
	}
}

func (h *Handler) create(w http.ResponseWriter, r *http.Request) {
	var req createRequest
	if !h.decode(w, r, &req, false) {
		return
	}
	items, err := req.Payload.items()
	if err != nil {
		h.fail(w, r, err)
		return
	}
	o, created, err := h.orders.Create(r.Context(), order.CreateInput{ExternalID: req.ExternalID, UserID: req.UserID, Items: items})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		w.Header().Set("Location", orderPath(o))
	}
	writeJSON(w, status, toJSON(o))
}

// orderPath is the order's URL path, relative to the API's root.
func orderPath(o order.Order) string {
	return "/orders/by-external/" + url.PathEscape(o.ExternalID) + "?user_id=" + url.QueryEscape(o.UserID)
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request) {
	o, err := h.orders.ByExternalID(r.Context(), r.PathValue("external_id"), r.URL.Query().Get("user_id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toJSON(o))
}

func (h *Handler) update(w http.ResponseWriter, r *http.Request) {
	var req updateRequest
	if !h.decode(w, r, &req, false) {
		return
	}
	items, err := req.Payload.items()
	if err != nil {
		h.fail(w, r, err)
		return
	}
	o, err := h.orders.Update(r.Context(), order.UpdateInput{
		ExternalID: r.PathValue("external_id"), UserID: r.URL.Query().Get("user_id"),
		Items: items, ExpectedEventID: req.ExpectedEventID.ptr(),
	})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toJSON(o))
}

func (h *Handler) cancel(w http.ResponseWriter, r *http.Request) {
	var req cancelRequest
	if !h.decode(w, r, &req, true) {
		return
	}
	o, err := h.orders.Cancel(r.Context(), order.CancelInput{
		ExternalID: r.PathValue("external_id"), UserID: r.URL.Query().Get("user_id"),
		Reason: req.Reason, ExpectedEventID: req.ExpectedEventID.ptr(),
	})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toJSON(o))
}

// decode reads a JSON body into v. Only application/json is accepted and
// unknown fields are refused. An empty body is fine when optional.
func (h *Handler) decode(w http.ResponseWriter, r *http.Request, v any, optional bool) bool {
	if optional && r.ContentLength == 0 {
		return true
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		WriteError(w, http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE", "Content-Type must be application/json", nil)
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var raw json.RawMessage
	err := dec.Decode(&raw)
	if err == nil && dec.More() {
		err = errTrailingData
	}
	if err == nil {
		if string(raw) == "null" { // Decode would take it for an empty object
			err = errNotObject
		} else {
			obj := json.NewDecoder(bytes.NewReader(raw))
			obj.DisallowUnknownFields()
			err = obj.Decode(v)
		}
	}
	if errors.Is(err, io.EOF) && optional {
		return true
	}
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			WriteError(w, http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE", fmt.Sprintf("request body must be at most %d bytes", MaxBodyBytes), nil)
			return false
		}
		var details map[string]any
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) && typ.Field != "" {
			details = map[string]any{"field": typ.Field} // the JSON path: payload.items.quantity
		}
		WriteError(w, http.StatusBadRequest, order.EINVALID, "invalid JSON body: "+jsonErrorMessage(err), details)
		return false
	}
	return true
}

var (
	errNotObject    = errors.New("the body must be a JSON object")
	errTrailingData = errors.New("unexpected data after the JSON object")
)

// jsonErrorMessage describes a decoding error without echoing the body.
func jsonErrorMessage(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("syntax error at byte %d", syn.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("field %q must be %s", typ.Field, typ.Type)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected end of body"
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return strings.TrimPrefix(err.Error(), "json: ")
	case errors.Is(err, errNotObject), errors.Is(err, errTrailingData):
		return err.Error()
	default:
		var oe *order.Error
		if errors.As(err, &oe) { // from order.Decimal's UnmarshalJSON
			return strings.TrimSpace(oe.Field + " " + oe.Message)
		}
		return "malformed JSON"
	}
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := order.ErrorCode(err)
	status := map[string]int{
		order.EINVALID:         http.StatusBadRequest,
		order.EUNAUTHENTICATED: http.StatusUnauthorized,
		order.EFORBIDDEN:       http.StatusForbidden,
		order.ENOTFOUND:        http.StatusNotFound,
		order.ECONFLICT:        http.StatusConflict,
		order.ETIMEOUT:         http.StatusGatewayTimeout,
		order.EPROCESSING:      http.StatusUnprocessableEntity,
		order.EUNAVAILABLE:     http.StatusServiceUnavailable,
	}[code]
	if status == 0 {
		status = http.StatusInternalServerError
		if r.Context().Err() != nil {
			return // the client is gone
		}
		h.log.ErrorContext(r.Context(), "rest request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	details := map[string]any{}
	var oe *order.Error
	if errors.As(err, &oe) {
		if oe.Field != "" {
			details["field"] = restField(oe.Field)
		}
		if o := oe.Order; o != nil && o.ID != 0 {
			details["order"] = toJSON(*o)
		}
	}
	WriteError(w, status, code, order.ErrorMessage(err), details)
}

// WriteError writes the REST mirror's error body, {"error": {"code",
// "message", ...details}}: field for bad input, order for an accepted
// order, retryAfterSeconds for RATE_LIMITED. The middlewares in front of
// the REST routes get it as their error writer.
func WriteError(w http.ResponseWriter, status int, code, message string, details map[string]any) {
	body := map[string]any{}
	maps.Copy(body, details)
	body["code"], body["message"] = code, message
	writeJSON(w, status, map[string]any{"error": body})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
