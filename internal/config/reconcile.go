package config

import "github.com/awdaflow/awdaflow/internal/config/envconfig"

// Names of the reconciliation variables (docs/configuration.md,
// "Reconciliation").
const (
	EnvReconcileSchedule  = "RECONCILE_SCHEDULE"
	EnvReconcileHour      = "RECONCILE_HOUR_UTC"
	EnvReconcileMinute    = "RECONCILE_MINUTE"
	EnvReconcileBatchSize = "RECONCILE_BATCH_SIZE"
)

// Reconcile says when the worker's daily reconciliation with AWDA runs
// (internal/reconcile) and how large its batches are.
type Reconcile struct {
	// ReconcileSchedule: the worker creates (or brings up to date) the
	// reconciliation's Temporal Schedule at startup. false where
	// operations manage it, or to turn the daily run off (the worker
	// still runs a reconciliation started by hand).
	ReconcileSchedule bool `env:"RECONCILE_SCHEDULE" envDefault:"true"`
	// ReconcileHourUTC and ReconcileMinute are when the run starts each
	// day: 21:30 UTC is 04:30 WIB, after the due-date checks (01:00 WIB
	// plus up to 3 h of jitter), so that the run neither competes with
	// them for AWDA's rate limit nor reports their in-flight moves.
	ReconcileHourUTC int `env:"RECONCILE_HOUR_UTC" envDefault:"21"`
	ReconcileMinute  int `env:"RECONCILE_MINUTE" envDefault:"30"`
	// ReconcileBatchSize is how many active loans one activity checks:
	// each costs a describe, a query and one AWDA loan/info, one loan at
	// a time.
	ReconcileBatchSize int `env:"RECONCILE_BATCH_SIZE" envDefault:"100"`
}

func (r Reconcile) check(er *envconfig.Reader) {
	er.Want(EnvReconcileHour, r.ReconcileHourUTC >= 0 && r.ReconcileHourUTC <= 23, "an hour from 0 to 23")
	er.Want(EnvReconcileMinute, r.ReconcileMinute >= 0 && r.ReconcileMinute <= 59, "a minute from 0 to 59")
	er.Want(EnvReconcileBatchSize, r.ReconcileBatchSize > 0 && r.ReconcileBatchSize <= 10_000, "a batch size from 1 to 10000")
}
