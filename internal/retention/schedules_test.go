package retention_test

import (
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/awdaflow/awdaflow/internal/config"
	"github.com/awdaflow/awdaflow/internal/retention"
	"github.com/awdaflow/awdaflow/internal/store"
)

// One schedule per kind, ten minutes apart from RETENTION_HOUR_UTC, each
// sweeping its kind with its own period.
func TestSchedules(t *testing.T) {
	cfg := config.Retention{DocumentsDays: 90, InboxDays: 30, AWDACallsDays: 60, UnreferencedDocumentsDays: 7,
		HourUTC: 20, BatchSize: 500}
	want := []struct {
		id     string
		kind   string
		minute int
		days   int
	}{
		{"awdaflow-retention-documents", store.RetentionDocuments, 0, 90},
		{"awdaflow-retention-inbox", store.RetentionInbox, 10, 30},
		{"awdaflow-retention-awda-calls", store.RetentionAWDACalls, 20, 60},
		{"awdaflow-retention-unreferenced-documents", store.RetentionUnreferencedDocuments, 30, 7},
	}
	got := retention.Schedules(cfg)
	if len(got) != len(want) {
		t.Fatalf("%d schedules, want %d", len(got), len(want))
	}
	for i, w := range want {
		s := got[i]
		if s.ID != w.id || retention.ScheduleID(w.kind) != w.id {
			t.Errorf("schedule %d: ID %s (ScheduleID %s), want %s", i, s.ID, retention.ScheduleID(w.kind), w.id)
		}
		cal := s.Spec.Calendars
		if len(cal) != 1 || cal[0].Hour[0].Start != 20 || cal[0].Minute[0].Start != w.minute {
			t.Errorf("%s: calendars %+v, want 20:%02d", w.id, cal, w.minute)
		}
		a, ok := s.Action.(*client.ScheduleWorkflowAction)
		if !ok || len(a.Args) != 1 {
			t.Fatalf("%s: action %+v", w.id, s.Action)
		}
		in, ok := a.Args[0].(retention.SweepInput)
		wantIn := retention.SweepInput{Kind: w.kind, MaxAge: time.Duration(w.days) * 24 * time.Hour, BatchSize: 500}
		if !ok || in != wantIn {
			t.Errorf("%s: input %+v, want %+v", w.id, a.Args[0], wantIn)
		}
	}
}
