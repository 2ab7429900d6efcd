package deploy_test

import (
	"bufio"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// root is the repository root (this package sits one level below it).
const root = ".."

type composeFile struct {
	Name     string             `yaml:"name"`
	Services map[string]service `yaml:"services"`
	Volumes  map[string]any     `yaml:"volumes"`
}

type service struct {
	Image       string                `yaml:"image"`
	Build       *build                `yaml:"build"`
	Profiles    []string              `yaml:"profiles"`
	Restart     string                `yaml:"restart"`
	Environment map[string]string     `yaml:"environment"`
	DependsOn   map[string]dependency `yaml:"depends_on"`
	Ports       []string              `yaml:"ports"`
	Expose      []string              `yaml:"expose"`
	Healthcheck *healthcheck          `yaml:"healthcheck"`
	Entrypoint  []string              `yaml:"entrypoint"`
	Command     []string              `yaml:"command"`
	Volumes     []string              `yaml:"volumes"`
	ReadOnly    bool                  `yaml:"read_only"`
	CapDrop     []string              `yaml:"cap_drop"`
	SecurityOpt []string              `yaml:"security_opt"`
}

type build struct {
	Context    string `yaml:"context"`
	Dockerfile string `yaml:"dockerfile"`
}

type dependency struct {
	Condition string `yaml:"condition"`
}

type healthcheck struct {
	Test     []string `yaml:"test"`
	Interval string   `yaml:"interval"`
	Timeout  string   `yaml:"timeout"`
	Retries  int      `yaml:"retries"`
}

// job reports whether the service runs once and exits (a schema or
// migration step): it restarts only on failure.
func (s service) job() bool { return strings.HasPrefix(s.Restart, "on-failure") }

// loadCompose parses docker-compose.yml strictly (unknown keys fail, so a
// misspelt key cannot pass unnoticed) without resolving variables.
func loadCompose(t *testing.T) *composeFile {
	t.Helper()
	f, err := os.Open(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// First pass: every key of every service must be one we model (the
	// typed decode below would silently drop the others).
	var raw struct {
		Services map[string]map[string]any `yaml:"services"`
	}
	if err := yaml.NewDecoder(f).Decode(&raw); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	known := map[string]bool{}
	for _, k := range serviceKeys {
		known[k] = true
	}
	for name, s := range raw.Services {
		for k := range s {
			if !known[k] && k != "<<" {
				t.Errorf("service %s: key %q is not checked by this test; model it", name, k)
			}
		}
	}
	if _, err := f.Seek(0, 0); err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.NewDecoder(f).Decode(&c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	if len(c.Services) == 0 {
		t.Fatal("docker-compose.yml has no services")
	}
	return &c
}

// serviceKeys are the service keys this test models (and so checks).
var serviceKeys = []string{"image", "build", "profiles", "restart", "environment", "depends_on", "ports",
	"expose", "healthcheck", "entrypoint", "command", "volumes", "read_only", "cap_drop", "security_opt",
	"stop_grace_period"}

// resolved returns the compose file with every variable of every value
// resolved against env, as docker compose does with an .env file.
func resolved(t *testing.T, c *composeFile, env map[string]string) map[string]service {
	t.Helper()
	out := map[string]service{}
	for name, s := range c.Services {
		r := s
		r.Image = mustInterp(t, name+".image", s.Image, env)
		r.Environment = map[string]string{}
		for k, v := range s.Environment {
			r.Environment[k] = mustInterp(t, name+".environment."+k, v, env)
		}
		r.Ports = make([]string, len(s.Ports))
		for i, p := range s.Ports {
			r.Ports[i] = mustInterp(t, name+".ports", p, env)
		}
		r.Volumes = make([]string, len(s.Volumes))
		for i, v := range s.Volumes {
			r.Volumes[i] = mustInterp(t, name+".volumes", v, env)
		}
		out[name] = r
	}
	return out
}

func mustInterp(t *testing.T, where, s string, env map[string]string) string {
	t.Helper()
	v, err := interpolate(s, env)
	if err != nil {
		t.Errorf("%s: %v", where, err)
	}
	return v
}

// interpolate resolves $VAR, ${VAR}, ${VAR:-default}, ${VAR-default},
// ${VAR:?error}, ${VAR?error}, ${VAR:+alt}, ${VAR+alt} (defaults may nest)
// and $$, the compose specification's interpolation.
func interpolate(s string, env map[string]string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 >= len(s) {
			return "", fmt.Errorf("%q: lone $ at the end", s)
		}
		switch c := s[i+1]; {
		case c == '$':
			b.WriteByte('$')
			i++
		case c == '{':
			depth, j := 1, i+2
			for ; j < len(s) && depth > 0; j++ {
				switch s[j] {
				case '{':
					depth++
				case '}':
					depth--
				}
			}
			if depth != 0 {
				return "", fmt.Errorf("%q: unclosed ${", s)
			}
			v, err := expand(s[i+2:j-1], env)
			if err != nil {
				return "", err
			}
			b.WriteString(v)
			i = j - 1
		case c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'):
			j := i + 1
			for j < len(s) && (s[j] == '_' || (s[j] >= 'A' && s[j] <= 'Z') || (s[j] >= 'a' && s[j] <= 'z') || (s[j] >= '0' && s[j] <= '9')) {
				j++
			}
			b.WriteString(env[s[i+1:j]])
			i = j - 1
		default:
			return "", fmt.Errorf("%q: bad $ at %d", s, i)
		}
	}
	return b.String(), nil
}

var varName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*`)

func expand(expr string, env map[string]string) (string, error) {
	name := varName.FindString(expr)
	if name == "" {
		return "", fmt.Errorf("${%s}: no variable name", expr)
	}
	rest := expr[len(name):]
	val, set := env[name]
	for _, op := range []string{":-", ":?", ":+", "-", "?", "+"} {
		if !strings.HasPrefix(rest, op) {
			continue
		}
		arg, err := interpolate(rest[len(op):], env)
		if err != nil {
			return "", err
		}
		empty := !set || (strings.HasPrefix(op, ":") && val == "")
		switch op[len(op)-1] {
		case '-':
			if empty {
				return arg, nil
			}
			return val, nil
		case '?':
			if empty {
				return "", fmt.Errorf("required variable %s is missing: %s", name, arg)
			}
			return val, nil
		case '+':
			if empty {
				return "", nil
			}
			return arg, nil
		}
	}
	if rest != "" {
		return "", fmt.Errorf("${%s}: unsupported modifier %q", expr, rest)
	}
	return val, nil
}

// referencedVars lists every variable the text interpolates, with whether
// it carries a default or an error of its own.
func referencedVars(text string) map[string]bool {
	out := map[string]bool{}
	re := regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-?+])?`)
	for _, m := range re.FindAllStringSubmatch(strings.ReplaceAll(text, "$$", ""), -1) {
		out[m[1]] = out[m[1]] || m[2] != ""
	}
	return out
}

