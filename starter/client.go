package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/awdaflow/awdaflow/internal/api"
	"github.com/awdaflow/awdaflow/workflows"
)

// apiClient calls a running starter's /v1 API.
type apiClient struct {
	base  string
	token string
	http  *http.Client
}

func newAPIClient(base, token string) *apiClient {
	return &apiClient{base: strings.TrimRight(base, "/"), token: token, http: &http.Client{Timeout: 2 * time.Minute}}
}

// do sends a request and returns the status and body.
func (c *apiClient) do(method, path, contentType string, body io.Reader) (int, []byte, error) {
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	return resp.StatusCode, b, err
}

func (c *apiClient) doJSON(method, path string, v any) (int, []byte, error) {
	var body io.Reader
	ct := ""
	if v != nil {
		b, err := json.Marshal(v)
		if err != nil {
			return 0, nil, err
		}
		body, ct = bytes.NewReader(b), "application/json"
	}
	return c.do(method, path, ct, body)
}

// uploadFile uploads one image (multipart) and returns its document ID.
func (c *apiClient) uploadFile(path, imageType, applicantRef string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("imageType", imageType)
	if applicantRef != "" {
		_ = mw.WriteField("applicantRef", applicantRef)
	}
	fw, err := mw.CreateFormFile("file", filepath.Base(path))
	if err != nil {
		return "", err
	}
	_, _ = fw.Write(data)
	if err := mw.Close(); err != nil {
		return "", err
	}
	status, body, err := c.do(http.MethodPost, "/v1/documents", mw.FormDataContentType(), &buf)
	if err != nil {
		return "", err
	}
	if status != http.StatusCreated && status != http.StatusOK {
		return "", &httpError{status: status, body: body}
	}
	var res struct {
		DocumentID string `json:"documentId"`
	}
	if err := json.Unmarshal(body, &res); err != nil || res.DocumentID == "" {
		return "", fmt.Errorf("upload %s: unexpected answer", filepath.Base(path))
	}
	return res.DocumentID, nil
}

type httpError struct {
	status int
	body   []byte
}

func (e *httpError) Error() string {
	var p struct {
		Title, Detail string
		Errors        []struct{ Field, Detail string }
	}
	if json.Unmarshal(e.body, &p) == nil && (p.Title != "" || p.Detail != "") {
		var b strings.Builder
		fmt.Fprintf(&b, "HTTP %d %s: %s", e.status, p.Title, p.Detail)
		for _, fe := range p.Errors {
			fmt.Fprintf(&b, "\n  %s: %s", fe.Field, fe.Detail)
		}
		return b.String()
	}
	return fmt.Sprintf("HTTP %d", e.status)
}

// clientCommand runs apply, status, list, retry, abandon, cancel and erase.
func clientCommand(cmd string, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	f, positional, ok := parseClientFlags(cmd, args, getenv, stderr)
	if !ok {
		return 2
	}
	token := apiToken(getenv)
	if token == "" {
		fmt.Fprintf(stderr, "starter %s: set %s (or %s)\n", cmd, EnvAPIToken, EnvAPITokens)
		return 2
	}
	c := newAPIClient(f.base, token)

	needRef := cmd != "apply" && cmd != "list"
	if needRef && len(positional) != 1 || !needRef && len(positional) != 0 {
		fmt.Fprintf(stderr, "starter %s: wrong arguments\n\n%s", cmd, usage)
		return 2
	}
	if cmd == "apply" && f.file == "" {
		fmt.Fprintf(stderr, "starter apply: --file is required\n")
		return 2
	}
	ref := ""
	if needRef {
		ref = positional[0]
	}
	status, body, want, err := f.send(c, cmd, ref)
	if err == nil && status != want {
		err = &httpError{status: status, body: body}
	}
	if err != nil {
		fmt.Fprintf(stderr, "starter %s: %v\n", cmd, err)
		return 1
	}
	if cmd == "status" {
		statusSummary(stderr, body)
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, body, "", "  ") != nil {
		pretty.Reset()
		pretty.Write(body)
	}
	pretty.WriteByte('\n')
	_, _ = stdout.Write(pretty.Bytes())
	return 0
}

