# Tipline: build the release binary, then run it on a slim Debian as an unprivileged user.
# The binary links SQLite, libpq and OpenSSL statically (built from source), so the runtime
# image needs no database or SSL libraries.

FROM rust:1-bookworm AS builder
WORKDIR /src

# Dependencies first, against stub sources, so that editing the code does not rebuild them.
COPY Cargo.toml Cargo.lock build.rs ./
# The bundled SQLite's compile options (LIBSQLITE3_FLAGS).
COPY .cargo .cargo
RUN mkdir src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src

COPY . .
# COPY keeps the files' old modification times; make sure cargo rebuilds the crate itself.
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked \
    && install -m 0755 target/release/tipline /tipline


FROM debian:bookworm-slim

# ca-certificates: CAs for TLS to PostgreSQL; curl: the compose healthcheck.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 tipline \
    && useradd --system --uid 10001 --gid tipline --home-dir /data --no-create-home \
       --shell /usr/sbin/nologin tipline \
    && mkdir -p /data \
    && chown tipline:tipline /data \
    && chmod 0700 /data

COPY --from=builder /tipline /usr/local/bin/tipline

# The bundled OpenSSL looks for CA certificates under /usr/local/ssl; point it at Debian's.
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    SSL_CERT_DIR=/etc/ssl/certs \
    TIPLINE_BIND=0.0.0.0:8080 \
    TIPLINE_DATA_DIR=/data

USER tipline
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080

ENTRYPOINT ["/usr/local/bin/tipline"]
CMD ["serve"]
