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
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/vestibule"]
CMD ["serve", "-config", "/etc/vestibule/config.yaml"]
