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
USER nobody
ENTRYPOINT ["outfall"]
