# One image for every process of the platform: the six Faust services
# (`faust -A agents.<service> worker`), `python -m dev.bootstrap`, the UPI
# gateway simulator, the mail sink and the `megatron` operator CLI.
# docker-compose.yml picks the process with `command:`.

# --- build: install the project into a virtualenv ---------------------------
FROM python:3.11-slim AS build

# A compiler only for dependencies that ship no wheel for this platform;
# it stays in this stage and never reaches the runtime image.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /app
# Copied path by path (not `COPY . .`) so a local .venv/ or var/ never enters
# the image. The `*` entries are optional files: a wildcard that matches
# nothing is skipped.
COPY setup.cfg setup.py* pyproject.toml* MANIFEST.in* README* LICENSE* ./
COPY config/ config/
COPY streams/ streams/
COPY domain/ domain/
COPY tables/ tables/
COPY agents/ agents/
COPY web/ web/
COPY adapters/ adapters/
COPY cli/ cli/
COPY dev/ dev/
RUN pip install --upgrade pip setuptools wheel \
    && pip install .

# --- runtime ----------------------------------------------------------------
FROM python:3.11-slim

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DATA_DIR=/data \
    MAIL_DIR=/data/mail

RUN groupadd --system megatron \
    && useradd --system --gid megatron --home-dir /app --no-create-home megatron \
    && mkdir -p /data \
    && chown megatron:megatron /data

COPY --from=build /opt/venv /opt/venv
# The source tree too: `python -m dev.bootstrap` and friends run from it.
COPY --from=build /app /app
WORKDIR /app

# /data holds RocksDB tables (one folder per worker) and the mail sink's
# messages; docker-compose.yml mounts a named volume there per service, which
# takes the ownership set above on first use.
USER megatron

CMD ["megatron", "--help"]
