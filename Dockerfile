# One image for every Outfall process: `outfall ingest`, `outfall api`, `outfall simulate`, ...
# Swagger UI's files for /docs, from npm's swagger-ui-dist as pinned in deploy/swagger-ui (no install scripts).
FROM node:22-slim AS docs
WORKDIR /docs
COPY deploy/swagger-ui/package.json deploy/swagger-ui/package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund

# The part of ECharts the dashboard's charts use, as pinned in deploy/echarts, bundled into one ES module.
FROM node:22-slim AS charts
WORKDIR /charts
COPY deploy/echarts/package.json deploy/echarts/package-lock.json deploy/echarts/outfall-echarts.js ./
RUN npm ci --ignore-scripts --no-audit --no-fund \
    && node_modules/.bin/esbuild outfall-echarts.js --bundle --format=esm --minify --outfile=echarts.esm.min.js

FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY ingest ingest
COPY compliance compliance
COPY api api
COPY --from=docs /docs/node_modules/swagger-ui-dist/swagger-ui-bundle.js \
    /docs/node_modules/swagger-ui-dist/swagger-ui.css /docs/node_modules/swagger-ui-dist/LICENSE api/docs_assets/
COPY --from=charts /charts/echarts.esm.min.js /charts/node_modules/echarts/LICENSE \
    /charts/node_modules/echarts/NOTICE api/vendor/echarts/
COPY simulators simulators
COPY outfall outfall
RUN pip install --no-cache-dir .
# Mount points of the broker's files and the service accounts' passwords: a new named volume takes this
# ownership, so `outfall broker sync` (as nobody) can write there.
RUN mkdir -p /run/outfall/broker /run/outfall/secrets && chown nobody /run/outfall/broker /run/outfall/secrets \
    && chmod 0700 /run/outfall/secrets
USER nobody
ENTRYPOINT ["outfall"]
