package config

import (
	"time"

	"github.com/awdaflow/awdaflow/internal/config/envconfig"
)

// Names of the rate-limit variables (docs/configuration.md, "AWDA rate
// limit").
const (
	EnvRateLimit          = "AWDA_RATE_LIMIT"
	EnvRateReadPerSecond  = "AWDA_RATE_READ_PER_SECOND"
	EnvRateReadBurst      = "AWDA_RATE_READ_BURST"
	EnvRateWritePerSecond = "AWDA_RATE_WRITE_PER_SECOND"
	EnvRateWriteBurst     = "AWDA_RATE_WRITE_BURST"
	EnvRateUploadPerSec   = "AWDA_RATE_UPLOAD_PER_SECOND"
	EnvRateUploadBurst    = "AWDA_RATE_UPLOAD_BURST"
	EnvRateMaxWait        = "AWDA_RATE_MAX_WAIT"
	EnvRateBusyBase       = "AWDA_RATE_BUSY_BACKOFF"
	EnvRateBusyCap        = "AWDA_RATE_BUSY_BACKOFF_CAP"
	EnvRateBusyDecay      = "AWDA_RATE_BUSY_DECAY"
	EnvRateBusyStorm      = "AWDA_RATE_BUSY_STORM_PERCENT"
)

// RateLimit is the one limit toward AWDA that every process calling it
// shares, kept in PostgreSQL (internal/ratelimit): requests per second and
// burst per rate class (awda.RateRead, RateWrite, RateUpload), and how the
// fleet backs off when AWDA answers busy. The rates are the fleet's, not a
// replica's: adding workers does not raise them.
type RateLimit struct {
	// The defaults (docs/operations.md, "AWDA rate limit", sizing) carry
	// the highest load measured on the bench machine (about 4 new loans a
	// second) without slowing it, some 300,000 new loans a day; set them to
	// what AWDA grants.
	//
	// Enabled: every AWDA call takes a slot from the shared limiter.
	// false: no limit (a sandbox, a test).
	Enabled bool `env:"AWDA_RATE_LIMIT" envDefault:"true"`
	// Reads: loan/info, auth/list, auth/page, bank/list, bankcard/query,
	// loan/agreement.
	ReadPerSecond int `env:"AWDA_RATE_READ_PER_SECOND" envDefault:"100"`
	ReadBurst     int `env:"AWDA_RATE_READ_BURST" envDefault:"100"`
	// Writes: register, eligible-check, bankcard/verify, loan/submit,
	// loan/sign, repayment/va, redirect-url.
	WritePerSecond int `env:"AWDA_RATE_WRITE_PER_SECOND" envDefault:"40"`
	WriteBurst     int `env:"AWDA_RATE_WRITE_BURST" envDefault:"40"`
	// Uploads: image/token, image/upload, image/upload-base64.
	UploadPerSecond int `env:"AWDA_RATE_UPLOAD_PER_SECOND" envDefault:"20"`
	UploadBurst     int `env:"AWDA_RATE_UPLOAD_BURST" envDefault:"20"`
	// MaxWait is the longest a call waits for its slot (less when its
	// context ends sooner); a call that would wait longer is not sent and
	// fails busy, and Temporal retries it later.
	MaxWait time.Duration `env:"AWDA_RATE_MAX_WAIT" envDefault:"10s"`
	// BusyBackoff is the first pause of a class, fleet-wide, in a busy
	// storm; it doubles while the storm goes on, up to BusyBackoffCap, and
	// starts again from BusyBackoff after BusyDecay without one.
	BusyBackoff    time.Duration `env:"AWDA_RATE_BUSY_BACKOFF" envDefault:"1s"`
	BusyBackoffCap time.Duration `env:"AWDA_RATE_BUSY_BACKOFF_CAP" envDefault:"30s"`
	BusyDecay      time.Duration `env:"AWDA_RATE_BUSY_DECAY" envDefault:"1m"`
	// BusyStormPercent: AWDA is in a busy storm for a class when at least
	// this share of the fleet's recent calls of the class (the last ten
	// seconds or so) were answered busy, and at least three. Isolated busy
	// answers are only retried.
	BusyStormPercent int `env:"AWDA_RATE_BUSY_STORM_PERCENT" envDefault:"50"`
}

func (r RateLimit) check(er *envconfig.Reader) {
	const perSecond, burst = "whole requests per second from 1 to 10000", "a burst from 1 to 10000"
	er.Want(EnvRateReadPerSecond, r.ReadPerSecond >= 1 && r.ReadPerSecond <= 10_000, perSecond)
	er.Want(EnvRateReadBurst, r.ReadBurst >= 1 && r.ReadBurst <= 10_000, burst)
	er.Want(EnvRateWritePerSecond, r.WritePerSecond >= 1 && r.WritePerSecond <= 10_000, perSecond)
	er.Want(EnvRateWriteBurst, r.WriteBurst >= 1 && r.WriteBurst <= 10_000, burst)
	er.Want(EnvRateUploadPerSec, r.UploadPerSecond >= 1 && r.UploadPerSecond <= 10_000, perSecond)
	er.Want(EnvRateUploadBurst, r.UploadBurst >= 1 && r.UploadBurst <= 10_000, burst)
	er.Want(EnvRateMaxWait, r.MaxWait > 0, positiveDuration)
	er.Want(EnvRateBusyBase, r.BusyBackoff > 0, positiveDuration)
	er.Want(EnvRateBusyCap, r.BusyBackoffCap >= r.BusyBackoff, "a duration not below "+EnvRateBusyBase)
	er.Want(EnvRateBusyDecay, r.BusyDecay > 0, positiveDuration)
	er.Want(EnvRateBusyStorm, r.BusyStormPercent >= 1 && r.BusyStormPercent <= 100, "a percentage from 1 to 100")
}
