package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/orderstream/orderstream/internal/order"
)

// presentError maps errors to GraphQL errors with extensions.code. An
// *order.Error keeps its code and message (and, for errors about an accepted
// order, its id, status and eventId); errors gqlgen coded itself (parse and
// validation) stay as they are; anything else is logged and shown as
// INTERNAL_SERVER_ERROR without details.
func presentError(log *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		gqlErr := graphql.DefaultErrorPresenter(ctx, err)
		var oe *order.Error
		if errors.As(err, &oe) {
			ext := map[string]any{"code": oe.Code}
			msg := oe.Message
			if oe.Field != "" {
				ext["field"] = oe.Field
				msg = oe.Field + ": " + oe.Message
			}
			if o := oe.Order; o != nil && o.ID != 0 {
				ext["orderId"] = strconv.FormatInt(o.ID, 10)
				ext["status"] = string(o.Status)
				ext["eventId"] = o.EventID
			}
			if oe.Code == order.EUNAVAILABLE || oe.Code == order.EINTERNAL {
				log.WarnContext(ctx, "graphql request failed", "code", oe.Code, "path", gqlErr.Path.String(), "order_id", orderID(oe), "err", err)
			}
			return &gqlerror.Error{Message: msg, Path: gqlErr.Path, Locations: gqlErr.Locations, Extensions: ext}
		}
		if code, ok := gqlErr.Extensions["code"]; ok && gqlErr.Err == nil {
			// Parse and validation errors from gqlgen. A variable whose value
			// does not fit its type is bad input, as Apollo Server reports it.
			if code == errcode.ValidationFailed && len(gqlErr.Path) > 0 && gqlErr.Path[0] == ast.PathName("variable") {
				gqlErr.Extensions["code"] = order.EINVALID
				if len(gqlErr.Path) > 1 {
					gqlErr.Extensions["field"] = gqlErr.Path[1:].String()
				}
			}
			return gqlErr
		}
		if gqlErr.Err == nil {
			// Transport errors from gqlgen itself. Its JSON decoding error
			// echoes the whole body: never send that back.
			msg := gqlErr.Message
			switch {
			case strings.HasPrefix(msg, "json request body could not be decoded"):
				msg = "the request body is not valid JSON"
			case strings.HasPrefix(msg, "could not read request body"):
				msg = fmt.Sprintf("the request body could not be read (at most %d bytes)", MaxBodyBytes)
			}
			return &gqlerror.Error{Message: msg, Extensions: map[string]any{"code": "BAD_REQUEST"}}
		}
		if errors.Is(err, context.Canceled) {
			return &gqlerror.Error{Message: "request cancelled", Path: gqlErr.Path, Extensions: map[string]any{"code": "CANCELLED"}}
		}
		log.ErrorContext(ctx, "graphql internal error", "path", gqlErr.Path.String(), "err", err)
		return &gqlerror.Error{Message: "internal error", Path: gqlErr.Path, Locations: gqlErr.Locations,
			Extensions: map[string]any{"code": order.EINTERNAL}}
	}
}

// orderID is the id of the order an error is about, or 0.
func orderID(oe *order.Error) int64 {
	if oe.Order == nil {
		return 0
	}
	return oe.Order.ID
}
