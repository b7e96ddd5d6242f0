# ztlens service image: `docker build -t ztlens .` or `docker-compose up -d --build`.
# The build stage compiles the release binary (librdkafka is built from source: make,
# pkg-config, OpenSSL and zlib headers); the runtime stage carries the binary and its
# shared libraries only, runs as an unprivileged user, and keeps its lake on a volume.
FROM rust:1.95-bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      make pkg-config libssl-dev zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin ztlens \
 && cp target/release/ztlens /usr/local/bin/ztlens

FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates libssl3 zlib1g curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/ztlens --create-home ztlens
COPY --from=build /usr/local/bin/ztlens /usr/local/bin/ztlens
USER ztlens
WORKDIR /var/lib/ztlens
ENV ZTLENS_LAKE__DATA_DIR=/var/lib/ztlens/data
VOLUME ["/var/lib/ztlens"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --retries=6 \
  CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["ztlens"]
# Listening beyond loopback needs API tokens ([[server.tokens]] in the config, or
# ZTLENS_SERVER__TOKENS); without them the server refuses to start. See docs/security.md.
CMD ["serve", "--listen", "0.0.0.0:8080"]
