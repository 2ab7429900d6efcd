package reconcile_test

import (
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
)

func activityName(n string) activity.RegisterOptions { return activity.RegisterOptions{Name: n} }

func startOptions(id string) client.StartWorkflowOptions { return client.StartWorkflowOptions{ID: id} }
