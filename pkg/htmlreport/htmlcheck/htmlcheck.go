// Package htmlcheck reads back a page written by htmlreport for tests: it
// parses the HTML and lists its charts, its tables and anything that would
// make a browser fetch from the network. It is a test helper shared by
// htmlreport's own tests and the CLI's end-to-end tests.
package htmlcheck

import (
	"fmt"
	"io"
	"regexp"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// Page is what a report page holds.
type Page struct {
	Title string
	// Charts are the page's figures by id.
	Charts map[string]Chart
	// Tables are the page's tables by id.
	Tables map[string]Table
	// Nothing is the page's line saying no level was reported, "" without one.
	Nothing string
	// Stop is the stop line's text.
	Stop string
	// Notes are the notes under the tables.
	Notes []string
	// External lists every reference that a browser would fetch from the
	// network: a src, href, xlink:href, action, poster or data attribute
	// naming http(s): or a protocol-relative //host, and url(...) or
	// @import of such in a style. An xmlns attribute is not one: it is a
	// namespace's name, which no browser fetches.
	External []string
	// Scripts counts script elements (the page must have none).
	Scripts int
}

// Chart is one figure: its heading and whether it holds an SVG drawing.
type Chart struct {
	Heading string
	SVG     bool
	// Texts are the SVG's text elements (axis labels, ticks, legend).
	Texts []string
	// Width and Height are the SVG's size attributes ("720pt").
	Width, Height string
}

// Table is one table: its header cells and each body row's cells.
type Table struct {
	Caption string
	Head    []string
	Rows    [][]string
}

var (
	remoteURL  = regexp.MustCompile(`(?i)^\s*(https?:|//)`)
	styleFetch = regexp.MustCompile(`(?i)url\(\s*['"]?\s*(https?:|//)[^)]*\)|@import[^;]*`)
)

// fetchAttrs are the attributes whose value a browser loads.
var fetchAttrs = map[string]bool{"src": true, "href": true, "action": true, "poster": true, "data": true, "srcset": true, "background": true}

// Parse reads a page.
func Parse(r io.Reader) (*Page, error) {
	doc, err := html.Parse(r)
	if err != nil {
		return nil, fmt.Errorf("htmlcheck: parse: %w", err)
	}
	pg := &Page{Charts: map[string]Chart{}, Tables: map[string]Table{}}
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			pg.element(n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return pg, nil
}

func (pg *Page) element(n *html.Node) {
	for _, a := range n.Attr {
		if a.Namespace == "xmlns" || a.Key == "xmlns" {
			continue // a namespace name, never fetched
		}
		if fetchAttrs[a.Key] && remoteURL.MatchString(a.Val) {
			pg.External = append(pg.External, n.Data+" "+a.Key+"="+a.Val)
		}
		if a.Key == "style" {
			pg.External = append(pg.External, styleFetch.FindAllString(a.Val, -1)...)
		}
	}
	switch n.DataAtom {
	case atom.Title:
		if n.Namespace == "" {
			pg.Title = text(n)
		}
	case atom.Style:
		pg.External = append(pg.External, styleFetch.FindAllString(text(n), -1)...)
	case atom.Script:
		pg.Scripts++
	case atom.Figure:
		c := Chart{}
		find(n, func(m *html.Node) {
			switch {
			case m.DataAtom == atom.H2:
				c.Heading = text(m)
			case m.DataAtom == atom.Svg:
				c.SVG = true
				c.Width, c.Height = attr(m, "width"), attr(m, "height")
			case m.Namespace == "svg" && m.Data == "text":
				c.Texts = append(c.Texts, text(m))
			}
		})
		pg.Charts[attr(n, "id")] = c
	case atom.Table:
		t := Table{}
		find(n, func(m *html.Node) {
			switch m.DataAtom {
			case atom.Caption:
				t.Caption = text(m)
			case atom.Th:
				t.Head = append(t.Head, text(m))
			case atom.Tr:
				if m.Parent != nil && m.Parent.DataAtom == atom.Tbody {
					var row []string
					find(m, func(td *html.Node) {
						if td.DataAtom == atom.Td {
							row = append(row, text(td))
						}
					})
					t.Rows = append(t.Rows, row)
				}
			}
		})
		pg.Tables[attr(n, "id")] = t
	case atom.P:
		switch attr(n, "class") {
		case "nothing":
			pg.Nothing = text(n)
		case "stop", "stop partial":
			pg.Stop = text(n)
		}
	case atom.Li:
		if n.Parent != nil && attr(n.Parent, "class") == "notes" {
			pg.Notes = append(pg.Notes, text(n))
		}
	}
}

// Column returns the cells of the column headed head, nil without one.
func (t Table) Column(head string) []string {
	for i, h := range t.Head {
		if h == head {
			col := make([]string, 0, len(t.Rows))
			for _, r := range t.Rows {
				if i < len(r) {
					col = append(col, r[i])
				}
			}
			return col
		}
	}
	return nil
}

// find calls f on every element under n.
func find(n *html.Node, f func(*html.Node)) {
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if c.Type == html.ElementNode {
			f(c)
		}
		find(c, f)
	}
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key && a.Namespace == "" {
			return a.Val
		}
	}
	return ""
}

// text is n's text content, spaces collapsed.
func text(n *html.Node) string {
	var b strings.Builder
	var collect func(*html.Node)
	collect = func(m *html.Node) {
		if m.Type == html.TextNode {
			b.WriteString(m.Data)
		}
		for c := m.FirstChild; c != nil; c = c.NextSibling {
			collect(c)
		}
	}
	collect(n)
	return strings.Join(strings.Fields(b.String()), " ")
}
