# taskapi as a container: one compiled binary on a distroless base, nothing else.
# Every command of the build stage also runs outside Docker: .ci/run builds the binary with the same
# `bun install --frozen-lockfile` and `bun run build`, and test/deploy/dockerfile.test.ts replays
# this stage's COPY and RUN steps in an empty folder.

# The Bun version is pinned here and in package.json's packageManager (a test keeps them equal).
FROM oven/bun:1.4.5 AS build
ARG TASKAPI_COMMIT
WORKDIR /app
COPY package.json bun.lock bunfig.toml ./
RUN bun install --frozen-lockfile
COPY tsconfig.json ./
COPY drizzle ./drizzle
COPY src ./src
COPY scripts ./scripts
# dist/taskapi embeds the migrations, PGlite's files, a migrated template data folder and the docs
# UI. The empty data/ becomes the volume's mount point: the runtime image has no shell to make it.
# The build context has no .git: `docker build --build-arg TASKAPI_COMMIT=$(git rev-parse --short=12 HEAD)`
# stamps the commit that `taskapi --version` prints.
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
# /healthz answers within milliseconds of launch (the database opens behind it; even a first start
# on an empty volume is ready in about a second), so the start period only covers a busy host.
HEALTHCHECK --interval=30s --timeout=5s --start-period=5s --retries=3 CMD ["/usr/local/bin/taskapi", "healthcheck"]
# No ENTRYPOINT: a command given to `docker run` or Fly's release_command replaces this whole line
# (docker run IMAGE taskapi migrate).
CMD ["/usr/local/bin/taskapi", "serve"]