// readEnvFile parses KEY=VALUE lines (docker compose's .env format without
// quoting, which .env.example does not use).
func readEnvFile(t *testing.T, path string) (map[string]string, []string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := map[string]string{}
	var order []string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || !varName.MatchString(k) || varName.FindString(k) != k {
			t.Fatalf("%s:%d: not KEY=VALUE: %q", path, n, line)
		}
		if strings.ContainsAny(v, `"'`) {
			t.Errorf("%s:%d: %s is quoted; compose and shells disagree on quotes, leave them out", path, n, k)
		}
		if _, dup := env[k]; dup {
			t.Errorf("%s:%d: %s set twice", path, n, k)
		}
		env[k] = v
		order = append(order, k)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return env, order
}

// generatedEnv is the .env deploy/compose-env.sh writes from .env.example.
func generatedEnv(t *testing.T) (map[string]string, string) {
	t.Helper()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash is not installed")
	}
	out := filepath.Join(t.TempDir(), ".env")
	cmd := exec.Command("bash", filepath.Join(root, "deploy", "compose-env.sh"), out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("deploy/compose-env.sh: %v\n%s", err, b)
	}
	env, _ := readEnvFile(t, out)
	return env, out
}

// requirement is one group of variables at least one of which must be set.
type requirement []string

func (r requirement) String() string { return strings.Join(r, " or ") }

// scanned is what scanConfig finds in a configuration package.
type scanned struct {
	consts map[string]string // string constants, name → value
	vars   map[string]bool   // variables declared in env struct tags
	reqs   []requirement
}

// scanConfig parses the Go files of a configuration package and returns the
// string constants it declares, the variables its struct tags declare
// (`env:"NAME[,options]"`), and what it requires: every tag with the
// required option, and every call fail(X, "…required…") or
// r.Fail(X, "…required…"), where X names one variable or several joined by
// " or ". sel resolves pkg.Name selectors (other packages' constants).
func scanConfig(t *testing.T, dir string, sel map[string]string) scanned {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join(root, dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	sc := scanned{consts: map[string]string{}, vars: map[string]bool{}}
	var parsed []*ast.File
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		parsed = append(parsed, f)
		scanConsts(f, sc.consts)
		sc.reqs = append(sc.reqs, scanTags(f, sc.vars)...)
	}
	for _, f := range parsed {
		sc.reqs = append(sc.reqs, scanFailCalls(t, fset, f, sc.consts, sel)...)
	}
	sort.Slice(sc.reqs, func(i, j int) bool { return sc.reqs[i].String() < sc.reqs[j].String() })
	return sc
}

