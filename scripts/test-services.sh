#!/usr/bin/env bash
# Installs and starts the real components the tests talk to. Idempotent; needs root for apt.
# Fails (never skips) when a component cannot be brought up: CI must not go green without it.
#   PostgreSQL   127.0.0.1:5432, trust auth (catalog tests)
#   PulseAudio   a null sink "jxdaq_null", default sink; its monitor is the default source, so
#                PortAudio's ALSA "pulse"/"default" device plays into it and records it back.
#                A 4-channel float32 null sink "jxdaq_quad" for lanes (emulators with
#                --outputs boards / lower=3,upper=4 sum into it; PULSE_SINK / PULSE_SOURCE
#                choose it): channel for channel, nothing resampled, remixed or quantized
#   JACK         `jackd -d dummy`: a clock without hardware, for MIDI virtual ports
set -euo pipefail

PG_HOST=${JXDAQ_TEST_PG_HOST:-127.0.0.1}
PG_PORT=${JXDAQ_TEST_PG_PORT:-5432}
NULL_SINK=${JXDAQ_TEST_NULL_SINK:-jxdaq_null}
QUAD_SINK=${JXDAQ_TEST_QUAD_SINK:-jxdaq_quad}
# The layout ALSA's pulse plugin gives a 4-channel stream: the same on the sink, so PulseAudio
# maps channel to channel and mixes nothing across (tests/support/device_support.py: QUAD_CHANNEL_MAP).
QUAD_CHANNEL_MAP=front-left,front-right,rear-left,rear-right
SERVICES_DIR=${JXDAQ_SERVICES_DIR:-/tmp/jxdaq-services}
mkdir -p "$SERVICES_DIR"

# -- packages -------------------------------------------------------------------------------
need_apt=()
command -v pg_ctlcluster >/dev/null || need_apt+=(postgresql)
command -v pulseaudio >/dev/null || need_apt+=(pulseaudio)
command -v pactl >/dev/null || need_apt+=(pulseaudio-utils)
command -v jackd >/dev/null || need_apt+=(jackd2)
command -v jack_lsp >/dev/null || need_apt+=(jackd2)
# Headless Chromium and its WebDriver for the dashboard's browser test (tests/browser).
command -v chromium >/dev/null || need_apt+=(chromium)
command -v chromedriver >/dev/null || need_apt+=(chromium-driver)
# promtool checks and unit-tests deploy/prometheus's rules (tests/test_prometheus_rules.py).
command -v promtool >/dev/null || need_apt+=(prometheus)
# WebDataset reads the API's shards through `pipe:curl` URLs (tests/daq/test_export_formats.py).
command -v curl >/dev/null || need_apt+=(curl)
# PortAudio (sounddevice) reaches PulseAudio through ALSA's pulse plugin; rtmidi needs libasound.
for lib in libportaudio2 libasound2-plugins libasound2 libjack-jackd2-0; do
  dpkg-query -W -f='${Status}' "$lib" 2>/dev/null | grep -q "install ok installed" || need_apt+=("$lib")
done
if ((${#need_apt[@]})); then
  echo "installing: ${need_apt[*]}"
  # jackd2 asks whether to enable realtime priority; a CI machine must not be asked.
  echo "jackd2 jackd/tweak_rt_limits boolean false" | debconf-set-selections
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${need_apt[@]}" >/dev/null
fi

# -- PostgreSQL -----------------------------------------------------------------------------
pg_ready() { pg_isready -q -h "$PG_HOST" -p "$PG_PORT"; }
if ! pg_ready; then
  echo "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  for _ in $(seq 30); do pg_ready && break; sleep 1; done
fi
pg_ready || { echo "PostgreSQL is not reachable at $PG_HOST:$PG_PORT" >&2; exit 1; }
echo "PostgreSQL ready at $PG_HOST:$PG_PORT"

# -- PulseAudio with a null sink --------------------------------------------------------------
pulse_up() { pactl info >/dev/null 2>&1; }
has_sink() { pactl list short sinks 2>/dev/null | cut -f2 | grep -qx "$1"; }
if ! pulse_up; then
  echo "starting PulseAudio"
  cat >"$SERVICES_DIR/pulse.pa" <<EOF
load-module module-native-protocol-unix auth-anonymous=1
load-module module-null-sink sink_name=$NULL_SINK sink_properties=device.description=$NULL_SINK
EOF
  # As root only system mode is supported; its socket (/var/run/pulse/native) is where every
  # client looks by default, so tests need no PULSE_SERVER variable.
  mode=()
  [[ $EUID -eq 0 ]] && mode=(--system --disallow-module-loading=no)
  pulseaudio "${mode[@]}" --daemonize=yes --disallow-exit --exit-idle-time=-1 -n \
    -F "$SERVICES_DIR/pulse.pa" --log-target="file:$SERVICES_DIR/pulseaudio.log" || true
  for _ in $(seq 20); do pulse_up && break; sleep 0.5; done
fi
pulse_up || {
  echo "PulseAudio did not come up; log: $SERVICES_DIR/pulseaudio.log" >&2
  tail -20 "$SERVICES_DIR/pulseaudio.log" >&2 2>/dev/null || true
  exit 1
}
has_sink "$NULL_SINK" || pactl load-module module-null-sink "sink_name=$NULL_SINK" >/dev/null
pactl set-default-sink "$NULL_SINK"
pactl set-default-source "$NULL_SINK.monitor"
has_sink "$QUAD_SINK" || pactl load-module module-null-sink "sink_name=$QUAD_SINK" channels=4 \
  "channel_map=$QUAD_CHANNEL_MAP" rate=48000 format=float32le \
  "sink_properties=device.description=$QUAD_SINK" >/dev/null
for sink in "$NULL_SINK" "$QUAD_SINK"; do
  has_sink "$sink" || { echo "PulseAudio has no null sink $sink" >&2; exit 1; }
done
echo "PulseAudio ready: default sink $NULL_SINK, default source $NULL_SINK.monitor;" \
  "4-channel sink $QUAD_SINK"

# -- JACK, dummy backend ----------------------------------------------------------------------
# A JACK client would start a server of its own if none runs; checks must not.
export JACK_NO_START_SERVER=1
# JACK MIDI lands at the start of the cycle after it was sent: a 64-frame cycle (1.3 ms) keeps
# that inside the 2 ms onset check of the MIDI rig test (1024 frames would be 21 ms).
JACK_PERIOD=64
jack_up() { jack_lsp >/dev/null 2>&1; }
if ! jack_up; then
  echo "starting jackd (dummy backend)"
  setsid nohup jackd --no-realtime -d dummy -r 48000 -p "$JACK_PERIOD" \
    >"$SERVICES_DIR/jackd.log" 2>&1 </dev/null &
  for _ in $(seq 20); do jack_up && break; sleep 0.5; done
fi
jack_up || {
  echo "jackd did not come up; log: $SERVICES_DIR/jackd.log" >&2
  tail -20 "$SERVICES_DIR/jackd.log" >&2 2>/dev/null || true
  exit 1
}
# A server started earlier with another period is switched to this one.
[ "$(jack_bufsize 2>/dev/null | head -1)" = "$JACK_PERIOD" ] || jack_bufsize "$JACK_PERIOD" >/dev/null
echo "JACK ready (dummy backend, $JACK_PERIOD-frame cycle)"

# -- Chromium (headless, for tests/browser) ---------------------------------------------------
chromium --version >/dev/null 2>&1 && chromedriver --version >/dev/null 2>&1 || {
  echo "chromium / chromedriver do not run" >&2
  exit 1
}
echo "Chromium ready: $(chromium --version 2>/dev/null | head -1)"
