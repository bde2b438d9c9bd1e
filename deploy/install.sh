#!/usr/bin/env bash
# install.sh — set up this checkout as a systemd service on a VPS (run once as root; safe to re-run).
#
#   sudo deploy/install.sh [--user NAME]     install or update: venv, config.local.yaml, .env,
#                                            systemd unit, sudoers rule, cron jobs
#   deploy/install.sh --print-unit [--user NAME] [--config FILE]   print the rendered unit and exit
#   deploy/install.sh --print-cron [--user NAME]                   print the rendered cron file and exit
#
# The bot runs as NAME (default: the owner of this checkout, or a new system user "ailab" when root
# owns it). Nothing is started: edit .env and config.local.yaml first, then
# `sudo systemctl start ai-trading-lab` (see deploy/README.md).
set -euo pipefail

DEPLOY_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
APP_DIR="$(cd "$DEPLOY_DIR/.." && pwd)"
SERVICE_NAME="ai-trading-lab"
BOT_USER=""
CONFIG_FILE=""
ACTION="install"

while [[ $# -gt 0 ]]; do
  case "$1" in
    --user) BOT_USER="$2"; shift 2 ;;
    --config) CONFIG_FILE="$2"; shift 2 ;;
    --print-unit) ACTION="print-unit"; shift ;;
    --print-cron) ACTION="print-cron"; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
  esac
done

owner="$(stat -c %U "$APP_DIR")"
BOT_USER="${BOT_USER:-$([[ "$owner" == root ]] && echo ailab || echo "$owner")}"
CONFIG_FILE="${CONFIG_FILE:-$APP_DIR/config.local.yaml}"

render() {  # render TEMPLATE: fill in the placeholders
  sed -e "s|@APP_DIR@|$APP_DIR|g" -e "s|@USER@|$BOT_USER|g" -e "s|@CONFIG@|$CONFIG_FILE|g" "$1"
}

case "$ACTION" in
  print-unit) render "$DEPLOY_DIR/$SERVICE_NAME.service"; exit 0 ;;
  print-cron) render "$DEPLOY_DIR/crontab.example"; exit 0 ;;
esac

[[ "$(id -u)" -eq 0 ]] || { echo "run as root: sudo $0" >&2; exit 1; }
command -v systemctl > /dev/null || { echo "systemd is required" >&2; exit 1; }
# shellcheck source=deploy/lib.sh
source "$DEPLOY_DIR/lib.sh"
PYTHON="$(find_python)" || { echo "Python 3.11 or 3.12 is required (see deploy/README.md, step 1)" >&2; exit 1; }

as_bot() { sudo -u "$BOT_USER" -H "$@"; }

step() { printf '\n== %s\n' "$*"; }

step "user $BOT_USER"
if ! id "$BOT_USER" > /dev/null 2>&1; then
  useradd --system --home-dir "$APP_DIR" --shell /usr/sbin/nologin "$BOT_USER"
fi
chown -R "$BOT_USER:" "$APP_DIR"

step "virtualenv and requirements (with the test tools deploy.sh runs before every restart)"
[[ -x "$APP_DIR/.venv/bin/python" ]] || as_bot "$PYTHON" -m venv "$APP_DIR/.venv"
as_bot "$APP_DIR/.venv/bin/pip" install -q --upgrade pip
as_bot "$APP_DIR/.venv/bin/pip" install -q -r "$APP_DIR/requirements-dev.txt"

step "config and secrets (kept, if they exist)"
[[ -f "$CONFIG_FILE" ]] || as_bot cp "$APP_DIR/config.yaml" "$CONFIG_FILE"
if [[ ! -f "$APP_DIR/.env" ]]; then
  as_bot cp "$APP_DIR/.env.example" "$APP_DIR/.env"
  printf '# Dead-man switch pinged by monitor_bot.sh while the bot is healthy (optional)\nHEALTHCHECK_URL=\n' \
    >> "$APP_DIR/.env"
fi
chmod 600 "$APP_DIR/.env"

step "systemd unit /etc/systemd/system/$SERVICE_NAME.service"
render "$DEPLOY_DIR/$SERVICE_NAME.service" > "/etc/systemd/system/$SERVICE_NAME.service"
systemctl daemon-reload
systemctl enable "$SERVICE_NAME" > /dev/null

step "sudoers: $BOT_USER may start/stop/restart the service (for the monitor and deploys)"
SUDOERS="/etc/sudoers.d/$SERVICE_NAME"
SYSTEMCTL_BIN="$(command -v systemctl)"
{
  for verb in start stop restart reset-failed; do
    echo "$BOT_USER ALL=(root) NOPASSWD: $SYSTEMCTL_BIN $verb $SERVICE_NAME"
  done
} > "$SUDOERS.tmp"
visudo -cf "$SUDOERS.tmp" > /dev/null && chmod 440 "$SUDOERS.tmp" && mv "$SUDOERS.tmp" "$SUDOERS"

step "cron: /etc/cron.d/$SERVICE_NAME (monitor every 5 minutes)"
render "$DEPLOY_DIR/crontab.example" > "/etc/cron.d/$SERVICE_NAME"
chmod 644 "/etc/cron.d/$SERVICE_NAME"

cat <<EOF

Installed. Next:
  1. edit $APP_DIR/.env                (Telegram token and chat ids; exchange keys only for live)
  2. edit $CONFIG_FILE     (mode, symbols, risk; live.allow_live_trading stays false for now)
  3. sudo systemctl start $SERVICE_NAME
  4. sudo -u $BOT_USER $APP_DIR/.venv/bin/python $APP_DIR/scripts/get_status.py
EOF
