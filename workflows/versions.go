package workflows

// Change IDs for workflow.GetVersion. A change to what a running loan does
// (the commands it sends) is made behind one of these, so that histories
// recorded before it replay as they ran; the replay tests over
// testdata/*.json hold it. Each is asked only where the new behaviour would
// differ from the old, so a loan that never meets the case records no
// marker.
const (
	// changeAuthCallbackWins: an authorization callback that arrives while
	// the pages are being read stands against the page's result (a FAILED or
	// EXPIRED one gets a fresh page) instead of being overwritten by PENDING.
	changeAuthCallbackWins = "auth-callback-wins"
)
