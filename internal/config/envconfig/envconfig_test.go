package envconfig_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/awdaflow/awdaflow/internal/config/envconfig"
)

type inner struct {
	Wait time.Duration `env:"T_WAIT" envDefault:"15s"`
	On   bool          `env:"T_ON"`
}

type sample struct {
	Name    string             `env:"T_NAME" envDefault:"def"`
	ID      string             `env:"T_ID,required" envHelp:"the id they gave us"`
	Key     envconfig.Secret   `env:"T_KEY"`
	Tokens  []envconfig.Secret `env:"T_TOKENS"`
	Count   int                `env:"T_COUNT"`
	Skipped string             `env:"-"`
	Inner   inner
}

func getenv(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func read(m map[string]string) (sample, error) {
	r := envconfig.NewReader(getenv(m))
	var s sample
	r.Parse(&s)
	return s, r.Err()
}

func TestVars(t *testing.T) {
	var got []string
	for _, v := range envconfig.Vars(sample{}) {
		got = append(got, fmt.Sprintf("%s=%s req=%v secret=%v", v.Name, v.Default, v.Required, v.Secret))
	}
	want := []string{"T_NAME=def req=false secret=false", "T_ID= req=true secret=false", "T_KEY= req=false secret=true",
		"T_TOKENS= req=false secret=true", "T_COUNT= req=false secret=false", "T_WAIT=15s req=false secret=false",
		"T_ON= req=false secret=false"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Vars:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// Values are trimmed and white space alone is unset, except a Secret's;
// lists of secrets drop empty items; defaults fill what is unset.
func TestParseTrimsAndDefaults(t *testing.T) {
	s, err := read(map[string]string{"T_NAME": "   ", "T_ID": " id-1 ", "T_KEY": " k ", "T_TOKENS": " a ,, b,",
		"T_COUNT": " 7 ", "T_WAIT": "2m", "T_ON": "true", "SKIPPED": "x"})
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "def" || s.ID != "id-1" || s.Key.Reveal() != " k " || s.Count != 7 || s.Inner.Wait != 2*time.Minute || !s.Inner.On {
		t.Errorf("parsed %+v", s)
	}
	if len(s.Tokens) != 2 || s.Tokens[0].Reveal() != "a" || s.Tokens[1].Reveal() != "b" {
		t.Errorf("tokens %q", []string{s.Tokens[0].Reveal(), s.Tokens[1].Reveal()})
	}
	s, err = read(map[string]string{"T_ID": "x"})
	if err != nil || s.Inner.Wait != 15*time.Second || s.Name != "def" || s.Tokens != nil {
		t.Errorf("defaults %+v %v", s, err)
	}
}

// Three bad variables, three problems in one error, each naming its
// variable and what is wrong; a secret that does not parse is not quoted.
func TestEveryProblemAtOnce(t *testing.T) {
	r := envconfig.NewReader(getenv(map[string]string{"T_COUNT": "many", "T_WAIT": "soon", "T_ON": "maybe"}))
	var s sample
	r.Parse(&s)
	r.Want("T_WAIT", s.Inner.Wait > 0, "a positive duration")
	err := r.Err()
	var e *envconfig.Error
	if !errors.As(err, &e) {
		t.Fatalf("err %T %v", err, err)
	}
	want := []string{
		"T_ID: required: the id they gave us",
		`T_WAIT: "soon": want a positive duration`,
		`T_COUNT: "many": want an integer`,
		`T_ON: "maybe": want true or false`,
	}
	if strings.Join(e.Problems, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant\n%s", strings.Join(e.Problems, "\n"), strings.Join(want, "\n"))
	}
}

func TestWantAndRequire(t *testing.T) {
	r := envconfig.NewReader(getenv(map[string]string{"T_ID": "x", "T_KEY": "hunter2-secret", "T_COUNT": "-1", "T_TOKENS": ","}))
	var s sample
	r.Parse(&s)
	r.Want("T_COUNT", s.Count >= 0, "a non-negative integer")
	r.Want("T_KEY", false, "a longer key")
	r.Want("T_WAIT", s.Inner.Wait > 0, "a positive duration") // the default: fine
	r.Require("T_TOKENS", len(s.Tokens) > 0)
	r.Require("T_ID", s.ID != "")
	err := r.Err()
	if err == nil {
		t.Fatal("no error")
	}
	want := "invalid configuration:\n  T_COUNT: \"-1\": want a non-negative integer\n  T_KEY: want a longer key\n  T_TOKENS: required"
	if err.Error() != want {
		t.Errorf("got\n%s\nwant\n%s", err, want)
	}
	if r.Set("T_NAME") || !r.Set("T_KEY") {
		t.Error("Set")
	}
}

// The reader never falls back on the process environment.
func TestNoProcessEnvironment(t *testing.T) {
	t.Setenv("T_ID", "from-the-process")
	t.Setenv("T_NAME", "from-the-process")
	s, err := read(nil)
	if err == nil || !strings.Contains(err.Error(), "T_ID: required") || s.Name != "def" {
		t.Errorf("%+v %v", s, err)
	}
}

func TestDuplicateFieldNamesPanic(t *testing.T) {
	type a struct {
		Wait time.Duration `env:"A_WAIT"`
	}
	type b struct {
		A    a
		Wait time.Duration `env:"B_WAIT"`
	}
	defer func() {
		if recover() == nil {
			t.Error("no panic for two fields named Wait")
		}
	}()
	envconfig.Vars(b{})
}

func TestSecretNeverPrinted(t *testing.T) {
	s := envconfig.Secret("hunter2-secret")
	for _, out := range []string{s.String(), s.GoString(), fmt.Sprintf("%v %+v %#v %s %q %x", s, s, s, s, s, s)} {
		if strings.Contains(out, "hunter2") {
			t.Errorf("printed: %s", out)
		}
	}
	if b, _ := s.MarshalText(); string(b) != envconfig.Redacted {
		t.Errorf("MarshalText %s", b)
	}
	if envconfig.Secret("").String() != "" {
		t.Error("an unset secret prints")
	}
}
