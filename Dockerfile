# syntax=docker/dockerfile:1
# ccaas-mesh-producer image: `docker build -t ccaas-mesh-producer:0.1.0 .`
# Runs as the fixed non-root uid 10001 with a read-only root file system: the only place it
# writes is $TMPDIR (/tmp), which Kubernetes mounts as an emptyDir. Configured by MESH_*
# variables (docs/configuration.md); serves /metrics, /healthz, /readyz on 9108.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# Build stage: the package and its dependencies into a virtualenv, bytecode compiled here so
# the read-only runtime never needs to write any.
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY pyproject.toml README.md ./
COPY producer ./producer
RUN pip install --no-cache-dir . \
    && python -m compileall -q /opt/venv/lib

# Runtime stage: slim, no build files, non-root.
FROM ${PYTHON_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="ccaas-mesh-producer" \
      org.opencontainers.image.description="Contact-center domains as governed data products in an object-storage lake" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.documentation="docs/kubernetes.md"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TMPDIR=/tmp \
    MESH_CONTRACTS_DIR=/app/config/contracts \
    MESH_HTTP_PORT=9108
RUN groupadd --gid 10001 mesh \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin mesh
COPY --from=build /opt/venv /opt/venv
COPY config /app/config
WORKDIR /app
USER 10001:10001
EXPOSE 9108
ENTRYPOINT ["mesh-producer"]
CMD ["run"]
