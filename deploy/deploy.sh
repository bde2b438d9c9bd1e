#!/usr/bin/env bash
# deploy.sh — update the bot from git with a health check and automatic rollback.
#
#   1. fetch REMOTE/BRANCH and fast-forward to it (never a merge commit; a diverged or dirty
#      checkout stops the deploy before anything changes)
#   2. install requirements and test tools into .venv, run the tests — a failure rolls back before any restart
#   3. restart the service and wait for a fresh heartbeat from the new process
#   4. not healthy within HEALTH_TIMEOUT_S → roll back to the previous commit, reinstall, restart,
#      check again, and tell the admins on Telegram either way
#
# Usage: deploy/deploy.sh [--force]        (--force: redeploy even if already up to date)
#        deploy/deploy.sh --rollback       (go back to the commit before the last deploy)
#
# Environment (all optional; substitute commands are how the tests drive it):
#   APP_DIR, BOT_ROOT, ENV_FILE   checkout, data root, env file
#   REMOTE=origin BRANCH=<current branch>
#   INSTALL_CMD   default ".venv/bin/pip install -q -r requirements-dev.txt" (creates .venv if missing)
#   TEST_CMD      default ".venv/bin/python -m pytest -q -x -p no:cacheprovider -m smoke" (the fast
#                 subset, under a minute; the full suite with its crash tests belongs on a dev machine,
#                 not on a 1-vCPU VPS beside the live bot)
#   RESTART_CMD   default "[sudo -n] systemctl restart ai-trading-lab" (sudo when not root)
#   HEALTH_CMD    default: the built-in check (process alive + heartbeat newer than the restart)
#   HEALTH_TIMEOUT_S=90 HEALTH_POLL_S=2
#   TELEGRAM_BOT_TOKEN, TELEGRAM_ADMIN_IDS (or TELEGRAM_CHAT_IDS), TELEGRAM_NOTIFY_CHAT_IDS, TELEGRAM_API_URL   result messages
# Exit codes: 0 deployed (or up to date), 1 not deployed / rolled back to the previous commit,
#             2 rollback also unhealthy: needs a person now.
set -uo pipefail

# shellcheck source=deploy/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
load_env_file "$ENV_FILE"

REMOTE="${REMOTE:-origin}"
# requirements-dev.txt includes requirements.txt plus the test tools the next step needs.
BASE_PYTHON="$(find_python || echo python3)"  # 3.12 or 3.11 where installed (Ubuntu 22.04's python3 is 3.10)
INSTALL_CMD="${INSTALL_CMD:-[ -x .venv/bin/python ] || $BASE_PYTHON -m venv .venv; .venv/bin/pip install -q -r requirements-dev.txt}"
TEST_CMD="${TEST_CMD:-.venv/bin/python -m pytest -q -x -p no:cacheprovider -m smoke}"
RESTART_CMD="${RESTART_CMD:-$SYSTEMCTL restart $SERVICE_NAME}"
HEALTH_CMD="${HEALTH_CMD:-}"
HEALTH_TIMEOUT_S="${HEALTH_TIMEOUT_S:-90}"
HEALTH_POLL_S="${HEALTH_POLL_S:-2}"
DEPLOY_LOG="$LOG_DIR/deploy.log"
STATE_DIR="$APP_DIR/.deploy"
HOST="$(hostname 2>/dev/null || echo vps)"

say() { log_line "$DEPLOY_LOG" "$*"; }
fail() { say "FAILED: $*"; notify "❌ AI Trading Lab deploy on $HOST: $*" || true; }

run_step() {  # run_step NAME COMMAND: run COMMAND in APP_DIR, output to the deploy log
  say "$1: $2"
  (cd "$APP_DIR" && bash -c "$2") >> "$DEPLOY_LOG" 2>&1
}

# The built-in health check: a live bot process whose heartbeat says "running" and was written in a
# later second than SINCE (epoch s), so the old process's last words never count.
healthy_since() {
  local since="$1" deadline epoch
  deadline=$(( $(date +%s) + HEALTH_TIMEOUT_S ))
  while (( $(date +%s) <= deadline )); do
    if [[ -n "$HEALTH_CMD" ]]; then
      (cd "$APP_DIR" && bash -c "$HEALTH_CMD") >> "$DEPLOY_LOG" 2>&1 && return 0
    else
      epoch="$(heartbeat_epoch)"
      bot_pid > /dev/null && [[ -n "$epoch" ]] && (( epoch > since )) \
        && grep -q '"state": *"running"' "$BOT_ROOT/state/heartbeat.json" && return 0
    fi
    sleep "$HEALTH_POLL_S"
  done
  return 1
}

