# jx-daq: the API server, rig workers and the CLI in one image (see docker-compose.yml).
FROM python:3.11-slim

# PortAudio + ALSA for sound cards (sounddevice, python-rtmidi), libsndfile for FLAC.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libportaudio2 libasound2 libsndfile1 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/jx-daq
COPY pyproject.toml README.md ./
COPY firmware_protocol ./firmware_protocol
COPY db ./db
COPY daq ./daq
COPY models ./models
COPY jxdaq ./jxdaq
RUN pip install --no-cache-dir ".[hardware,s3]"

# An unprivileged user that may open serial ports (dialout) and sound cards (audio).
RUN useradd --system --create-home --groups audio,dialout jxdaq \
    && mkdir -p /var/lib/jxdaq /data/audio \
    && chown jxdaq:jxdaq /var/lib/jxdaq /data/audio
USER jxdaq

ENV JXDAQ_VAR_DIR=/var/lib/jxdaq \
    JXDAQ_STORE_URL=/data/audio \
    NUMBA_CACHE_DIR=/var/lib/jxdaq/numba-cache \
    PYTHONUNBUFFERED=1
VOLUME ["/var/lib/jxdaq", "/data/audio"]
EXPOSE 8000
CMD ["jxdaq", "--help"]
