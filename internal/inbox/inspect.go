package inbox

import (
	"fmt"

	"github.com/awdaflow/awdaflow/awda"
	"github.com/awdaflow/awdaflow/internal/store"
)

// SafeFields returns the fields of a stored notification's payload that
// operations may see: AWDA's opaque IDs, our order number, statuses,
// the installment, the amount and the time. AWDA's pushes carry no name,
// phone, NIK or account number today; anything a payload carries beyond
// these fields (a field AWDA adds one day) is never shown, because the
// payload is decoded into the typed event and only the fields below are
// copied out. A payload that does not parse as its source's event shows
// none of its content: the error names the field only, never its value.
func SafeFields(source string, payload []byte) (map[string]any, error) {
	switch source {
	case store.SourceLoanStatus:
		ev, err := awda.ParseLoanStatusEvent(payload)
		if err != nil {
			return nil, err
		}
		f := map[string]any{"eventId": ev.EventID, "eventType": ev.EventType, "loanNo": ev.LoanNo,
			"orderNo": ev.OrderNo, "userId": ev.UserID, "status": string(ev.Status), "occurredAt": ev.OccurredAt}
		if ev.PrevStatus != "" {
			f["prevStatus"] = string(ev.PrevStatus)
		}
		if ev.Period > 0 {
			f["period"] = ev.Period
		}
		if ev.Amount > 0 {
			f["amount"] = ev.Amount
		}
		return f, nil
	case store.SourceAuthorization:
		ev, err := awda.ParseAuthorizationEvent(payload)
		if err != nil {
			return nil, err
		}
		return map[string]any{"eventId": ev.EventID, "userId": ev.UserID, "authType": ev.AuthType,
			"status": string(ev.Status), "occurredAt": ev.OccurredAt}, nil
	}
	return nil, fmt.Errorf("inbox: unknown source %q", source)
}
