# Shared helpers for monitor_bot.sh and deploy.sh (sourced, not run).
#
# Everything is configurable through the environment so the scripts can be tested with substitute
# commands: APP_DIR (the checkout), BOT_ROOT (data root: state/, logs/), ENV_FILE (the same .env the
# bot and systemd read), TELEGRAM_API_URL (a self-hosted or fake Bot API).
# shellcheck shell=bash

DEPLOY_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
APP_DIR="${APP_DIR:-$(cd "$DEPLOY_DIR/.." && pwd)}"
BOT_ROOT="${BOT_ROOT:-$APP_DIR}"
ENV_FILE="${ENV_FILE:-$APP_DIR/.env}"
LOG_DIR="${LOG_DIR:-$BOT_ROOT/logs}"
HOLD_FILE="${HOLD_FILE:-$BOT_ROOT/STOPPED}"
SERVICE_NAME="${SERVICE_NAME:-ai-trading-lab}"
TELEGRAM_API_URL="${TELEGRAM_API_URL:-https://api.telegram.org}"
# The bot's user restarts the service through a narrow sudoers rule (deploy/install.sh); root needs none.
# shellcheck disable=SC2034  # used by the scripts that source this file
if [[ "$(id -u)" -eq 0 ]]; then SYSTEMCTL="systemctl"; else SYSTEMCTL="sudo -n systemctl"; fi

# Read KEY=value lines from the env file without executing it (it holds secrets; never `source` it).
# Variables already set in the environment win, as they do for the bot.
load_env_file() {
  local file="$1" line key value
  [[ -r "$file" ]] || return 0
  while IFS= read -r line || [[ -n "$line" ]]; do
    line="${line#"${line%%[![:space:]]*}"}"
    [[ -z "$line" || "$line" == \#* || "$line" != *=* ]] && continue
    key="${line%%=*}"; key="${key#export }"; key="${key//[[:space:]]/}"
    value="${line#*=}"; value="${value%"${value##*[![:space:]]}"}"
    value="${value#[\"\']}"; value="${value%[\"\']}"
    [[ "$key" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || continue
    [[ -n "${!key+x}" ]] && continue
    printf -v "$key" '%s' "$value"
    export "${key?}"
  done < "$file"
}

log_line() {  # log_line FILE MESSAGE: append one UTC-stamped line, and echo it for cron mail / the terminal
  local file="$1"; shift
  local msg
  msg="$(date -u +%Y-%m-%dT%H:%M:%SZ) $*"
  mkdir -p "$(dirname "$file")" 2>/dev/null || true
  printf '%s\n' "$msg" >> "$file" 2>/dev/null || true
  printf '%s\n' "$msg"
}

# notify TEXT: send TEXT to every admin (TELEGRAM_ADMIN_IDS, old name TELEGRAM_CHAT_IDS) and every
# TELEGRAM_NOTIFY_CHAT_IDS group through the Telegram Bot API (curl), or do nothing
# without a token. The URL (which holds the token) is passed on curl's stdin, never on its command
# line, so other users cannot read the token from `ps`.
notify() {
  local text="$1" chat ok=0
  local chats="${TELEGRAM_ADMIN_IDS:-${TELEGRAM_CHAT_IDS:-}},${TELEGRAM_NOTIFY_CHAT_IDS:-}"
  [[ -n "${TELEGRAM_BOT_TOKEN:-}" && -n "${chats//[,;]/}" ]] || return 0
  for chat in ${chats//[,;]/ }; do
    if printf 'url = "%s/bot%s/sendMessage"\n' "${TELEGRAM_API_URL%/}" "$TELEGRAM_BOT_TOKEN" \
        | curl -sS -m 10 --retry "${TELEGRAM_RETRIES:-2}" --retry-delay 1 -o /dev/null -f -K - \
               --data-urlencode "chat_id=$chat" --data-urlencode "text=$text" \
               --data-urlencode "disable_web_page_preview=true"; then
      ok=$((ok + 1))
    fi
  done
  [[ $ok -gt 0 ]]
}

# bot_pid: print the pid of the bot of BOT_ROOT if it runs (pid file first, then a process scan).
# A process counts only if its --root is BOT_ROOT: a recycled pid of another bot is not ours.
bot_pid() {
  local pid want
  want="$(realpath -m "$BOT_ROOT")"
  pid="$(tr -dc '0-9' 2>/dev/null < "$BOT_ROOT/state/bot.pid" || true)"
  if [[ -n "$pid" ]] && is_bot_pid "$pid" && [[ "$(root_of "$pid")" == "$want" || -z "$(root_of "$pid")" ]]; then
    echo "$pid"; return 0
  fi
  for pid in $(pgrep -f ai_trading_lab 2>/dev/null); do
    if is_bot_pid "$pid" && [[ "$(root_of "$pid")" == "$want" ]]; then echo "$pid"; return 0; fi
  done
  return 1
}

root_of() {  # the --root a bot process was given, as an absolute path (empty when it has none)
  local pid="$1" i val="" args=()
  mapfile -d '' args 2>/dev/null < "/proc/$pid/cmdline" || return 0
  for (( i = 0; i < ${#args[@]}; i++ )); do
    case "${args[$i]}" in
      --root) val="${args[$((i + 1))]:-}" ;;
      --root=*) val="${args[$i]#--root=}" ;;
      *) continue ;;
    esac
    [[ "$val" == /* ]] || val="$(readlink "/proc/$pid/cwd" 2>/dev/null)/$val"
    realpath -m "$val"
    return 0
  done
}

cmdline_of() { tr '\0' ' ' 2>/dev/null < "/proc/$1/cmdline"; }

is_bot_pid() {  # a live (not zombie) process whose command line names ai_trading_lab
  local pid="$1" state
  [[ "$(cmdline_of "$pid")" == *ai_trading_lab* ]] || return 1
  state="$(sed -E 's/.*\) ([A-Za-z]).*/\1/' "/proc/$pid/stat" 2>/dev/null)"
  [[ -n "$state" && "$state" != "Z" && "$state" != "X" ]]
}

# heartbeat_age: seconds since the bot's last heartbeat (its updated_at_epoch, else the file's mtime).
heartbeat_age() {
  local hb="$BOT_ROOT/state/heartbeat.json" epoch now
  [[ -f "$hb" ]] || return 1
  epoch="$(heartbeat_epoch)"
  [[ -n "$epoch" ]] || epoch="$(stat -c %Y "$hb")"
  now="$(date +%s)"
  echo $(( now > epoch ? now - epoch : 0 ))
}

heartbeat_epoch() {  # whole seconds of the heartbeat's updated_at_epoch (first match only)
  sed -nE '/"updated_at_epoch"/{s/.*"updated_at_epoch": *([0-9]+).*/\1/p;q}' "$BOT_ROOT/state/heartbeat.json" 2>/dev/null
}

# The Python to build .venv with: 3.12 (Ubuntu 24.04) or 3.11 (Debian 12, Ubuntu 22.04 with the
# deadsnakes PPA), else the system python3 if it is new enough. Prints nothing when none fits.
find_python() {
  local candidate
  for candidate in python3.12 python3.11 python3; do
    if command -v "$candidate" > /dev/null 2>&1 \
       && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2> /dev/null; then
      command -v "$candidate"; return 0
    fi
  done
  return 1
}
