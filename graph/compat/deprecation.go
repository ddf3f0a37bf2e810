package compat

import (
	"fmt"
	"regexp"
	"sort"
	"time"

	"github.com/vektah/gqlparser/v2/ast"
)

// deprecationDates is the part of a @deprecated reason that dates it:
// "(deprecated 2026-11-26)" or "(deprecated 2026-11-26, removal after
// 2027-05-26)", anywhere in the reason.
var deprecationDates = regexp.MustCompile(`\(deprecated (\d{4}-\d{2}-\d{2})(?:, removal after (\d{4}-\d{2}-\d{2}))?\)`)

// Deprecations lists the @deprecated directives of s that break the
// deprecation rule: each needs a reason that says what to use instead and
// when the deprecation started, in the form
//
//	@deprecated(reason: "Use items instead (deprecated 2026-11-26, removal after 2027-05-26)")
//
// The removal date is optional; when given it must not be before the
// deprecation date. Dates are real calendar dates (YYYY-MM-DD). Partners
// read the dates to plan their migration; we remove nothing before the
// removal date.
func Deprecations(s *ast.Schema) []string {
	var out []string
	check := func(where string, dirs ast.DirectiveList) {
		d := dirs.ForName("deprecated")
		if d == nil {
			return
		}
		if problem := checkDeprecation(d); problem != "" {
			out = append(out, fmt.Sprintf("@deprecated on %s: %s", where, problem))
		}
	}
	for name, t := range s.Types {
		if t.BuiltIn {
			continue
		}
		for _, f := range t.Fields {
			if len(f.Name) > 1 && f.Name[:2] == "__" {
				continue
			}
			check(name+"."+f.Name, f.Directives)
			for _, a := range f.Arguments {
				check(fmt.Sprintf("%s.%s(%s)", name, f.Name, a.Name), a.Directives)
			}
		}
		for _, v := range t.EnumValues {
			check(name+"."+v.Name, v.Directives)
		}
	}
	sort.Strings(out)
	return out
}

func checkDeprecation(d *ast.Directive) string {
	const want = `want a reason such as "Use x instead (deprecated 2026-11-26, removal after 2027-05-26)"`
	arg := d.Arguments.ForName("reason")
	if arg == nil || arg.Value == nil || arg.Value.Kind != ast.StringValue || arg.Value.Raw == "" {
		return "no reason; " + want
	}
	m := deprecationDates.FindStringSubmatch(arg.Value.Raw)
	if m == nil {
		return fmt.Sprintf("reason %q has no date; %s", arg.Value.Raw, want)
	}
	since, err := time.Parse(time.DateOnly, m[1])
	if err != nil {
		return fmt.Sprintf("reason %q: %s is not a date", arg.Value.Raw, m[1])
	}
	if m[2] != "" {
		removal, err := time.Parse(time.DateOnly, m[2])
		if err != nil {
			return fmt.Sprintf("reason %q: %s is not a date", arg.Value.Raw, m[2])
		}
		if removal.Before(since) {
			return fmt.Sprintf("reason %q: removal date %s is before the deprecation date %s", arg.Value.Raw, m[2], m[1])
		}
	}
	return ""
}
