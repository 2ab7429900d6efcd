package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.temporal.io/api/workflowservice/v1"

	"github.com/awdaflow/awdaflow/activities"
	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/internal/api"
	"github.com/awdaflow/awdaflow/tools/demo"
	"github.com/awdaflow/awdaflow/tools/stack"
	"github.com/awdaflow/awdaflow/workflows"
)

// ParkResult is the parked-loans measurement.
type ParkResult struct {
	N           int           `json:"n"`
	Concurrency int           `json:"concurrency"`
	Parked      int           `json:"parked"`   // waiting at BANK_CARD at the reading
	Failed      int           `json:"failed"`   // applications the API refused or that never parked
	CreateTime  time.Duration `json:"createNs"` // documents and applications sent
	ParkTime    time.Duration `json:"parkNs"`   // first request to the last loan at BANK_CARD
	// Memory of the worker and the starter with every loan parked, after
	// Settle, and the peaks over the whole run so far.
	Worker  stack.Memory  `json:"worker"`
	Starter stack.Memory  `json:"starter"`
	Settle  time.Duration `json:"settleNs"`
	// CPU is the CPU time each process used from the first request to the
	// memory reading.
	CPU map[string]time.Duration `json:"cpuNs"`
}

// bankCardQuery counts the loans waiting at the bank-card step.
var bankCardQuery = "LoanStage = '" + string(workflows.StageBankCard) + "' AND ExecutionStatus = 'Running'"

// Park creates n applications through the public API, as a lending backend
// does (KTP and selfie uploaded, then the application), at most concurrency
// at a time, and waits until all of them wait at the bank-card step: the
// borrowers never submit a card. It counts the parked loans through
// Temporal's visibility (LoanStage search attribute) instead of polling
// each application, which would load the system the measurement is about.
// Then it waits settle and reads the worker's and the starter's memory.
func Park(ctx context.Context, s *stack.Stack, prefix string, n, concurrency int, seed uint64, settle time.Duration, logf func(string, ...any)) (*ParkResult, error) {
	res := &ParkResult{N: n, Concurrency: concurrency, Settle: settle}
	gen := demo.NewGenerator(seed, time.Now(), []demo.Tenor{{Tenor: 3, Unit: awda.TenorMonth}})
	people := make([]demo.Person, n)
	for i := range people {
		people[i] = gen.Person()
	}
	cpu0, _ := stack.CPUTimes()
	began := time.Now()
	var failed atomic.Int64
	var firstErr atomic.Value
	sem := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := apply(ctx, s.API, demo.RefFor(prefix, i, demo.Happy), &people[i], seed^uint64(i)); err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err)
			}
		}()
	}
	wg.Wait()
	res.CreateTime = time.Since(began)
	if err, _ := firstErr.Load().(error); err != nil && logf != nil {
		logf("parked loans: %d applications failed; the first: %v", failed.Load(), err)
	}
	want := int64(n) - failed.Load()
	logf("parked loans: %d applications created in %s; waiting for them at BANK_CARD", want, res.CreateTime.Round(time.Millisecond))

	last, lastChange := int64(-1), time.Now()
	for {
		c, err := s.Client.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: s.Namespace, Query: bankCardQuery})
		if err != nil {
			return nil, fmt.Errorf("count parked loans: %w", err)
		}
		if c.GetCount() != last {
			last, lastChange = c.GetCount(), time.Now()
		}
		if last >= want {
			break
		}
		if time.Since(lastChange) > 2*time.Minute {
			return nil, fmt.Errorf("parked loans: stuck at %d of %d at BANK_CARD for 2 minutes", last, want)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(2 * time.Second):
			// Not more often: a count scans the visibility store of the
			// server under measurement.
		}
	}
	res.ParkTime = time.Since(began)
	res.Parked = int(last)
	res.Failed = int(failed.Load())
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(settle):
	}
	var err error
	if res.Worker, err = s.WorkerMemory(); err != nil {
		return nil, err
	}
	if res.Starter, err = s.StarterMemory(); err != nil {
		return nil, err
	}
	cpu1, _ := stack.CPUTimes()
	res.CPU = stack.CPUDelta(cpu0, cpu1)
	return res, nil
}

// imagePool is how many distinct KTP and selfie images Park uploads: made
// once, because drawing and encoding one costs a millisecond or two of the
// CPU the system under measurement needs, and their content is nothing to
// it (every upload is a document of its own).
const imagePool = 64

var images = sync.OnceValue(func() (out struct{ ktp, selfie [imagePool][]byte }) {
	for i := range imagePool {
		out.ktp[i], out.selfie[i] = demo.KTPImage(uint64(i)), demo.SelfieImage(uint64(i))
	}
	return out
})

// apply is one applicant of Park: documents, then the application,
// retrying what is temporary (503s under load).
func apply(ctx context.Context, c *demo.Client, ref string, p *demo.Person, docSeed uint64) error {
	try := func(op func() error) error {
		backoff := 200 * time.Millisecond
		for attempt := 1; ; attempt++ {
			err := op()
			if err == nil || !demo.Temporary(err) || attempt == 10 {
				return err
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
		}
	}
	var ktp, selfie api.DocumentResponse
	if err := try(func() (err error) {
		ktp, err = c.UploadDocument(ctx, awda.ImageKTP, ref, "ktp.png", images().ktp[docSeed%imagePool], false)
		return err
	}); err != nil {
		return err
	}
	if err := try(func() (err error) {
		selfie, err = c.UploadDocument(ctx, awda.ImageSelfie, ref, "selfie.jpg", images().selfie[docSeed%imagePool], true)
		return err
	}); err != nil {
		return err
	}
	app := &api.ApplicationRequest{
		ApplicantRef:      ref,
		Applicant:         p.Applicant,
		Loan:              p.Loan,
		EmergencyContacts: p.EmergencyContacts,
		Documents: []activities.DocumentRef{
			{Type: awda.ImageKTP, DocumentID: ktp.DocumentID},
			{Type: awda.ImageSelfie, DocumentID: selfie.DocumentID},
		},
	}
	return try(func() error {
		_, err := c.CreateApplication(ctx, app)
		return err
	})
}
