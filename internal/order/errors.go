package order

import (
	"errors"
	"fmt"
)

// Error codes shown to clients (GraphQL extensions.code, REST error.code).
const (
	EINVALID     = "BAD_USER_INPUT"
	ENOTFOUND    = "NOT_FOUND"
	ECONFLICT    = "CONFLICT"
	ETIMEOUT     = "ACK_TIMEOUT"
	EPROCESSING  = "PROCESSING_FAILED"
	EUNAVAILABLE = "UNAVAILABLE"
	EINTERNAL    = "INTERNAL_SERVER_ERROR"
	// EUNAUTHENTICATED: no valid credentials (missing, invalid or expired token).
	EUNAUTHENTICATED = "UNAUTHENTICATED"
	// EFORBIDDEN: the credentials do not allow the operation (creating an
	// order for another user). Never used where it would reveal that an
	// order exists: another user's order is ENOTFOUND.
	EFORBIDDEN = "FORBIDDEN"
)

// Error is an error meant for the user of the API. Anything that is not an
// *Error is an internal error: it is logged and shown as EINTERNAL.
type Error struct {
	Code    string
	Message string
	// Field names the offending input field for EINVALID ("items[2].price").
	Field string
	// Order is the order's state when the error concerns an accepted order
	// (ACK_TIMEOUT, PROCESSING_FAILED), so the client knows what happened.
	Order *Order
	// Err is the underlying cause, for logs only.
	Err error
}

func (e *Error) Error() string {
	msg := e.Code + ": " + e.Message
	if e.Field != "" {
		msg = e.Code + ": " + e.Field + ": " + e.Message
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns an EINVALID error about one input field.
func Invalid(field, format string, args ...any) *Error {
	return &Error{Code: EINVALID, Field: field, Message: fmt.Sprintf(format, args...)}
}

// Unavailable wraps err, a failure to reach a dependency, as EUNAVAILABLE.
func Unavailable(what string, err error) *Error {
	return &Error{Code: EUNAVAILABLE, Message: what + " is unavailable, retry later", Err: err}
}

// ErrorCode returns the code of err, EINTERNAL when err is not an *Error,
// or "" when err is nil.
func ErrorCode(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	default:
		return EINTERNAL
	}
}

// ErrorMessage returns the user-facing message of err. Internal errors get a
// generic message so that nothing about the internals leaks.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
