// Package envconfig is the one environment reader of every awdaflow binary
// (the worker's and starter's shared configuration in internal/config, the
// starter's own, the sandbox command's). A configuration is a struct whose
// tags declare each variable (github.com/caarlos0/env/v11):
//
//	Addr  string        `env:"WORKER_HTTP_ADDR" envDefault:"127.0.0.1:9091"`
//	AppID string        `env:"AWDA_APP_ID,required" envHelp:"the merchant id AWDA assigned"`
//	Wait  time.Duration `env:"WORKER_STOP_TIMEOUT" envDefault:"30s"`
//
// envHelp says what a required variable is for, in the error when it is
// missing. A Reader parses such structs through a getenv function (tests
// inject a map, never touching the process environment) and then checks
// what tags cannot say (ranges, URLs, one variable against another),
// collecting every problem so that one run reports every bad variable.
//
// Values are read with surrounding white space trimmed, and white space
// alone counts as unset (the default applies), except a Secret's, which
// keeps its exact bytes. A list ([]Secret) is comma-separated, each item
// trimmed, empty items dropped. Problems name the variable and what is
// wrong; they quote a value only when it is not a Secret.
//
// This package has no dependency of its own besides env, so that the
// sandbox command can use it without linking the worker's.
package envconfig

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
)

// Var is one environment variable a configuration struct declares.
type Var struct {
	Name     string // the variable
	Default  string // its envDefault tag, "" when it has none
	Required bool   // its env tag says required
	Secret   bool   // a Secret or a list of them: exact bytes, never quoted
	Help     string // what it is for, in the problem when it is missing

	field string       // the Go field, by which env names a parse error
	typ   reflect.Type // the field's type
}

// Vars lists the variables the struct v (or *v) declares, in field order.
// Field names must be unique across the struct and those nested in it:
// env reports a value that does not parse by its field's name.
func Vars(v any) []Var {
	t := reflect.TypeOf(v)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var out []Var
	seen := map[string]string{}
	walk(t, func(f reflect.StructField, name string, opts []string) {
		if other, dup := seen[f.Name]; dup {
			panic(fmt.Sprintf("envconfig: %s and %s are both read into a field named %s", other, name, f.Name))
		}
		seen[f.Name] = name
		def, _ := f.Tag.Lookup("envDefault")
		vr := Var{Name: name, Default: def, Help: f.Tag.Get("envHelp"), field: f.Name, typ: f.Type,
			Secret: f.Type == secretType || f.Type == secretsType}
		for _, o := range opts {
			vr.Required = vr.Required || o == "required"
		}
		out = append(out, vr)
	})
	return out
}

// walk calls fn for each field of t with an env tag, as env visits them:
// exported fields, struct fields without a tag recursed into, "-" skipped.
func walk(t reflect.Type, fn func(f reflect.StructField, name string, opts []string)) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag, tagged := f.Tag.Lookup("env")
		name, optList, _ := strings.Cut(tag, ",")
		switch {
		case !f.IsExported() || name == "-":
		case name != "":
			fn(f, name, strings.Split(optList, ","))
		case !tagged && f.Type.Kind() == reflect.Struct:
			walk(f.Type, fn)
		}
	}
}

// Reader reads configuration structs and collects their problems.
type Reader struct {
	getenv   func(string) string
	vars     map[string]Var    // every variable parsed so far
	values   map[string]string // the ones set, as read
	failed   map[string]bool   // those already reported
	unparsed []string          // set but not parsed, not yet reported
	problems []string
}

// NewReader reads through getenv (os.Getenv, or a map's lookup in tests).
func NewReader(getenv func(string) string) *Reader {
	return &Reader{getenv: getenv, vars: map[string]Var{}, values: map[string]string{}, failed: map[string]bool{}}
}

