# Build: the Rust toolchain on Debian 12, the release the runtime image below is built from
# (the binary links against its glibc).
FROM rust:1.95.0-bookworm AS build
WORKDIR /src
# Dependencies first, in a layer of their own: built against empty targets, this layer is
# reused until a Cargo.toml or Cargo.lock changes, so a code change rebuilds only this crate.
# Cargo loads the whole workspace, so the other members (the stand-ins and the sandbox,
# never built here) are there as their manifests and empty targets.
COPY Cargo.toml Cargo.lock ./
COPY stand-ins/Cargo.toml stand-ins/
COPY sandbox/Cargo.toml sandbox/
RUN mkdir -p src benches stand-ins/src/bin/bench_upstream sandbox/src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs stand-ins/src/lib.rs sandbox/src/lib.rs \
    && echo 'fn main() {}' > benches/directory.rs \
    && echo 'fn main() {}' > stand-ins/src/bin/bench_upstream/main.rs \
    && echo 'fn main() {}' > stand-ins/src/bin/bench_submit.rs \
    && echo 'fn main() {}' > sandbox/src/main.rs \
    && cargo build --release --locked -p tallyfy-slack --bin tallyfy-slack \
    && rm -rf src benches target/release/tallyfy-slack* \
        target/release/.fingerprint/tallyfy-slack-* \
        target/release/deps/tallyfy_slack-* target/release/deps/libtallyfy_slack-*
COPY src ./src
COPY benches ./benches
# The Slack app manifest's template, which `tallyfy-slack manifest` has built in.
COPY manifests/slack-app.yaml ./manifests/
RUN cargo build --release --locked -p tallyfy-slack --bin tallyfy-slack

# Run: distroless "cc" (glibc, libgcc, CA certificates; no shell, no package manager),
# pinned by digest. To update: `docker buildx imagetools inspect
# gcr.io/distroless/cc-debian12:nonroot` and replace the digest.
FROM gcr.io/distroless/cc-debian12:nonroot@sha256:9dac0a79194e45a7da0158a9c6da57b217585af0786db3845d1f0ec1a0dd182f
COPY --from=build /src/target/release/tallyfy-slack /usr/local/bin/tallyfy-slack
ENV HOST=0.0.0.0 PORT=3000
EXPOSE 3000
# The same non-root user the Kubernetes manifests run as.
USER 10001:10001
ENTRYPOINT ["/usr/local/bin/tallyfy-slack"]
CMD ["serve"]
