# syntax=docker/dockerfile:1
#
# awdaflow's image: the worker, the starter, the AWDA sandbox and the health
# probe, built static (CGO_ENABLED=0) and run as a non-root user on a
# distroless base (no shell, no package manager). docker-compose.yml picks
# the binary per service with `entrypoint`.
#
#   docker build -t awdaflow:local .
#   docker run --rm awdaflow:local --help                    # the starter
#   docker run --rm --entrypoint /usr/local/bin/worker awdaflow:local

ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-trimpath
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go build -ldflags="-s -w" -o /out/ \
        ./worker \
        ./starter \
        ./awda/sandbox/cmd/awda-sandbox \
        ./deploy/httpprobe

FROM gcr.io/distroless/static-debian12:nonroot
LABEL org.opencontainers.image.title="awdaflow" \
      org.opencontainers.image.description="Temporal workflows for the AWDA consumer-loan lifecycle: worker, starter (API, webhooks, codec server), AWDA sandbox" \
      org.opencontainers.image.source="https://github.com/awdaflow/awdaflow"
COPY --from=build /out/ /usr/local/bin/
USER nonroot:nonroot
# worker :9091 (health, metrics), starter :8080 (API, webhooks, codec, metrics), sandbox :8089
EXPOSE 8080 9091 8089
ENTRYPOINT ["/usr/local/bin/starter"]
CMD ["serve"]
