# taskapi as a container: one compiled binary on a distroless base, nothing else.
# Every command of the build stage also runs outside Docker: .ci/run builds the binary with the same
# `bun install --frozen-lockfile` and `bun run build`, and test/deploy/dockerfile.test.ts replays
# this stage's COPY and RUN steps in an empty folder.

# The Bun version is pinned here and in package.json's packageManager (a test keeps them equal).
FROM oven/bun:1.4.5 AS build
WORKDIR /app
COPY package.json bun.lock bunfig.toml ./
RUN bun install --frozen-lockfile
COPY tsconfig.json ./
COPY drizzle ./drizzle
COPY src ./src
# dist/taskapi embeds the migrations, PGlite's files and the docs UI. The empty data/ becomes the
# volume's mount point: the runtime image has no shell to make it.
RUN bun run build && mkdir -p data

# glibc and CA certificates, no shell, no package manager; uid 65532 ("nonroot").
FROM gcr.io/distroless/base-debian12:nonroot AS runtime
COPY --from=build /app/dist/taskapi /usr/local/bin/taskapi
COPY --from=build --chown=65532:65532 /app/data /data
ENV PATH=/usr/local/bin:/usr/bin:/bin \
    NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    DATA_DIR=/data
USER 65532:65532
EXPOSE 3000
# The embedded database (used when DATABASE_URL is unset) lives here.
VOLUME ["/data"]
# The first start on an empty volume runs initdb (seconds), hence the start period.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 CMD ["/usr/local/bin/taskapi", "healthcheck"]
# No ENTRYPOINT: a command given to `docker run` or Fly's release_command replaces this whole line
# (docker run IMAGE taskapi migrate).
CMD ["/usr/local/bin/taskapi", "serve"]
