# syntax=docker/dockerfile:1
# Build stage: a wheel and its dependencies into a virtualenv.
FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY pyproject.toml README.md ./
COPY producer ./producer
RUN pip install --no-compile .

# Runtime stage: slim, non-root, read-only root file system friendly.
FROM python:3.11-slim-bookworm
LABEL org.opencontainers.image.title="ccaas-mesh-producer" \
      org.opencontainers.image.description="Contact-center domains as governed data products in an object-storage lake" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TMPDIR=/tmp \
    MESH_CONTRACTS_DIR=/app/config/contracts
RUN useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin mesh
COPY --from=build /opt/venv /opt/venv
COPY config /app/config
WORKDIR /app
USER 10001:10001
EXPOSE 9108
ENTRYPOINT ["mesh-producer"]
CMD ["run"]
