// Command funclen fails when a function outside the tests is longer than
// -max lines (80) and its doc comment does not say why with a marker line
//
//	// funclen: <reason>
//
// It reads every .go file under the directories it is given, except
// _test.go files, generated files, testdata, vendor and hidden directories,
// and directories of another Go module (a nested go.mod): `make lint` runs
// it over the product's root and over tools/, one module each.
//
// A function's length is the number of lines from its func keyword to its
// closing brace, both included, blank and comment lines too. Function
// literals count towards the function that holds them (a closure is part of
// its function's body, and splitting it out is how to shorten both); a
// function literal outside any function (a package-level var) is measured
// on its own, under its variable's name, and takes the marker from that
// declaration's doc comment.
//
//	funclen [-max 80] [-top N] [-v] dir...
//
// It prints one line per function over the limit, longest first, and exits
// 1 if any lacks a reason; -top N also prints the N longest functions,
// whatever their length; -v lists the excused ones.
package main

import (
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// Marker is what a doc comment carries to excuse a long function, followed
// by the reason on the same line.
const Marker = "funclen:"

// Func is one measured function.
type Func struct {
	Pos    token.Position // of the func keyword
	Name   string         // Recv.Method, Func, or var name for a package-level literal
	Lines  int
	Reason string // the marker's reason, "" when none
	Marked bool   // the marker is there (with or without a reason)
}

func (f Func) String() string {
	return fmt.Sprintf("%s:%d: %s: %d lines", f.Pos.Filename, f.Pos.Line, f.Name, f.Lines)
}

func main() {
	max := flag.Int("max", 80, "longest function allowed without a reason")
	top := flag.Int("top", 0, "also print the N longest functions")
	verbose := flag.Bool("v", false, "also list the long functions excused by a reason")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: funclen [-max 80] [-top N] [-v] dir...")
		os.Exit(2)
	}
	if *max < 1 {
		fmt.Fprintln(os.Stderr, "funclen: -max must be at least 1")
		os.Exit(2)
	}
	code, err := run(os.Stdout, flag.Args(), *max, *top, *verbose)
	if err != nil {
		fmt.Fprintln(os.Stderr, "funclen:", err)
		os.Exit(2)
	}
	os.Exit(code)
}

// run measures every root and reports; it returns the exit code.
func run(w io.Writer, roots []string, max, top int, verbose bool) (int, error) {
	var all []Func
	for _, root := range roots {
		fns, err := Measure(root)
		if err != nil {
			return 0, err
		}
		all = append(all, fns...)
	}
	slices.SortStableFunc(all, func(a, b Func) int { return b.Lines - a.Lines })
	if top > 0 {
		fmt.Fprintf(w, "the %d longest functions:\n", min(top, len(all)))
		for _, f := range all[:min(top, len(all))] {
			fmt.Fprintln(w, "  "+f.String())
		}
	}
	bad := 0
	for _, f := range all {
		if f.Lines <= max {
			break
		}
		switch {
		case f.Reason != "":
			if verbose {
				fmt.Fprintf(w, "%s (excused: %s)\n", f, f.Reason)
			}
		case f.Marked:
			bad++
			fmt.Fprintf(w, "%s: the %q marker needs a reason after it\n", f, Marker)
		default:
			bad++
			fmt.Fprintf(w, "%s, over %d: split it, or say why not in its doc comment (%s <reason>)\n", f, max, Marker)
		}
	}
	if bad > 0 {
		fmt.Fprintf(w, "funclen: %d function(s) over %d lines without a reason\n", bad, max)
		return 1, nil
	}
	return 0, nil
}

// Measure returns every function declared in the non-test Go files under
// root, skipping testdata, vendor, hidden directories and nested modules.
func Measure(root string) ([]Func, error) {
	info, err := os.Stat(root)
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", root)
	}
	var out []Func
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && skipDir(path, d.Name()) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		fns, err := measureFile(fset, path)
		out = append(out, fns...)
		return err
	})
	return out, err
}

func skipDir(path, name string) bool {
	if name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
		return true
	}
	_, err := os.Stat(filepath.Join(path, "go.mod"))
	return err == nil || !errors.Is(err, fs.ErrNotExist)
}

var generated = regexp.MustCompile(`(?m)^// Code generated .* DO NOT EDIT\.$`)

func measureFile(fset *token.FileSet, path string) ([]Func, error) {
	f, err := parser.ParseFile(fset, path, nil, parser.ParseComments|parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	for _, cg := range f.Comments {
		if cg.Pos() >= f.Package {
			break
		}
		if generated.MatchString(commentLines(cg)) {
			return nil, nil
		}
	}
	var out []Func
	measure := func(name string, node ast.Node, doc *ast.CommentGroup) {
		start, end := fset.Position(node.Pos()), fset.Position(node.End())
		fn := Func{Pos: start, Name: name, Lines: end.Line - start.Line + 1}
		fn.Marked, fn.Reason = reason(doc)
		out = append(out, fn)
	}
	for _, decl := range f.Decls {
		switch d := decl.(type) {
		case *ast.FuncDecl:
			measure(funcName(d), d, d.Doc)
		case *ast.GenDecl:
			for _, spec := range d.Specs {
				vs, ok := spec.(*ast.ValueSpec)
				if !ok {
					continue
				}
				doc := vs.Doc
				if doc == nil {
					doc = d.Doc
				}
				for i, v := range vs.Values {
					name := "_"
					if i < len(vs.Names) {
						name = vs.Names[i].Name
					}
					ast.Inspect(v, func(n ast.Node) bool {
						if lit, ok := n.(*ast.FuncLit); ok {
							measure(name+" (func literal)", lit, doc)
							return false
						}
						return true
					})
				}
			}
		}
	}
	return out, nil
}

// commentLines is a comment group's raw text, markers included: the
// generated-code header is matched as written.
func commentLines(cg *ast.CommentGroup) string {
	var b strings.Builder
	for _, c := range cg.List {
		b.WriteString(c.Text)
		b.WriteByte('\n')
	}
	return b.String()
}

func funcName(d *ast.FuncDecl) string {
	if d.Recv == nil || len(d.Recv.List) == 0 {
		return d.Name.Name
	}
	t := d.Recv.List[0].Type
	for {
		switch x := t.(type) {
		case *ast.StarExpr:
			t = x.X
			continue
		case *ast.IndexExpr:
			t = x.X
			continue
		case *ast.IndexListExpr:
			t = x.X
			continue
		case *ast.Ident:
			return x.Name + "." + d.Name.Name
		}
		return d.Name.Name
	}
}

// reason finds the marker in a doc comment: whether it is there, and the
// text after it on its line.
func reason(doc *ast.CommentGroup) (bool, string) {
	if doc == nil {
		return false, ""
	}
	for line := range strings.SplitSeq(doc.Text(), "\n") {
		line = strings.TrimSpace(line)
		if rest, ok := strings.CutPrefix(line, Marker); ok {
			return true, strings.TrimSpace(rest)
		}
	}
	return false, ""
}
