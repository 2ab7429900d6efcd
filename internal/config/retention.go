package config

import "github.com/awdaflow/awdaflow/internal/config/envconfig"

// Names of the retention variables (docs/configuration.md, "Retention").
const (
	EnvRetentionSchedules        = "RETENTION_SCHEDULES"
	EnvRetentionDocuments        = "RETENTION_DOCUMENTS_DAYS"
	EnvRetentionInbox            = "RETENTION_INBOX_DAYS"
	EnvRetentionAWDACalls        = "RETENTION_AWDA_CALLS_DAYS"
	EnvRetentionUnreferencedDocs = "RETENTION_UNREFERENCED_DOCUMENTS_DAYS"
	EnvRetentionHour             = "RETENTION_HOUR_UTC"
	EnvRetentionBatchSize        = "RETENTION_BATCH_SIZE"
)

// Retention says how long the worker's retention sweeps keep each kind of
// row (internal/retention) and when they run. The periods are whole days.
type Retention struct {
	// Schedules: the worker creates (or brings up to date) the sweeps'
	// Temporal Schedules at startup. false where operations manage them.
	Schedules bool `env:"RETENTION_SCHEDULES" envDefault:"true"`
	// DocumentsDays: a closed loan's documents (ID card, selfie) are
	// deleted this many days after it closed.
	DocumentsDays int `env:"RETENTION_DOCUMENTS_DAYS" envDefault:"90"`
	// InboxDays: a delivered webhook_inbox row is deleted this many days
	// after its delivery.
	InboxDays int `env:"RETENTION_INBOX_DAYS" envDefault:"30"`
	// AWDACallsDays: an awda_calls row is deleted this many days after the
	// call.
	AWDACallsDays int `env:"RETENTION_AWDA_CALLS_DAYS" envDefault:"90"`
	// UnreferencedDocumentsDays: a document no application references
	// (uploaded without an applicant ref and never bound by a create, or
	// with an applicant ref no application was created for) is deleted
	// this many days after its upload. A week lets a lending backend
	// finish a create after uploading, through retries and a weekend;
	// longer keeps personal data that serves no purpose.
	UnreferencedDocumentsDays int `env:"RETENTION_UNREFERENCED_DOCUMENTS_DAYS" envDefault:"7"`
	// HourUTC is the hour of the day (UTC) the sweeps start: 20 is 03:00
	// WIB, after the due-date checks of 01:00 WIB.
	HourUTC int `env:"RETENTION_HOUR_UTC" envDefault:"20"`
	// BatchSize is how many rows one delete takes.
	BatchSize int `env:"RETENTION_BATCH_SIZE" envDefault:"1000"`
}

func (r Retention) check(er *envconfig.Reader) {
	er.Want(EnvRetentionDocuments, r.DocumentsDays > 0, "a positive number of days")
	er.Want(EnvRetentionInbox, r.InboxDays > 0, "a positive number of days")
	er.Want(EnvRetentionAWDACalls, r.AWDACallsDays > 0, "a positive number of days")
	er.Want(EnvRetentionUnreferencedDocs, r.UnreferencedDocumentsDays > 0, "a positive number of days")
	er.Want(EnvRetentionHour, r.HourUTC >= 0 && r.HourUTC <= 23, "an hour from 0 to 23")
	er.Want(EnvRetentionBatchSize, r.BatchSize > 0 && r.BatchSize <= 100_000, "a batch size from 1 to 100000")
}
