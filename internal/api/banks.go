package api

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/awdaflow/awdaflow/awda"
)

// bankCache holds AWDA's bank list for ttl. One caller refreshes at a time;
// when a refresh fails, a list fetched before is served (stale) rather than
// an error, since bank lists change rarely.
type bankCache struct {
	src BankLister
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	banks   []awda.Bank
	fetched time.Time
}

// get returns the list, whether it is stale, and the refresh error if there
// is no list at all to serve.
func (c *bankCache) get(ctx context.Context) ([]awda.Bank, time.Time, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.banks != nil && c.now().Sub(c.fetched) < c.ttl {
		return c.banks, c.fetched, false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	res, err := c.src.BankList(ctx)
	if err != nil {
		if c.banks != nil {
			return c.banks, c.fetched, true, nil
		}
		return nil, time.Time{}, false, err
	}
	banks := res.Banks
	if banks == nil {
		banks = []awda.Bank{}
	}
	c.banks, c.fetched = banks, c.now()
	return c.banks, c.fetched, false, nil
}

// BanksResponse answers GET /v1/banks.
type BanksResponse struct {
	Banks     []awda.Bank `json:"banks"`
	FetchedAt time.Time   `json:"fetchedAt"`
	// Stale is true when AWDA could not be reached and an older list is
	// served.
	Stale bool `json:"stale,omitempty"`
}

func (s *Server) listBanks(w http.ResponseWriter, r *http.Request) {
	if s.banks.src == nil {
		problem(w, r, http.StatusServiceUnavailable, TypeUnavailable, "no AWDA client is configured")
		return
	}
	banks, at, stale, err := s.banks.get(r.Context())
	if err != nil {
		s.log.Warn().Str("request_id", RequestIDFrom(r.Context())).Str("awda_error_class", awda.ClassOf(err).String()).
			Msg("bank list: AWDA failed")
		problem(w, r, http.StatusBadGateway, TypeUpstream, "AWDA's bank list is unavailable; try again later")
		return
	}
	writeJSON(w, http.StatusOK, BanksResponse{Banks: banks, FetchedAt: at.UTC(), Stale: stale})
}
