# matrix-msn container image.
#   docker build -t matrix-msn .
#   docker run --rm -v "$PWD/data:/data" matrix-msn   # first run: writes /data/config.yaml
#   docker run --rm matrix-msn --help                 # options and exit codes, no files
# The bridge runs as UID/GID 1337; make the /data volume writable for it
# (`chown 1337:1337 data`; the container says so otherwise). The config it writes listens on
# 0.0.0.0; set appservice.address to the address the homeserver reaches this container at.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MATRIX_MSN_LAUNCHER=docker \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/matrix-msn
COPY pyproject.toml setup.py MANIFEST.in README.md example-config.yaml docker-entrypoint.sh ./
COPY bridge ./bridge
# setup.py puts example-config.yaml into the package (the base config.yaml is checked against)
RUN pip install ".[postgres,sqlite]" \
    && chmod 0755 docker-entrypoint.sh \
    && groupadd --system --gid 1337 matrixmsn \
    && useradd --system --uid 1337 --gid 1337 --home-dir /data --no-create-home matrixmsn \
    && mkdir -p /data \
    && chown matrixmsn:matrixmsn /data

USER matrixmsn
WORKDIR /data
VOLUME /data
EXPOSE 29340

ENTRYPOINT ["/opt/matrix-msn/docker-entrypoint.sh"]
