# The mlobs exporter: a slim, non-root image whose entrypoint is `mlobs-exporter`.
# Build: scripts/build-image.sh (a local Debian base, no registry), or with a registry base:
#   docker build --build-arg BASE_IMAGE=docker.io/library/python:3.11-slim-bookworm -t REGISTRY/mlobs-exporter:TAG .
# The base must provide python3 with the venv module; both stages use it, so the venv's interpreter path holds.
ARG BASE_IMAGE=docker.io/library/python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
# pip's index settings, as on the build machine (scripts/build-image.sh passes them; empty: pip's defaults).
ARG PIP_INDEX_URL=""
ARG PIP_EXTRA_INDEX_URL=""
ARG PIP_FIND_LINKS=""
ARG PIP_TRUSTED_HOST=""
ARG PIP_CERT=""
ARG PIP_CONSTRAINT=""
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY exporter exporter
COPY alerts alerts
COPY dashboards dashboards
COPY servicemonitors servicemonitors
COPY bundle bundle
# Runtime dependencies only (no [test] extra); wheels only, so no compiler is ever needed.
RUN python3 -m venv /opt/mlobs \
 && /opt/mlobs/bin/pip install --only-binary=:all: --no-warn-script-location . \
 && /opt/mlobs/bin/pip uninstall --yes pip setuptools \
 && find /opt/mlobs -name '__pycache__' -path '*/tests/*' -prune -exec rm -rf {} +

FROM ${BASE_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=""
ARG SOURCE=""
ARG BASE_IMAGE
LABEL org.opencontainers.image.title="mlobs-exporter" \
      org.opencontainers.image.description="Prometheus exporter for NVIDIA GPUs (NVML), TF Serving and MLflow" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.base.name="${BASE_IMAGE}"
COPY --from=build /opt/mlobs /opt/mlobs
# Bytecode is compiled at build time; nothing is written at run time, so a read-only root filesystem works.
ENV PATH=/opt/mlobs/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
# nobody:nogroup, the GPU DaemonSet's default user (servicemonitors/common.py UNPRIVILEGED_UID).
USER 65534:65534
EXPOSE 9847
ENTRYPOINT ["/opt/mlobs/bin/mlobs-exporter"]
