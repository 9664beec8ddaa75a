// The harness plumbing: connecting with the SDK the way the Terraform provider does, telling the
// runner's recording proxy which scenario step is running, and printing one JSON line per step.
package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"reflect"
	"sort"
	"strings"

	"github.com/SSHcom/privx-sdk-go/v2/oauth"
	"github.com/SSHcom/privx-sdk-go/v2/restapi"
)

// Drift is a field that was written and read back different (or not at all).
type Drift struct {
	Field string      `json:"field"`
	Wrote interface{} `json:"wrote"`
	Read  interface{} `json:"read"`
}

// StepResult is one line of the harness's output.
type StepResult struct {
	SDK      string  `json:"sdk"`
	Scenario string  `json:"scenario"`
	Step     string  `json:"step"`
	Call     string  `json:"call"`
	OK       bool    `json:"ok"`
	Error    string  `json:"error,omitempty"`
	Drift    []Drift `json:"drift,omitempty"`
}

type credentials struct {
	ID                string `json:"id"`
	Secret            string `json:"secret"`
	OAuthClientID     string `json:"oauth_client_id"`
	OAuthClientSecret string `json:"oauth_client_secret"`
}

// Harness runs the steps of one scenario.
type Harness struct {
	scenario string
	conn     restapi.Connector
	control  *http.Client
	stepURL  string
	failed   bool
}

func mustEnv(name string) string {
	value := os.Getenv(name)
	if value == "" {
		fmt.Fprintf(os.Stderr, "harness: %s is not set\n", name)
		os.Exit(2)
	}
	return value
}

func newHarness(scenario string) *Harness {
	baseURL := mustEnv("COMPAT_BASE_URL")
	caPEM, err := os.ReadFile(mustEnv("COMPAT_CA_FILE"))
	if err != nil {
		fmt.Fprintf(os.Stderr, "harness: reading the CA: %v\n", err)
		os.Exit(2)
	}
	block, _ := pem.Decode(caPEM)
	if block == nil {
		fmt.Fprintln(os.Stderr, "harness: the CA file holds no PEM block")
		os.Exit(2)
	}
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		fmt.Fprintf(os.Stderr, "harness: parsing the CA: %v\n", err)
		os.Exit(2)
	}
	raw, err := os.ReadFile(mustEnv("COMPAT_API_CLIENT_FILE"))
	if err != nil {
		fmt.Fprintf(os.Stderr, "harness: reading the API client: %v\n", err)
		os.Exit(2)
	}
	var creds credentials
	if err := json.Unmarshal(raw, &creds); err != nil {
		fmt.Fprintf(os.Stderr, "harness: decoding the API client: %v\n", err)
		os.Exit(2)
	}
	// As the Terraform provider authenticates: the API client's id and secret, with the OAuth
	// client's id and secret as the Basic digest.
	auth := oauth.WithClientID(
		restapi.New(restapi.BaseURL(baseURL), restapi.TrustAnchor(ca)),
		oauth.Access(creds.ID),
		oauth.Secret(creds.Secret),
		oauth.Digest(creds.OAuthClientID, creds.OAuthClientSecret),
	)
	conn := restapi.New(restapi.Auth(auth), restapi.BaseURL(baseURL), restapi.TrustAnchor(ca))
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	control := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	return &Harness{scenario: scenario, conn: conn, control: control, stepURL: baseURL + "/__compat/step"}
}

// mark tells the recording proxy that the calls that follow belong to this step.
func (h *Harness) mark(step string) {
	body, _ := json.Marshal(map[string]string{"sdk": "go", "scenario": h.scenario, "step": step})
	response, err := h.control.Post(h.stepURL, "application/json", bytes.NewReader(body))
	if err != nil {
		fmt.Fprintf(os.Stderr, "harness: marking step %s: %v\n", step, err)
		return
	}
	response.Body.Close()
}

// step runs one step and prints its result; it returns whether the step passed.
func (h *Harness) step(step, call string, run func() ([]Drift, error)) bool {
	h.mark(step)
	drift, err := run()
	result := StepResult{SDK: "go", Scenario: h.scenario, Step: step, Call: call, OK: err == nil && len(drift) == 0, Drift: drift}
	if err != nil {
		result.Error = err.Error()
	}
	if !result.OK {
		h.failed = true
	}
	line, _ := json.Marshal(result)
	fmt.Println(string(line))
	return err == nil
}

// skip reports a step that could not run because an earlier one failed.
func (h *Harness) skip(step, call, reason string) {
	h.failed = true
	line, _ := json.Marshal(StepResult{SDK: "go", Scenario: h.scenario, Step: step, Call: call, OK: false, Error: "skipped: " + reason})
	fmt.Println(string(line))
}

// normalise makes written and read values comparable: JSON form, nil and empty lists alike,
// string lists as sets (Terraform holds them as sets).
func normalise(value interface{}) string {
	if value == nil {
		return "null"
	}
	v := reflect.ValueOf(value)
	if v.Kind() == reflect.Slice {
		if v.Len() == 0 {
			return "null"
		}
		if strs, ok := value.([]string); ok {
			sorted := append([]string(nil), strs...)
			sort.Strings(sorted)
			value = sorted
		}
	}
	encoded, _ := json.Marshal(value)
	return string(encoded)
}

// fields compares named pairs: fields("name", wrote, read, "comment", wrote, read, ...).
func fields(pairs ...interface{}) []Drift {
	var drift []Drift
	for i := 0; i+2 < len(pairs); i += 3 {
		name := pairs[i].(string)
		wrote, read := pairs[i+1], pairs[i+2]
		if normalise(wrote) != normalise(read) {
			drift = append(drift, Drift{Field: name, Wrote: wrote, Read: read})
		}
	}
	return drift
}

// notFound is how the provider recognises a deleted object (its utils.IsPrivxNotFound).
func notFound(err error) bool {
	if err == nil {
		return false
	}
	s := strings.ToUpper(err.Error())
	return strings.Contains(s, "NOT_FOUND") || strings.Contains(s, "404")
}

func expectGone(err error) error {
	if err == nil {
		return fmt.Errorf("the object can still be read after delete")
	}
	if !notFound(err) {
		return fmt.Errorf("reading a deleted object: want a not-found error, got: %v", err)
	}
	return nil
}

func nonEmpty(field, value string) []Drift {
	if value == "" {
		return []Drift{{Field: field, Wrote: "(set by the server)", Read: ""}}
	}
	return nil
}
