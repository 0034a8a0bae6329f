# matrix-msn container image.
#   docker build -t matrix-msn .
#   docker run --rm -v "$PWD/data:/data" matrix-msn   # first run: writes /data/config.yaml
# The bridge runs as UID/GID 1337; make the /data volume writable for it
# (e.g. `chown 1337:1337 data`). For a homeserver in another container, set
# appservice.hostname to 0.0.0.0 and appservice.address to this container's address.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/matrix-msn
COPY pyproject.toml README.md example-config.yaml docker-entrypoint.sh ./
COPY bridge ./bridge
RUN pip install ".[postgres,sqlite]" \
    # the example config is the base the user's config is updated against (pkg://bridge/...)
    && cp example-config.yaml "$(cd / && python -c 'import bridge, os; print(os.path.dirname(bridge.__file__))')/" \
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
