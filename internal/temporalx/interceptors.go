package temporalx

import (
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
)

// AddInterceptors appends the client interceptors contributed to the fx
// group `group:"temporal.interceptors"` (tracing.Module's, when tracing is
// on), skipping nil ones. A worker built from the client applies those that
// are also worker interceptors.
func AddInterceptors(o *client.Options, is []interceptor.ClientInterceptor) {
	for _, i := range is {
		if i != nil {
			o.Interceptors = append(o.Interceptors, i)
		}
	}
}
