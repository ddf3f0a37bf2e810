package graph

import (
	"context"
	"errors"
	"log/slog"
	"strconv"

	"github.com/99designs/gqlgen/graphql"
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
				log.Warn("graphql request failed", "code", oe.Code, "path", gqlErr.Path.String(), "err", err)
			}
			return &gqlerror.Error{Message: msg, Path: gqlErr.Path, Locations: gqlErr.Locations, Extensions: ext}
		}
		if _, ok := gqlErr.Extensions["code"]; ok && gqlErr.Err == nil {
			return gqlErr // parse and validation errors from gqlgen
		}
		if errors.Is(err, context.Canceled) {
			return &gqlerror.Error{Message: "request cancelled", Path: gqlErr.Path, Extensions: map[string]any{"code": "CANCELLED"}}
		}
		log.Error("graphql internal error", "path", gqlErr.Path.String(), "err", err)
		return &gqlerror.Error{Message: "internal error", Path: gqlErr.Path, Locations: gqlErr.Locations,
			Extensions: map[string]any{"code": order.EINTERNAL}}
	}
}
