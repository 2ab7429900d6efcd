package stack

import "testing"

// The readiness probe names every search attribute the workflow upserts,
// each with a literal of its type (a Bool compared with an empty string would be refused
// even once the server knows it, and the lane would never be ready).
func TestSearchAttributesProbe(t *testing.T) {
	want := "LoanStage = '' AND LoanStuck = false AND AwdaLoanNo = '' AND ApplicantRef = ''"
	if got := searchAttributesProbe(); got != want {
		t.Fatalf("probe %q, want %q", got, want)
	}
}
