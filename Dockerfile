# OrderStream image: the API (/orderstream, the default entrypoint) and the
# worker (/orderstream-worker; compose overrides the entrypoint) built from this
# module, on a distroless, non-root runtime.
#
# Healthcheck choice. The runtime stage is gcr.io/distroless/static-debian12:nonroot,
# which has no shell, curl or wget, so a healthcheck cannot shell out.
# The Go code stays as it is, and we do not use :debug-nonroot (a full busybox
# shell meant for debugging). Instead, exactly one extra file is copied in:
# the statically linked busybox binary from the official busybox:*-musl image
# (Docker Hub docs: the musl variant is "statically compiled"), installed as
# /usr/local/bin/wget. BusyBox chooses the applet from the name it is run
# under (argv[0]), so run as .../wget it is the wget applet. With no shell
# in the image, nothing runs it under any other name. Compose uses exec-form
# checks that need no shell:
#   ["CMD", "/usr/local/bin/wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/readyz"]
# busybox wget exits non-zero when it cannot connect and on any HTTP status >= 400,
# so /readyz answering 503 (database down) marks the container unhealthy.
#
# There is no HEALTHCHECK here: one image serves both the API (:8080/readyz)
# and the worker (:HEALTH_PORT/healthz), so compose.yaml sets one per service.

# golang 1.26.8 (Debian trixie) matches go.mod's `go 1.26.8`; the official
# image sets GOTOOLCHAIN=local, so bump this tag together with go.mod.
FROM --platform=$BUILDPLATFORM golang:1.26.8-trixie AS build
WORKDIR /src
ENV CGO_ENABLED=0

# Dependencies first: this step re-runs only when go.mod/go.sum change. The
# module cache (about 1 GB with the gqlgen/sqlc tool dependencies) lives in a
# BuildKit cache mount rather than in a layer, so it also survives go.mod
# edits; if the cache is ever pruned, go build simply downloads what it needs.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download

COPY . .
ARG TARGETOS
ARG TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -ldflags="-s -w" -o /out/orderstream . && \
    GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -ldflags="-s -w" -o /out/orderstream-worker ./worker

# Source of the static wget used by the healthchecks (see the top comment).
FROM busybox:1.36.1-musl AS busybox

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=busybox /bin/busybox /usr/local/bin/wget
COPY --from=build /out/orderstream /orderstream
COPY --from=build /out/orderstream-worker /orderstream-worker
# nonroot = 65532:65532 in distroless; numeric so runtimes can verify non-root.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/orderstream"]
