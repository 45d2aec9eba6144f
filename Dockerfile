# authd image. Node 22 because Prisma's CLI (run here for `prisma generate`) wants 22; authd itself
# runs on Node 20.19+, 22.12+ or 24+.

FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Install scripts off, then only argon2's: node-gyp-build test-loads its bundled prebuild and compiles
# from source if that fails (this slim image has no compiler, so the build then stops here instead of
# authd crashing at run time). The others are not needed: @prisma/engines' postinstall would download a
# schema engine authd never runs (`authd migrate` applies the SQL itself), and prune would keep it.
RUN npm ci --no-audit --no-fund --ignore-scripts && npm rebuild argon2
COPY . .
# `npm run build` runs `npm run generate` again itself; the separate step only names the failure.
# --omit=optional too: Prisma's CLI, TypeScript and their tree are optional peers of @prisma/client,
# which --omit=dev alone keeps (350 MiB of node_modules instead of 100).
RUN npm run generate \
 && npm run build \
 && npm prune --omit=dev --omit=optional --no-audit --no-fund

FROM node:22-bookworm-slim
ENV NODE_ENV=production HOST=0.0.0.0 PORT=8080 KEYS_DIR=/var/lib/authd/keys
WORKDIR /app
# Owned by root and read-only to the app; only the keyring is writable.
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
COPY --from=build /app/prisma ./prisma
# A named volume mounted here starts with this owner and mode.
RUN mkdir -p /var/lib/authd/keys && chown node:node /var/lib/authd/keys && chmod 0700 /var/lib/authd/keys
USER node
EXPOSE 8080
# The slim image has no curl; Node's fetch does the probe.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# authd handles SIGTERM (drains, then exits) and SIGHUP (re-reads the keyring) itself, also as PID 1
# (docker-compose.yml adds an init, so that one-off CLI commands stop on Ctrl-C too).
CMD ["node", "dist/src/main.js"]
