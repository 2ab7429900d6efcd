package workflows_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/workflows"
)

// uploadAttempts records the heartbeat timeout and start time of every
// attempt of the document upload.
type uploadAttempts struct {
	mu       sync.Mutex
	timeouts []time.Duration
	starts   []time.Time
}

func (h *harness) watchUploads() *uploadAttempts {
	u := &uploadAttempts{}
	h.env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		if info.ActivityType.Name != "UploadDocuments" {
			return
		}
		u.mu.Lock()
		defer u.mu.Unlock()
		u.timeouts = append(u.timeouts, info.HeartbeatTimeout)
		u.starts = append(u.starts, h.env.Now())
	})
	return u
}

// stageAt returns when the loan moved to stage (its recorded transition).
func (h *harness) stageAt(stage workflows.Stage) time.Time {
	for _, tr := range h.status().Transitions {
		if tr.Kind == workflows.KindStage && tr.To == string(stage) {
			return tr.At
		}
	}
	h.t.Fatalf("the loan never moved to %s", stage)
	return time.Time{}
}

// A worker that dies mid-upload is noticed after the heartbeat timeout
// (15 s), not after the attempt's 2-minute start-to-close timeout.
func TestUploadHasAHeartbeatTimeout(t *testing.T) {
	h := newHarness(t)
	ups := h.watchUploads()
	h.at(time.Minute, h.authorizeAll)
	h.at(2*time.Minute, func() { h.submitCard(goodCard()) })
	h.at(3*time.Minute, func() { h.env.CancelWorkflow() })
	h.run(loanInput())
	require.Equal(t, []time.Duration{15 * time.Second}, ups.timeouts)
}

// The upload heartbeats while an AWDA call is in flight: a token call that
// takes more than twice the heartbeat timeout (1 s) does not time the
// attempt out.
//
// The test environment checks heartbeat timeouts in wall time, also in the
// moment between the activity's return and its completion, and the SDK
// sends heartbeats only every 80 % of the timeout. The call's length (2.3 s)
// puts the return well after a send (at about 1/3, 1.13 and 1.93 s), so that
// a loaded machine's delay in completing it is not taken for a timeout.
func TestUploadHeartbeatsThroughSlowCalls(t *testing.T) {
	h := newHarness(t)
	ups := h.watchUploads()
	h.awda.Delay(awda.PathImageToken, 2300*time.Millisecond)
	in := loanInput()
	in.Config.UploadHeartbeatTimeout = time.Second
	h.at(time.Minute, h.authorizeAll)
	h.at(2*time.Minute, func() { h.submitCard(goodCard()) })
	h.at(3*time.Minute, func() { h.env.CancelWorkflow() })
	h.run(in)

	require.Len(t, ups.timeouts, 1, "one attempt, never timed out")
	require.Equal(t, 1, h.awda.Calls(awda.PathImageToken))
	require.Equal(t, 2, h.awda.Calls(awda.PathImageUpload))
	row, _ := h.proj.Row(workflows.LoanWorkflowID(applicantRef))
	require.Equal(t, "CANCELLED", row.Stage)
	require.Contains(t, h.passed(), "SUBMIT", "the upload finished")
}

// An attempt that fails after uploading the KTP image (a busy answer on the
// selfie) is retried without uploading the KTP image again: the progress
// is in its heartbeat details.
func TestUploadRetryResumesAfterTheUploadedImages(t *testing.T) {
	h := newHarness(t)
	ups := h.watchUploads()
	h.awda.FailCodes(awda.PathImageUpload, 0, awda.CodeSystemBusy)
	h.at(time.Minute, h.authorizeAll)
	h.at(2*time.Minute, func() { h.submitCard(goodCard()) })
	h.at(3*time.Minute, func() { h.env.CancelWorkflow() })
	h.run(loanInput())

	require.Len(t, ups.starts, 2)
	require.Equal(t, time.Second, ups.starts[1].Sub(ups.starts[0]), "retried after 1 s")
	require.Equal(t, 1, h.awda.ImagesStored(awda.ImageKTP), "the KTP image was not uploaded again")
	require.Equal(t, 1, h.awda.ImagesStored(awda.ImageSelfie))
	require.Equal(t, 3, h.awda.Calls(awda.PathImageUpload))
	require.Equal(t, 2, h.awda.Calls(awda.PathImageToken), "a token per attempt")
	require.Contains(t, h.passed(), "SUBMIT")
}

// Busy answers fail whole upload attempts, which are retried from 1 s,
// doubling, at most every 30 s: seven busy tokens in a row cost
// 1+2+4+8+16+30+30 s, not the 1+2+4+8+16+32+60 s of the general 1-minute cap.
func TestUploadBackoffOnBusyIsCappedAt30Seconds(t *testing.T) {
	h := newHarness(t)
	ups := h.watchUploads()
	busy := awda.CodeSystemBusy
	h.awda.FailCodes(awda.PathImageToken, busy, busy, busy, busy, busy, busy, busy)
	h.at(time.Minute, h.authorizeAll)
	h.at(2*time.Minute, func() { h.submitCard(goodCard()) })
	h.at(10*time.Minute, func() { h.env.CancelWorkflow() })
	h.run(loanInput())

	require.Len(t, ups.starts, 8)
	var gaps []time.Duration
	for i := 1; i < len(ups.starts); i++ {
		gaps = append(gaps, ups.starts[i].Sub(ups.starts[i-1]))
	}
	require.Equal(t, []time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second}, gaps)
	require.Equal(t, 91*time.Second, h.stageAt(workflows.StageSubmit).Sub(h.stageAt(workflows.StageDocuments)))
}
