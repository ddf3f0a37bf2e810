package graph

import (
	"strconv"

	"github.com/orderstream/orderstream/graph/model"
	"github.com/orderstream/orderstream/internal/order"
)

func fromItemInputs(in []*model.OrderItemInput) []order.Item {
	items := make([]order.Item, 0, len(in))
	for _, it := range in {
		if it == nil {
			continue
		}
		items = append(items, order.Item{Name: it.Name, Quantity: int64(it.Quantity), Price: it.Price})
	}
	return items
}

func toOrder(o order.Order) *model.Order {
	items := make([]*model.OrderItem, len(o.Items))
	for i, it := range o.Items {
		items[i] = &model.OrderItem{Name: it.Name, Quantity: int(it.Quantity), Price: it.Price}
	}
	return &model.Order{
		ID:            strconv.FormatInt(o.ID, 10),
		ExternalID:    o.ExternalID,
		UserID:        o.UserID,
		Status:        model.OrderStatus(o.Status),
		EventID:       o.EventID,
		Items:         items,
		Total:         o.Total,
		CancelReason:  nonEmpty(o.CancelReason),
		FailureReason: nonEmpty(o.FailureReason),
		CreatedAt:     o.CreatedAt,
		UpdatedAt:     o.UpdatedAt,
	}
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func toConnection(p order.Page) *model.OrderConnection {
	c := &model.OrderConnection{
		Edges:    make([]*model.OrderEdge, len(p.Orders)),
		PageInfo: &model.PageInfo{HasNextPage: p.HasNext, HasPreviousPage: p.HasPrevious},
	}
	for i, o := range p.Orders {
		cursor := order.Cursor{CreatedAt: o.CreatedAt, ID: o.ID}.String()
		c.Edges[i] = &model.OrderEdge{Cursor: cursor, Node: toOrder(o)}
		if i == 0 {
			c.PageInfo.StartCursor = &cursor
		}
		c.PageInfo.EndCursor = &cursor
	}
	return c
}
