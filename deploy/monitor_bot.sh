#!/usr/bin/env bash
# monitor_bot.sh — run from cron every 5 minutes (see crontab.example). Checks that the bot's process
# is alive, that its heartbeat is fresh and that its memory is sane; restarts it when it is dead,
# hung (stale heartbeat) or bloated (RSS over a limit), and tells the admins on Telegram. It also
# rotates log files, and pings an external health-check URL (a dead-man's switch such as
# healthchecks.io) while all is well, so a dead VPS — which cannot send anything — is noticed too.
#
# It never restarts a bot an operator stopped on purpose (BOT_ROOT/STOPPED, written by
# scripts/stop_trading.py), and it gives up after MAX_RESTARTS restarts inside RESTART_WINDOW_S
# (a restart loop needs a person, not more restarts).
#
# Environment (all optional; the env file is read too, without being executed):
#   APP_DIR, BOT_ROOT, ENV_FILE     checkout, data root, env file (default: this checkout, APP_DIR/.env)
#   RESTART_CMD                     default "[sudo -n] systemctl restart ai-trading-lab"
#   STALE_AFTER_S=180  STARTUP_GRACE_S=300  MAX_RSS_MB=1200
#   MAX_RESTARTS=3  RESTART_WINDOW_S=3600  ALERT_REPEAT_S=3600 (repeat of the "needs a person" alert)
#   TELEGRAM_BOT_TOKEN, TELEGRAM_ADMIN_IDS (or TELEGRAM_CHAT_IDS), TELEGRAM_NOTIFY_CHAT_IDS, TELEGRAM_API_URL   alerts (curl to the Bot API)
#   HEALTHCHECK_URL                 pinged (GET) on every healthy run
#   LOG_ROTATE_MB=50  LOG_KEEP=5  LOG_SKIP="ai_lab.log"   rotation of LOG_DIR/*.log (the bot rotates its own)
# Exit codes: 0 healthy / starting / held by an operator, 1 restarted, 2 needs a person (restart
# failed, or restart loop: not restarted).
set -uo pipefail

# shellcheck source=deploy/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
load_env_file "$ENV_FILE"

# reset-failed first: after a crash loop systemd refuses plain restarts (start limit hit)
RESTART_CMD="${RESTART_CMD:-$SYSTEMCTL reset-failed $SERVICE_NAME; $SYSTEMCTL restart $SERVICE_NAME}"
STALE_AFTER_S="${STALE_AFTER_S:-180}"
STARTUP_GRACE_S="${STARTUP_GRACE_S:-300}"
MAX_RSS_MB="${MAX_RSS_MB:-1200}"
MAX_RESTARTS="${MAX_RESTARTS:-3}"
RESTART_WINDOW_S="${RESTART_WINDOW_S:-3600}"
LOG_ROTATE_MB="${LOG_ROTATE_MB:-50}"
LOG_KEEP="${LOG_KEEP:-5}"
LOG_SKIP="${LOG_SKIP:-ai_lab.log}"
MONITOR_LOG="$LOG_DIR/monitor.log"
RESTARTS_FILE="$LOG_DIR/monitor.restarts"
GAVE_UP_FILE="$LOG_DIR/monitor.gave-up"
ALERT_REPEAT_S="${ALERT_REPEAT_S:-3600}"
HOST="$(hostname 2>/dev/null || echo vps)"

say() { log_line "$MONITOR_LOG" "$*"; }

