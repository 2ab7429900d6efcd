package awda_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/rs/zerolog"

	"github.com/awdaflow/awdaflow/awda"
)

func TestZerologObserverLogsNoPII(t *testing.T) {
	piiMsg := "data " + piiName + " / " + piiContactName + " / " + piiNIK + " / " + piiMobile + " / " + piiEmail + " / " + piiAccountNo + " / " + piiAddress
	answers := []func(w http.ResponseWriter){
		func(w http.ResponseWriter) { io.WriteString(w, envelope(0, "success", `{"userId":"U100"}`)) },
		func(w http.ResponseWriter) {
			io.WriteString(w, envelope(awda.CodeUserExists, "user exists: "+piiMsg, `{"userId":"U-EXIST"}`))
		},
		func(w http.ResponseWriter) { io.WriteString(w, envelope(awda.CodeParamInvalid, piiMsg, "")) },
		func(w http.ResponseWriter) { w.WriteHeader(http.StatusBadGateway); io.WriteString(w, piiMsg) },
		func(w http.ResponseWriter) { io.WriteString(w, `{"code":0,"data":{"status":`+`"`+piiMsg+`"`) }, // truncated JSON
		func(w http.ResponseWriter) {
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
		},
	}
	var i atomic.Int64
	f := newFakeAWDAFunc(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		answers[int(i.Add(1)-1)%len(answers)](w)
	})
	var buf bytes.Buffer
	logger := zerolog.New(&buf).Level(zerolog.DebugLevel)
	c := newTestClient(t, f.URL, func(cfg *awda.Config) { cfg.Observers = []awda.Observer{awda.ZerologObserver(logger)} })
	ctx := context.Background()

	var errs []error
	_, err := c.Register(ctx, validRegister())
	errs = append(errs, err)
	_, err = c.Register(ctx, validRegister())
	errs = append(errs, err)
	_, err = c.LoanSubmit(ctx, validLoanSubmit())
	errs = append(errs, err)
	_, err = c.BankCardVerify(ctx, &awda.BankCardVerifyRequest{UserID: "U100", BankCode: "BCA", AccountNo: piiAccountNo, AccountName: piiName})
	errs = append(errs, err)
	_, err = c.BankCardVerify(ctx, &awda.BankCardVerifyRequest{UserID: "U100", BankCode: "BCA", AccountNo: piiAccountNo, AccountName: piiName})
	errs = append(errs, err)
	_, err = c.ImageUpload(ctx, &awda.ImageUploadRequest{Token: "tok-secret-value", ImageType: awda.ImageKTP, File: []byte("JPEG " + piiNIK)})
	errs = append(errs, err)
	// Refused locally (bad NIK): no attempt, so no log line.
	bad := validRegister()
	bad.NIK = piiNIK[:15]
	_, err = c.Register(ctx, bad)
	errs = append(errs, err)

	for k, err := range errs {
		if k > 0 && err == nil {
			t.Errorf("call %d: want an error", k)
		}
		if err != nil {
			assertNoPII(t, "error", err.Error())
		}
	}

	out := buf.String()
	assertNoPII(t, "log", out)
	for _, leak := range []string{"tok-secret-value", "JPEG", "partnerUserId", "U-EXIST", "user exists", "data "} {
		if strings.Contains(out, leak) {
			t.Errorf("log carries %q:\n%s", leak, out)
		}
	}

	type line struct {
		Level      string  `json:"level"`
		Endpoint   string  `json:"endpoint"`
		Outcome    string  `json:"outcome"`
		Code       int     `json:"code"`
		HTTPStatus int     `json:"http_status"`
		Nonce      string  `json:"nonce"`
		Latency    float64 `json:"latency"`
		Cause      string  `json:"cause"`
	}
	var lines []line
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		lines = append(lines, l)
	}
	want := []line{
		{Level: "debug", Endpoint: awda.PathUserRegister, Outcome: "ok", HTTPStatus: 200},
		{Level: "warn", Endpoint: awda.PathUserRegister, Outcome: "user_exists", Code: 1008, HTTPStatus: 200},
		{Level: "warn", Endpoint: awda.PathLoanSubmit, Outcome: "validation", Code: 1007, HTTPStatus: 200},
		{Level: "warn", Endpoint: awda.PathBankCardVerify, Outcome: "timeout", HTTPStatus: 502},
		{Level: "warn", Endpoint: awda.PathBankCardVerify, Outcome: "unknown", HTTPStatus: 200},
		{Level: "warn", Endpoint: awda.PathImageUpload, Outcome: "timeout"},
	}
	if len(lines) != len(want) {
		t.Fatalf("%d log lines, want %d:\n%s", len(lines), len(want), out)
	}
	seen := map[string]bool{}
	for k, l := range lines {
		w := want[k]
		if l.Level != w.Level || l.Endpoint != w.Endpoint || l.Outcome != w.Outcome || l.Code != w.Code || l.HTTPStatus != w.HTTPStatus {
			t.Errorf("line %d = %+v, want %+v", k, l, w)
		}
		if !awda.ValidNonce(l.Nonce) || seen[l.Nonce] {
			t.Errorf("line %d nonce %q", k, l.Nonce)
		}
		seen[l.Nonce] = true
		if l.Latency <= 0 {
			t.Errorf("line %d has no latency", k)
		}
	}
	if lines[5].Cause == "" {
		t.Error("transport failure logged without its cause")
	}

	// At info level, successes are not logged and failures are.
	buf.Reset()
	quiet := newTestClient(t, f.URL, func(cfg *awda.Config) {
		cfg.Observers = []awda.Observer{awda.ZerologObserver(zerolog.New(&buf).Level(zerolog.InfoLevel))}
	})
	i.Store(0)
	_, _ = quiet.Register(ctx, validRegister())
	if buf.Len() != 0 {
		t.Errorf("success logged at info level: %s", buf.String())
	}
	_, _ = quiet.Register(ctx, validRegister())
	if !strings.Contains(buf.String(), `"level":"warn"`) {
		t.Errorf("failure not logged at info level: %q", buf.String())
	}
}