func scanConsts(f *ast.File, consts map[string]string) {
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, n := range vs.Names {
				if i < len(vs.Values) {
					if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						consts[n.Name], _ = strconv.Unquote(lit.Value)
					}
				}
			}
		}
	}
}

// scanTags adds the variables of every env struct tag to vars and returns
// those tagged required.
func scanTags(f *ast.File, vars map[string]bool) []requirement {
	var reqs []requirement
	ast.Inspect(f, func(n ast.Node) bool {
		field, ok := n.(*ast.Field)
		if !ok || field.Tag == nil {
			return true
		}
		tag, _ := strconv.Unquote(field.Tag.Value)
		name, opts, _ := strings.Cut(reflect.StructTag(tag).Get("env"), ",")
		if name == "" || name == "-" {
			return true
		}
		vars[name] = true
		if slices.Contains(strings.Split(opts, ","), "required") {
			reqs = append(reqs, requirement{name})
		}
		return true
	})
	return reqs
}

func scanFailCalls(t *testing.T, fset *token.FileSet, f *ast.File, consts, sel map[string]string) []requirement {
	var reqs []requirement
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) != 2 {
			return true
		}
		var fn string
		switch f := call.Fun.(type) {
		case *ast.Ident:
			fn = f.Name
		case *ast.SelectorExpr:
			fn = f.Sel.Name
		}
		lit, ok := call.Args[1].(*ast.BasicLit)
		if (fn != "fail" && fn != "Fail") || !ok || lit.Kind != token.STRING {
			return true
		}
		msg, _ := strconv.Unquote(lit.Value)
		if !strings.Contains(msg, "required") {
			return true
		}
		names, joinedByOr := failNames(t, fset, call.Args[0], consts, sel)
		if !joinedByOr || len(names) == 0 {
			t.Errorf("%s: a requirement on %v that is not one variable or an either-or", fset.Position(call.Pos()), names)
			return true
		}
		reqs = append(reqs, requirement(names))
		return true
	})
	return reqs
}

// failNames resolves the variables a fail call names, and whether they are
// joined by " or ".
func failNames(t *testing.T, fset *token.FileSet, arg ast.Expr, consts, sel map[string]string) ([]string, bool) {
	var names []string
	joinedByOr := true
	ast.Inspect(arg, func(n ast.Node) bool {
		switch e := n.(type) {
		case *ast.SelectorExpr:
			if x, ok := e.X.(*ast.Ident); ok {
				if v, ok := sel[x.Name+"."+e.Sel.Name]; ok {
					names = append(names, v)
				} else {
					t.Errorf("%s: cannot resolve %s.%s", fset.Position(e.Pos()), x.Name, e.Sel.Name)
				}
			}
			return false
		case *ast.Ident:
			if v, ok := consts[e.Name]; ok {
				names = append(names, v)
			} else {
				t.Errorf("%s: cannot resolve %s", fset.Position(e.Pos()), e.Name)
			}
		case *ast.BasicLit:
			if s, _ := strconv.Unquote(e.Value); strings.TrimSpace(s) != "or" {
				joinedByOr = false
			}
		}
		return true
	})
	return names, joinedByOr
}

// envNames keeps the constants whose value looks like an environment
// variable name (the Env* constants; not defaults such as URLs).
func envNames(consts map[string]string) map[string]bool {
	out := map[string]bool{}
	re := regexp.MustCompile(`^[A-Z][A-Z0-9_]+$`)
	for name, v := range consts {
		if strings.HasPrefix(name, "Env") && re.MatchString(v) {
			out[v] = true
		}
	}
	return out
}

// clientVars are the starter's client commands' variables, which they read
// with getenv beside the flags (starter/client.go), not through a
// configuration struct.
var clientVars = []string{"STARTER_URL", "STARTER_API_TOKEN"}

// configSets are the three configuration packages, scanned: the shared one
// (worker and starter serve), the starter's own, the sandbox command's.
type configSets struct {
	shared, starter, sandbox scanned
}

func scanConfigSets(t *testing.T) configSets {
	t.Helper()
	shared := scanConfig(t, "internal/config", nil)
	sel := map[string]string{}
	for k, v := range shared.consts {
		sel["config."+k] = v
	}
	sets := configSets{shared, scanConfig(t, "starter", sel), scanConfig(t, "awda/sandbox/cmd/awda-sandbox", nil)}
	for name, sc := range map[string]scanned{"internal/config": sets.shared, "starter": sets.starter, "awda-sandbox": sets.sandbox} {
		if len(sc.vars) == 0 {
			t.Fatalf("no env struct tags found in %s", name)
		}
	}
	return sets
}

// starterReads is every variable `starter serve` and the client commands
// read besides the shared ones.
func (s configSets) starterReads() map[string]bool {
	out := maps.Clone(s.starter.vars)
	for _, v := range clientVars {
		out[v] = true
	}
	return out
}
