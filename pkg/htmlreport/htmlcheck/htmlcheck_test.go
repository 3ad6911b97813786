package htmlcheck_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/perfgo/perfgo/pkg/htmlreport/htmlcheck"
)

// TestExternal checks the check itself: every kind of network fetch is
// found, and what a browser does not fetch (an xmlns namespace name, a
// data: URI, a fragment link) is not.
func TestExternal(t *testing.T) {
	for _, tc := range []struct {
		name, page string
		want       []string
		scripts    int
	}{
		{"offline", `<html><body><svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"><image xlink:href="data:image/png;base64,AA"/></svg>` +
			`<a href="#levels">x</a><img src="data:image/png;base64,AA"><style>p{background:url(data:image/png;base64,AA)}</style></body></html>`, nil, 0},
		{"script", `<script src="https://cdn.example/x.js"></script>`, []string{"script src=https://cdn.example/x.js"}, 1},
		{"inline script", `<script>1</script>`, nil, 1},
		{"stylesheet", `<link rel="stylesheet" href="//cdn.example/x.css">`, []string{"link href=//cdn.example/x.css"}, 0},
		{"import", `<style>@import "x.css"; p{color:red}</style>`, []string{`@import "x.css"`}, 0},
		{"style url", `<style>body{background:url( 'http://x/y.png' )}</style>`, []string{`url( 'http://x/y.png' )`}, 0},
		{"style attribute", `<p style="background:url(https://x/y.png)">`, []string{"url(https://x/y.png)"}, 0},
		{"svg image", `<svg><image xlink:href="HTTP://x/y.png"/></svg>`, []string{"image href=HTTP://x/y.png"}, 0},
		{"font", `<style>@font-face{src:url(//fonts.example/f.woff)}</style>`, []string{"url(//fonts.example/f.woff)"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pg, err := htmlcheck.Parse(strings.NewReader(tc.page))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(pg.External, tc.want) || pg.Scripts != tc.scripts {
				t.Errorf("external %q, scripts %d; want %q, %d", pg.External, pg.Scripts, tc.want, tc.scripts)
			}
		})
	}
}

func TestTables(t *testing.T) {
	pg, err := htmlcheck.Parse(strings.NewReader(`<table id="t"><caption>Levels</caption><thead><tr><th>A</th><th>B</th></tr></thead>` +
		`<tbody><tr><td>1</td><td> x  y </td></tr><tr><td>2</td><td>z</td></tr></tbody></table>`))
	if err != nil {
		t.Fatal(err)
	}
	tb := pg.Tables["t"]
	if tb.Caption != "Levels" || !slices.Equal(tb.Column("B"), []string{"x y", "z"}) || tb.Column("C") != nil {
		t.Errorf("table %+v", tb)
	}
}
