# Build: a full Rust toolchain, dependencies compiled in their own layer.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
COPY tests ./tests
RUN cargo build --release --locked --bin tallyfy-slack

# Run: a slim Debian with CA certificates, as a non-root user.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home tallyfy
COPY --from=build /src/target/release/tallyfy-slack /usr/local/bin/tallyfy-slack
ENV HOST=0.0.0.0 PORT=3000
EXPOSE 3000
USER 10001
ENTRYPOINT ["tallyfy-slack"]
CMD ["serve"]
