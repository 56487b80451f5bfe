# Build: a static binary, no cgo (the SQLite driver is pure Go).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/vestibule . \
 && mkdir -p /out/data

# Run: nothing but the binary, as a non-root user.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/vestibule /usr/local/bin/vestibule
COPY --from=build --chown=65532:65532 /out/data /data
COPY config.yaml /etc/vestibule/config.yaml
USER 65532:65532
WORKDIR /data
ENV VESTIBULE_LISTEN=0.0.0.0:8080 VESTIBULE_ADMIN_LISTEN=0.0.0.0:9091
# 8080: the public gateway; 9091: health, readiness and metrics (don't publish it).
EXPOSE 8080 9091
HEALTHCHECK --interval=15s --timeout=5s --retries=3 CMD ["/usr/local/bin/vestibule", "health", "-url", "http://127.0.0.1:9091/healthz"]
ENTRYPOINT ["/usr/local/bin/vestibule"]
CMD ["serve", "-config", "/etc/vestibule/config.yaml"]