restart_and_check() {  # restart_and_check LABEL: restart the service, then wait for health
  local since
  since="$(date +%s)"
  run_step "restart ($1)" "$RESTART_CMD" || { say "restart command failed"; return 1; }
  say "waiting up to ${HEALTH_TIMEOUT_S}s for a fresh heartbeat"
  healthy_since "$since"
}

git_in() { git -C "$APP_DIR" "$@"; }

rollback() {  # rollback TO_COMMIT WHY: reset the checkout, reinstall, restart, check
  local to="$1" why="$2"
  say "rolling back to ${to:0:12} ($why)"
  git_in reset -q --hard "$to" || { fail "cannot reset to ${to:0:12}"; return 2; }
  run_step "install (rollback)" "$INSTALL_CMD" || say "install during rollback failed; trying the restart anyway"
  if [[ "${3:-restart}" == "no-restart" ]]; then
    fail "$why; rolled back to ${to:0:12} (the running bot was not touched)"
    return 1
  fi
  if [[ -e "$HOLD_FILE" ]] || restart_and_check "rollback"; then
    fail "$why; rolled back to ${to:0:12}, which is running again"
    return 1
  fi
  fail "$why; the rollback to ${to:0:12} is NOT healthy either — the bot needs a person now"
  return 2
}

fetch_target() {  # prints the commit to deploy
  git_in fetch -q "$REMOTE" "$BRANCH" || return 1
  git_in rev-parse FETCH_HEAD
}

deploy() {
  local force="${1:-}" prev target
  if [[ -n "$(git_in status --porcelain --untracked-files=no)" ]]; then
    fail "local changes in $APP_DIR (git status); commit or discard them first"; return 1
  fi
  prev="$(git_in rev-parse HEAD)"
  target="$(fetch_target)" || { fail "git fetch $REMOTE $BRANCH failed"; return 1; }
  if [[ "$target" == "$prev" && "$force" != "--force" ]]; then say "up to date at ${prev:0:12}"; return 0; fi
  git_in merge -q --ff-only "$target" || { fail "cannot fast-forward to ${target:0:12} (diverged history)"; return 1; }
  mkdir -p "$STATE_DIR" && echo "$prev" > "$STATE_DIR/previous"
  say "updated ${prev:0:12} -> ${target:0:12}"
  run_step "install" "$INSTALL_CMD" || { rollback "$prev" "installing requirements failed" no-restart; return 1; }
  run_step "tests" "$TEST_CMD" || { rollback "$prev" "tests failed on ${target:0:12}" no-restart; return 1; }
  if [[ -e "$HOLD_FILE" ]]; then
    say "deployed ${target:0:12}; $HOLD_FILE exists, so the bot was left stopped"; return 0
  fi
  if restart_and_check "deploy"; then
    say "deployed ${target:0:12}: healthy"
    notify "✅ AI Trading Lab on $HOST deployed ${target:0:12}: healthy" || true
    return 0
  fi
  rollback "$prev" "${target:0:12} was not healthy within ${HEALTH_TIMEOUT_S}s"
}

main() {
  mkdir -p "$LOG_DIR"
  exec 9>"$LOG_DIR/.deploy.lock"
  flock -n 9 || { echo "another deploy is running"; return 1; }
  BRANCH="${BRANCH:-$(git_in rev-parse --abbrev-ref HEAD)}"
  case "${1:-}" in
    --rollback)
      [[ -s "$STATE_DIR/previous" ]] || { echo "no previous deploy recorded"; return 1; }
      rollback "$(cat "$STATE_DIR/previous")" "manual rollback requested" ;;
    ""|--force) deploy "${1:-}" ;;
    *) echo "usage: deploy.sh [--force | --rollback]"; return 2 ;;
  esac
}

main "$@"; exit $?  # one line: bash never reads on into a file a pull rewrote