# Copy-and-truncate rotation: the writer keeps its file handle, nothing is lost or renamed under it.
rotate_logs() {
  local f size n limit=$(( LOG_ROTATE_MB * 1024 * 1024 ))
  for f in "$LOG_DIR"/*.log; do
    [[ -f "$f" ]] || continue
    [[ " $LOG_SKIP " == *" $(basename "$f") "* ]] && continue
    size="$(stat -c %s "$f" 2>/dev/null || echo 0)"
    (( size > limit )) || continue
    for (( n = LOG_KEEP - 1; n >= 1; n-- )); do
      [[ -f "$f.$n.gz" ]] && mv -f "$f.$n.gz" "$f.$((n + 1)).gz"
    done
    cp -p "$f" "$f.1" && : > "$f" && gzip -f "$f.1"
    rm -f "$f.$((LOG_KEEP + 1)).gz"
    say "rotated $(basename "$f") ($((size / 1024 / 1024)) MB)"
  done
}

# Restarts inside the window, after dropping older ones from the record.
recent_restarts() {
  local now cutoff
  now="$(date +%s)"; cutoff=$(( now - RESTART_WINDOW_S ))
  [[ -f "$RESTARTS_FILE" ]] || { echo 0; return; }
  awk -v c="$cutoff" '$1 >= c' "$RESTARTS_FILE" > "$RESTARTS_FILE.tmp" && mv -f "$RESTARTS_FILE.tmp" "$RESTARTS_FILE"
  wc -l < "$RESTARTS_FILE" | tr -d ' '
}

# alert_due FILE: true (and FILE stamped) if the alert FILE stands for was not sent in ALERT_REPEAT_S.
alert_due() {
  local now last
  now="$(date +%s)"; last="$(cat "$1" 2>/dev/null || echo 0)"
  (( now - ${last:-0} >= ALERT_REPEAT_S )) || return 1
  echo "$now" > "$1"
}

ping_healthcheck() {
  [[ -n "${HEALTHCHECK_URL:-}" ]] || return 0
  curl -fsS -m 10 --retry 2 -o /dev/null "$HEALTHCHECK_URL" || say "health-check ping failed: $HEALTHCHECK_URL"
}

# diagnose: print "ok|starting|dead|hung|memory <detail>" for the bot of BOT_ROOT.
diagnose() {
  local pid age elapsed rss_kb
  if ! pid="$(bot_pid)"; then echo "dead no process"; return; fi
  rss_kb="$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)"
  if (( ${rss_kb:-0} > MAX_RSS_MB * 1024 )); then echo "memory pid $pid RSS $((rss_kb / 1024)) MB > $MAX_RSS_MB MB"; return; fi
  if age="$(heartbeat_age)" && (( age <= STALE_AFTER_S )); then echo "ok pid $pid heartbeat ${age}s"; return; fi
  elapsed="$(ps -o etimes= -p "$pid" 2>/dev/null | tr -d ' ')"
  if (( ${elapsed:-0} < STARTUP_GRACE_S )); then echo "starting pid $pid up ${elapsed:-0}s"; return; fi
  echo "hung pid $pid heartbeat ${age:-missing}s old (limit ${STALE_AFTER_S}s)"
}

restart_bot() {  # restart_bot WHY
  local why="$1" count
  count="$(recent_restarts)"
  if (( count >= MAX_RESTARTS )); then
    say "NOT restarting ($why): already $count restarts in ${RESTART_WINDOW_S}s — needs a person"
    if alert_due "$GAVE_UP_FILE"; then
      notify "🛑 AI Trading Lab on $HOST: $why. Already restarted $count times in $((RESTART_WINDOW_S / 60)) min; NOT restarting again. Please look: journalctl -u $SERVICE_NAME" || true
    fi
    return 2
  fi
  date +%s >> "$RESTARTS_FILE"
  say "restarting ($why): $RESTART_CMD"
  if bash -c "$RESTART_CMD" >> "$MONITOR_LOG" 2>&1; then
    notify "⚠️ AI Trading Lab on $HOST was restarted by the monitor: $why" || say "telegram alert not sent"
    return 1
  fi
  say "restart command FAILED"
  notify "🛑 AI Trading Lab on $HOST: $why, and the restart command failed. Please look." || true
  return 2
}

main() {
  mkdir -p "$LOG_DIR"
  exec 9>"$LOG_DIR/.monitor.lock"
  flock -n 9 || { echo "another monitor run is active"; return 0; }
  rotate_logs
  if [[ -e "$HOLD_FILE" ]]; then
    say "held: $HOLD_FILE exists (stopped by an operator); not checking or restarting"
    ping_healthcheck
    return 0
  fi
  local verdict detail
  read -r verdict detail <<< "$(diagnose)"
  case "$verdict" in
    ok|starting) say "$verdict: $detail"; ping_healthcheck; return 0 ;;
    dead) restart_bot "bot is not running" ;;
    hung) restart_bot "bot is hung: $detail" ;;
    memory) restart_bot "runaway memory: $detail" ;;
  esac
}

main "$@"; exit $?
