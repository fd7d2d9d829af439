# cloudbus management node image.
#   docker build -t cloudbus .
#   docker run --rm -e CLOUDBUS_BUS_URL=amqp://... -e CLOUDBUS_DB_URL=postgresql://... cloudbus
# Without CLOUDBUS_BUS_URL/CLOUDBUS_DB_URL the node runs embedded (LocalBus + SQLite in /data).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CLOUDBUS_HOME=/data

WORKDIR /src
# Metadata first so the dependency layer is cached across source-only changes.
COPY pyproject.toml README.md ./
COPY cloudbus ./cloudbus
RUN pip install . && useradd --system --create-home --home-dir /data cloudbus

USER cloudbus
WORKDIR /data
VOLUME ["/data"]
CMD ["cloudbus", "server"]
