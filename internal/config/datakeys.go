package config

import (
	"time"

	"github.com/awdaflow/awdaflow/internal/config/envconfig"
)

// Names of the data key variables (docs/configuration.md, "Data keys").
const (
	EnvDataKeyCacheTTL  = "DATA_KEY_CACHE_TTL"
	EnvDataKeyCacheSize = "DATA_KEY_CACHE_SIZE"
)

// DataKeys tunes the cache of unsealed applicant data keys
// (codec.DataKeys) in the worker and the starter.
type DataKeys struct {
	// CacheTTL is how long an unsealed key is reused before PostgreSQL is
	// asked again: an erasure made by another process takes effect in this
	// one within it.
	CacheTTL time.Duration `env:"DATA_KEY_CACHE_TTL" envDefault:"30s"`
	// CacheSize bounds the number of keys cached.
	CacheSize int `env:"DATA_KEY_CACHE_SIZE" envDefault:"10000"`
}

func (d DataKeys) check(r *envconfig.Reader) {
	r.Want(EnvDataKeyCacheTTL, d.CacheTTL > 0 && d.CacheTTL <= time.Hour, "a duration from 1ns to 1h")
	r.Want(EnvDataKeyCacheSize, d.CacheSize > 0, "a positive integer")
}
