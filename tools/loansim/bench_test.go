package loansim_test

import (
	"testing"

	"github.com/awdaflow/awdaflow/tools/loansim"
)

// TestHistoryCost reports the history cost of the three fixed scenarios and
// holds them to issue 10's goals.
func TestHistoryCost(t *testing.T) {
	for _, c := range loansim.HistoryCost() {
		t.Log(c)
		for _, v := range c.Violations {
			t.Errorf("%s: %s", c.Name, v)
		}
		if c.EventsPerWaitingDay > loansim.GoalEventsPerWaitingDay {
			t.Errorf("%s: %.1f events per waiting day, goal %d", c.Name, c.EventsPerWaitingDay, loansim.GoalEventsPerWaitingDay)
		}
		if c.MaxRunEvents >= loansim.GoalMaxRunEvents {
			t.Errorf("%s: a run of about %d events, goal under %d", c.Name, c.MaxRunEvents, loansim.GoalMaxRunEvents)
		}
	}
}