// clientFlags are a client command's flags; each command has its own.
type clientFlags struct {
	base                                         string
	file, stage, stuck, cursor, operator, reason string
	limit                                        int
	force                                        bool
}

// parseClientFlags reads cmd's flags, which may follow the ref (`starter
// retry REF --reason x`), and returns the positional arguments.
func parseClientFlags(cmd string, args []string, getenv func(string) string, stderr io.Writer) (clientFlags, []string, bool) {
	var f clientFlags
	fs := flag.NewFlagSet("starter "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.base, "url", envOr(getenv, EnvURL, DefaultURL), "base URL of the starter")
	switch cmd {
	case "apply":
		fs.StringVar(&f.file, "file", "", "the application (JSON); documents may name a local image as \"file\" instead of a documentId")
	case "list":
		fs.StringVar(&f.stage, "stage", "", "only this stage")
		fs.StringVar(&f.stuck, "stuck", "", "true or false")
		fs.IntVar(&f.limit, "limit", 0, "page size")
		fs.StringVar(&f.cursor, "cursor", "", "the nextCursor of the previous page")
	case "retry", "abandon":
		fs.StringVar(&f.operator, "operator", envOr(getenv, "USER", ""), "who asks")
		fs.StringVar(&f.reason, "reason", "", "why")
	case "cancel":
		fs.StringVar(&f.reason, "reason", "", "why")
	case "erase":
		fs.StringVar(&f.operator, "operator", envOr(getenv, "USER", ""), "who asks (recorded)")
		fs.StringVar(&f.reason, "reason", "", "why (required, recorded)")
		fs.BoolVar(&f.force, "force", false, "erase while the loan runs: its workflow is terminated first")
	}
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return f, nil, false
		}
		if fs.NArg() == 0 {
			return f, positional, true
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// apiToken is the bearer token: EnvAPIToken, else the first of
// EnvAPITokens; "" when neither is set.
func apiToken(getenv func(string) string) string {
	token := getenv(EnvAPIToken)
	if token == "" {
		if ts := strings.Split(getenv(EnvAPITokens), ","); strings.TrimSpace(ts[0]) != "" {
			token = strings.TrimSpace(ts[0])
		}
	}
	return token
}

// send makes cmd's request (about ref, for the commands that take one) and
// returns the answer and the status it should have.
func (f clientFlags) send(c *apiClient, cmd, ref string) (status int, body []byte, want int, err error) {
	app := "/v1/applications/" + url.PathEscape(ref)
	switch cmd {
	case "apply":
		var in []byte
		if in, err = prepareApplication(c, f.file); err == nil {
			status, body, err = c.do(http.MethodPost, "/v1/applications", "application/json", bytes.NewReader(in))
		}
		return status, body, http.StatusAccepted, err
	case "status":
		status, body, err = c.do(http.MethodGet, app, "", nil)
		return status, body, http.StatusOK, err
	case "list":
		status, body, err = c.do(http.MethodGet, f.listPath(), "", nil)
		return status, body, http.StatusOK, err
	case "retry":
		status, body, err = c.doJSON(http.MethodPost, app+"/retry", workflows.RetryRequest{Operator: f.operator, Reason: f.reason})
	case "abandon":
		status, body, err = c.doJSON(http.MethodPost, app+"/abandon", workflows.AbandonRequest{Operator: f.operator, Reason: f.reason})
	case "cancel":
		status, body, err = c.doJSON(http.MethodPost, app+"/cancel", workflows.CancelRequest{Reason: f.reason})
	case "erase":
		status, body, err = c.doJSON(http.MethodPost, "/v1/applicants/"+url.PathEscape(ref)+"/erasure",
			api.ErasureRequest{Operator: f.operator, Reason: f.reason, Force: f.force})
		return status, body, http.StatusOK, err
	}
	return status, body, http.StatusAccepted, err
}

// listPath is the list request's path with its filters.
func (f clientFlags) listPath() string {
	q := url.Values{}
	for k, v := range map[string]string{"stage": f.stage, "stuck": f.stuck, "cursor": f.cursor} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if f.limit > 0 {
		q.Set("limit", fmt.Sprint(f.limit))
	}
	path := "/v1/applications"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	return path
}

func envOr(getenv func(string) string, name, def string) string {
	if v := strings.TrimSpace(getenv(name)); v != "" {
		return v
	}
	return def
}

// prepareApplication reads the application file and uploads the images it
// names: a document {"type": "KTP", "file": "ktp.jpg"} (path relative to the
// application file) becomes {"type": "KTP", "documentId": "…"}. Every other
// field goes to the API as written.
func prepareApplication(c *apiClient, path string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var app map[string]json.RawMessage
	if err := json.Unmarshal(raw, &app); err != nil {
		return nil, fmt.Errorf("%s: not a JSON object", path)
	}
	docsRaw, ok := app["documents"]
	if !ok {
		return raw, nil
	}
	var docs []struct {
		Type       string `json:"type"`
		DocumentID string `json:"documentId,omitempty"`
		File       string `json:"file,omitempty"`
	}
	if err := json.Unmarshal(docsRaw, &docs); err != nil {
		return nil, fmt.Errorf("%s: documents: want [{type, documentId | file}]", path)
	}
	var ref string
	_ = json.Unmarshal(app["applicantRef"], &ref)
	type docRef struct {
		Type       string `json:"type"`
		DocumentID string `json:"documentId"`
	}
	out := make([]docRef, len(docs))
	for i, d := range docs {
		out[i] = docRef{Type: d.Type, DocumentID: d.DocumentID}
		if d.File == "" {
			continue
		}
		if d.DocumentID != "" {
			return nil, fmt.Errorf("%s: documents[%d]: give documentId or file, not both", path, i)
		}
		f := d.File
		if !filepath.IsAbs(f) {
			f = filepath.Join(filepath.Dir(path), f)
		}
		id, err := c.uploadFile(f, d.Type, ref)
		if err != nil {
			return nil, fmt.Errorf("documents[%d]: upload: %w", i, err)
		}
		out[i].DocumentID = id
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	app["documents"] = b
	return json.Marshal(app)
}

// statusSummary prints the lines a person looks for first on stderr (stdout
// stays the JSON, for scripts): the stage, where a stuck loan is parked and
// why, and how a closed loan ended and who ended it.
//
//	loan:REF  FAILED (ended; from the read model)
//	  reason:   abandoned by operations while stuck at submit loan
//	  operator: alice
func statusSummary(w io.Writer, body []byte) {
	var v struct {
		WorkflowID, Source, Stage, Reason, Operator, LoanStatus string
		Terminal                                                bool
		StuckAt                                                 *struct {
			Step, Reason string
			Since        time.Time
		}
		Trail []json.RawMessage
	}
	if json.Unmarshal(body, &v) != nil || v.Stage == "" {
		return
	}
	state := "open"
	if v.Terminal {
		state = "ended"
	}
	src := "live"
	if v.Source == "readModel" {
		src = "from the read model"
	}
	fmt.Fprintf(w, "%s  %s (%s; %s)\n", v.WorkflowID, v.Stage, state, src)
	if v.StuckAt != nil {
		fmt.Fprintf(w, "  stuck at: %s, since %s\n  reason:   %s\n", v.StuckAt.Step, v.StuckAt.Since.UTC().Format(time.RFC3339), v.StuckAt.Reason)
	}
	if v.Terminal && v.Reason != "" {
		fmt.Fprintf(w, "  reason:   %s\n", v.Reason)
	}
	if v.Operator != "" {
		fmt.Fprintf(w, "  operator: %s\n", v.Operator)
	}
	if v.LoanStatus != "" {
		fmt.Fprintf(w, "  AWDA:     %s\n", v.LoanStatus)
	}
	if len(v.Trail) > 0 {
		fmt.Fprintf(w, "  trail:    %d transitions (below)\n", len(v.Trail))
	}
}