// Parse fills *dst (a pointer to a struct) from the variables its tags
// declare. A required variable that is unset is reported at once; a value
// that does not parse leaves its field zero and is reported by Want or, at
// the latest, by Err.
func (r *Reader) Parse(dst any) {
	vars := Vars(dst)
	environment := map[string]string{} // never nil: env would read os.Environ
	byField := map[string]Var{}
	for _, v := range vars {
		r.vars[v.Name] = v
		byField[v.field] = v
		s := r.getenv(v.Name)
		if !v.Secret {
			s = strings.TrimSpace(s)
		}
		if s != "" {
			environment[v.Name] = s
			r.values[v.Name] = s
		}
	}
	err := env.ParseWithOptions(dst, env.Options{Environment: environment, FuncMap: parsers})
	if err == nil {
		return
	}
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		panic(fmt.Sprintf("envconfig: %T: %v", dst, err))
	}
	for _, e := range agg.Errors {
		var missing env.VarIsNotSetError
		var bad env.ParseError
		switch {
		case errors.As(e, &missing):
			r.Fail(missing.Key, strings.TrimSuffix("required: "+r.vars[missing.Key].Help, ": "))
			r.failed[missing.Key] = true
		case errors.As(e, &bad) && byField[bad.Name].Name != "":
			r.unparsed = append(r.unparsed, byField[bad.Name].Name)
		default: // a struct env cannot read: a bug, not a bad environment
			panic(fmt.Sprintf("envconfig: %T: %v", dst, e))
		}
	}
}

// Fail reports a problem of vars (one variable, or several joined by " or "
// or " and "): "vars: msg". msg must not carry a secret's value.
func (r *Reader) Fail(vars, msg string) {
	r.problems = append(r.problems, vars+": "+msg)
}

// Want reports name's value, quoted unless secret, as not the one wanted
// when it did not parse or ok is false: `NAME: "value": want <want>`. A
// variable already reported missing is not reported again.
func (r *Reader) Want(name string, ok bool, want string) {
	if i := indexOf(r.unparsed, name); i >= 0 {
		r.unparsed = append(r.unparsed[:i], r.unparsed[i+1:]...)
		ok = false
	}
	if ok || r.failed[name] {
		return
	}
	r.failed[name] = true
	if r.vars[name].Secret {
		r.Fail(name, "want "+want)
		return
	}
	r.Fail(name, fmt.Sprintf("%q: want %s", r.values[name], want))
}

// Require reports name as missing unless ok (a list that is set but holds
// no item, say), unless it was reported already.
func (r *Reader) Require(name string, ok bool) {
	if !ok && !r.failed[name] {
		r.failed[name] = true
		r.Fail(name, strings.TrimSuffix("required: "+r.vars[name].Help, ": "))
	}
}

// Set reports whether name was set (to more than white space, unless it is
// a Secret).
func (r *Reader) Set(name string) bool {
	_, ok := r.values[name]
	return ok
}

// Err is nil when nothing was wrong, otherwise an *Error listing every
// problem, the values that did not parse and nothing else reported them
// last.
func (r *Reader) Err() error {
	for len(r.unparsed) > 0 {
		name := r.unparsed[0]
		r.Want(name, false, describe(r.vars[name].typ))
	}
	if len(r.problems) == 0 {
		return nil
	}
	return &Error{Problems: r.problems}
}

// Error lists every problem of a configuration, each naming its variable.
type Error struct {
	Problems []string
}

func (e *Error) Error() string {
	return "invalid configuration:\n  " + strings.Join(e.Problems, "\n  ")
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

// describe says what a value of type t looks like, for a value that does
// not parse and that no Want describes better.
func describe(t reflect.Type) string {
	switch {
	case t == reflect.TypeFor[time.Duration]():
		return "a duration such as 15s or 2m"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64:
		return "an integer"
	case t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uint64:
		return "a non-negative integer"
	}
	return "a valid " + t.String()
}

// parsers replace env's where they differ from what this package promises:
// int is as wide as the platform's (env's stops at 32 bits), and a list of
// secrets drops empty items.
var parsers = map[reflect.Type]env.ParserFunc{
	reflect.TypeFor[int](): func(s string) (any, error) {
		n, err := strconv.Atoi(s)
		return n, err
	},
	secretsType: func(s string) (any, error) {
		var out []Secret
		for _, item := range strings.Split(s, ",") {
			if item = strings.TrimSpace(item); item != "" {
				out = append(out, Secret(item))
			}
		}
		return out, nil
	},
}
