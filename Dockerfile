# Multi-stage build: compile TypeScript, then run on the current Node LTS (26) as a non-root user.
FROM node:26-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM node:26-bookworm-slim AS runtime
ENV NODE_ENV=production HOST=0.0.0.0 PORT=4318 DATA_DIR=/data
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY proto ./proto
COPY migrations ./migrations
COPY bin ./bin
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 4318
HEALTHCHECK --interval=10s --timeout=3s CMD node -e "fetch('http://127.0.0.1:'+process.env.PORT+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# 8 MB semi-spaces: Node 24 took 32 MB each, in every thread, and the server then peaked over
# 300 MB; with 16 it came within half a megabyte of it (bench/README.md, "A twelfth machine" and
# "A thirteenth machine"). Node 26 is started the same way ("A fifty-eighth machine").
CMD ["node", "--max-semi-space-size=8", "dist/src/main.js"]
