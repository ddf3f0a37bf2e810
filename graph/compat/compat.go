// Package compat finds the changes between two GraphQL schemas that break
// existing clients, for the schema check of partners who integrate
// schema-first from our published SDL.
package compat

import (
	"fmt"
	"sort"

	"github.com/vektah/gqlparser/v2/ast"
)

// Breaking lists what in next breaks clients written against base:
// removed types, fields, arguments, input fields and enum values, changed
// types, and new required arguments or input fields. Additions are fine.
func Breaking(base, next *ast.Schema) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	for name, bt := range base.Types {
		if bt.BuiltIn {
			continue
		}
		nt, ok := next.Types[name]
		if !ok {
			add("type %s was removed", name)
			continue
		}
		if nt.Kind != bt.Kind {
			add("type %s changed kind from %s to %s", name, bt.Kind, nt.Kind)
			continue
		}
		switch bt.Kind {
		case ast.Object, ast.Interface:
			for _, bf := range bt.Fields {
				if len(bf.Name) > 1 && bf.Name[:2] == "__" {
					continue
				}
				nf := nt.Fields.ForName(bf.Name)
				if nf == nil {
					add("field %s.%s was removed", name, bf.Name)
					continue
				}
				if bf.Type.String() != nf.Type.String() {
					add("field %s.%s changed type from %s to %s", name, bf.Name, bf.Type, nf.Type)
				}
				for _, ba := range bf.Arguments {
					na := nf.Arguments.ForName(ba.Name)
					if na == nil {
						add("argument %s.%s(%s) was removed", name, bf.Name, ba.Name)
					} else if ba.Type.String() != na.Type.String() {
						add("argument %s.%s(%s) changed type from %s to %s", name, bf.Name, ba.Name, ba.Type, na.Type)
					}
				}
				for _, na := range nf.Arguments {
					if bf.Arguments.ForName(na.Name) == nil && na.Type.NonNull && na.DefaultValue == nil {
						add("argument %s.%s(%s) is new and required", name, bf.Name, na.Name)
					}
				}
			}
		case ast.InputObject:
			for _, bf := range bt.Fields {
				nf := nt.Fields.ForName(bf.Name)
				if nf == nil {
					add("input field %s.%s was removed", name, bf.Name)
				} else if bf.Type.String() != nf.Type.String() {
					add("input field %s.%s changed type from %s to %s", name, bf.Name, bf.Type, nf.Type)
				}
			}
			for _, nf := range nt.Fields {
				if bt.Fields.ForName(nf.Name) == nil && nf.Type.NonNull && nf.DefaultValue == nil {
					add("input field %s.%s is new and required", name, nf.Name)
				}
			}
		case ast.Enum:
			for _, bv := range bt.EnumValues {
				if nt.EnumValues.ForName(bv.Name) == nil {
					add("enum value %s.%s was removed", name, bv.Name)
				}
			}
		case ast.Union:
			for _, bm := range bt.Types {
				found := false
				for _, nm := range nt.Types {
					found = found || nm == bm
				}
				if !found {
					add("union %s no longer includes %s", name, bm)
				}
			}
		}
	}
	sort.Strings(out)
	return out
}
