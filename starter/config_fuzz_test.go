package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/internal/config"
)

// FuzzLoadStarter reads arbitrary values of the starter's own environment
// (all but the RSA key files, which it reads). Properties: an error is a
// *config.Error whose every problem starts with its variable; no token or
// notification secret ever shows in the error or in a %+v of the result;
// what is accepted keeps the rules loadStarter promises (tokens of 16
// characters or more, the unauthenticated codec server only on loopback,
// origins that are scheme://host, a document limit within AWDA's) and
// builds a notification verifier with one key per secret. No service is
// started: TestMain starts nothing unless a test asks testenv for it.
func FuzzLoadStarter(f *testing.F) {
	f.Add("127.0.0.1:8080", tokenA+", "+tokenB, "", "http://localhost:8233", "", "10m", "", "60s", "", "merchant-secret")
	f.Fuzz(func(t *testing.T, addr, apiTokens, codecTokens, origins, codecOpen, dur, maxDoc, updateTO, notify, merchant string) {
		env := map[string]string{
			EnvHTTPAddr: addr, EnvAPITokens: apiTokens, EnvCodecTokens: codecTokens, EnvCodecOrigins: origins,
			EnvCodecOpen: codecOpen, EnvBanksTTL: dur, EnvForwardEvery: dur, EnvOrphanGrace: dur, EnvRetryMax: dur,
			EnvShutdown: dur, EnvDrainDelay: dur, EnvNotifyTolerate: dur, EnvMaxDocument: maxDoc, EnvUpdateTimeout: updateTO,
			EnvNotifySecrets: notify, config.EnvAWDAHMACSecret: merchant,
		}
		sc, err := loadStarter(func(k string) string { return env[k] })

		var secrets []string
		for _, list := range []string{apiTokens, codecTokens, notify} {
			for _, s := range strings.Split(list, ",") {
				secrets = append(secrets, strings.TrimSpace(s))
			}
		}
		secrets = append(secrets, merchant)
		public := []string{addr, origins, codecOpen, dur, maxDoc, updateTO}
		leaks := func(where, text string) {
			for _, s := range secrets {
				if len(s) < 6 || !strings.Contains(text, s) {
					continue
				}
				given := false
				for _, p := range public {
					given = given || strings.Contains(p, s)
				}
				if !given && !strings.Contains(starterFixedText, s) {
					t.Fatalf("%s shows a secret %q: %s", where, s, text)
				}
			}
		}

		if err != nil {
			var ce *config.Error
			if !errors.As(err, &ce) || len(ce.Problems) == 0 {
				t.Fatalf("error %T %v", err, err)
			}
			for _, p := range ce.Problems {
				if !startsWithVariable(p) {
					t.Fatalf("problem does not start with its variable: %q", p)
				}
			}
			leaks("the error", err.Error())
			return
		}
		leaks("%+v", fmt.Sprintf("%+v %#v", *sc, *sc))

		if len(sc.APITokens) == 0 {
			t.Fatal("accepted without API tokens")
		}
		for _, tok := range append(append(sc.APITokens[:0:0], sc.APITokens...), sc.CodecTokens...) {
			if len(tok.Reveal()) < 16 || strings.TrimSpace(tok.Reveal()) != tok.Reveal() {
				t.Fatalf("accepted a token of %d characters (or padded)", len(tok.Reveal()))
			}
		}
		if sc.CodecOpen {
			h, _, err := net.SplitHostPort(sc.HTTPAddr)
			if ip := net.ParseIP(h); err != nil || h != "localhost" && (ip == nil || !ip.IsLoopback()) {
				t.Fatalf("unauthenticated codec server on %q", sc.HTTPAddr)
			}
		}
		for _, o := range sc.CodecOrigins {
			u, err := url.Parse(o)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.HasSuffix(o, "/") {
				t.Fatalf("accepted origin %q", o)
			}
		}
		if sc.MaxDocumentBytes <= 0 || sc.MaxDocumentBytes > awda.MaxImageBytes {
			t.Fatalf("document limit %d", sc.MaxDocumentBytes)
		}
		for _, d := range []int64{int64(sc.BanksTTL), int64(sc.UpdateTimeout), int64(sc.ShutdownTimeout), int64(sc.DrainDelay), int64(sc.NotifyTolerance)} {
			if d < 0 {
				t.Fatalf("negative duration %d", d)
			}
		}
		v, err := sc.Verifier("app-1")
		if err != nil {
			t.Fatalf("accepted secrets do not build a verifier: %v", err)
		}
		if len(v.Keys) != len(sc.NotifyHMACSecrets) || len(v.Keys) == 0 {
			t.Fatalf("verifier has %d keys for %d secrets", len(v.Keys), len(sc.NotifyHMACSecrets))
		}
	})
}

// starterFixedText is what loadStarter prints whatever the input.
const starterFixedText = "want a duration such as 15s or 2m want host:port required: at least one bearer token for the /v1 API " +
	"every token must be at least 16 characters want true or false only allowed when STARTER_HTTP_ADDR is a loopback address: " +
	"it serves decrypted personal data without a token want origins such as http://localhost:8233 want 1 to bytes " +
	"required: the key(s) AWDA signs notifications with"

func startsWithVariable(problem string) bool {
	for _, v := range []string{
		EnvHTTPAddr, EnvAPITokens, EnvCodecTokens, EnvCodecOrigins, EnvCodecOpen, EnvBanksTTL, EnvMaxDocument,
		EnvUpdateTimeout, EnvForwardEvery, EnvOrphanGrace, EnvRetryMax, EnvShutdown, EnvDrainDelay, EnvNotifySecrets,
		EnvNotifyRSAKeys, EnvNotifyTolerate,
	} {
		if strings.HasPrefix(problem, v+": ") || strings.HasPrefix(problem, v+"/") || strings.HasPrefix(problem, v+" or ") {
			return true
		}
	}
	return false
}
