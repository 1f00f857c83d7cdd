# One image for all four services: `quoteflow serve <service>` picks which.
FROM python:3.11-slim-bookworm AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# Pango for WeasyPrint PDFs, Noto CJK so Korean quotes render.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 fonts-noto-cjk \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY requirements ./requirements
COPY shared ./shared
COPY services ./services
# The trainer needs the `train` extra (torch, transformers, peft, trl): build with --build-arg EXTRAS=pdf,attachments,train
ARG EXTRAS=pdf,attachments
RUN pip install -c requirements/constraints.txt ".[${EXTRAS}]"
RUN useradd --create-home --uid 10001 quoteflow && mkdir -p /data && chown quoteflow /data
USER quoteflow
ENV QUOTEFLOW_OPS_HOST=0.0.0.0 QUOTEFLOW_OPS_PORT=8080 QUOTEFLOW_LOG_JSON=true QUOTEFLOW_DATA_DIR=/data
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --retries=5 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/readyz', timeout=2).status == 200 else 1)"
ENTRYPOINT ["quoteflow"]
CMD ["serve", "ingest"]
