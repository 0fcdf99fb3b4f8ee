# One image for every Outfall process: `outfall ingest`, `outfall api`, `outfall simulate`, ...
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY ingest ingest
COPY compliance compliance
COPY api api
COPY simulators simulators
COPY outfall outfall
RUN pip install --no-cache-dir .
# Mount points of the broker's files and the service accounts' passwords: a new named volume takes this
# ownership, so `outfall broker sync` (as nobody) can write there.
RUN mkdir -p /run/outfall/broker /run/outfall/secrets && chown nobody /run/outfall/broker /run/outfall/secrets \
    && chmod 0700 /run/outfall/secrets
USER nobody
ENTRYPOINT ["outfall"]
