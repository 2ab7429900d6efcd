// Package tracing is awdaflow's OpenTelemetry tracing: one trace from
// POST /v1/applications through the workflow and its activities to the AWDA
// HTTP call, and the webhook receive → inbox → signal path, whose
// asynchronous hop is bridged by a span link.
//
// It is off by default. It turns on with the standard OTEL_* variables,
// read from the process environment as the OTel SDK reads them:
// OTEL_TRACES_EXPORTER=otlp, or an OTLP endpoint (OTEL_EXPORTER_OTLP_ENDPOINT,
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) with OTEL_TRACES_EXPORTER unset;
// OTEL_SDK_DISABLED=true and OTEL_TRACES_EXPORTER=none keep it off. Off, it
// costs nothing: no HTTP middleware, no Temporal interceptor, no trace
// context stored with a notification.
//
// What it must never do: put personal data in a span. Span names are routes
// and operation names, attributes are our IDs (applicant refs, workflow IDs,
// AWDA's opaque IDs) and HTTP metadata; never a body, a query string, a
// header value or an error message (errors are recorded by type only: see
// redactedSpan).
package tracing
