// Package bench is `make bench`: the figures of issue 6, measured on the
// whole system run as real processes (tools/stack) and each set against
// a baseline measured in the same run, because a shared machine's timings
// mean little on their own.
package bench
