# Shared helpers of ops/up and ops/test (sourced, not run).

say() { printf '\033[1msyncfarm:\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31msyncfarm: %s\033[0m\n' "$*" >&2; exit 1; }

# Install Debian packages that are missing (as root, or through sudo).
ensure_debian_packages() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get to install them"
  local sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  say "installing Debian packages: ${missing[*]}"
  # Wait (up to 10 minutes) for another apt or dpkg, e.g. unattended upgrades on a fresh machine.
  local apt=(apt-get -q -o DPkg::Lock::Timeout=600)
  $sudo env DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y "${missing[@]}" >/dev/null \
    || { $sudo "${apt[@]}" update >/dev/null && $sudo env DEBIAN_FRONTEND=noninteractive \
         "${apt[@]}" install -y "${missing[@]}" >/dev/null; } \
    || die "could not install ${missing[*]}"
}

# Create .venv (Python 3.11+) and install syncfarm into it; $1 is the extra, e.g. "[dev]".
ensure_venv() {
  local extra="${1:-}"
  local python="${PYTHON:-python3}"
  "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "syncfarm needs Python 3.11 or newer ($python is $("$python" --version 2>&1))"
  if [ ! -x .venv/bin/python ]; then
    say "creating .venv"
    "$python" -m venv .venv || { ensure_debian_packages python3-venv; "$python" -m venv .venv; }
  fi
  local stamp=".venv/.installed${extra}"
  if [ ! -f "$stamp" ] || [ setup.cfg -nt "$stamp" ]; then
    say "installing syncfarm${extra} and its dependencies"
    .venv/bin/python -m pip install -q --upgrade pip >/dev/null
    .venv/bin/python -m pip install -q -e ".${extra}" || die "pip install failed"
    touch "$stamp"
  fi
  export PATH="$PWD/.venv/bin:$PATH"
}

redis_answers() { # $1: URL
  .venv/bin/python - "$1" <<'PY' 2>/dev/null
import sys, redis
redis.Redis.from_url(sys.argv[1], socket_connect_timeout=1).ping()
PY
}

mongo_answers() { # $1: URL
  .venv/bin/python - "$1" <<'PY' 2>/dev/null
import sys, pymongo
pymongo.MongoClient(sys.argv[1], serverSelectionTimeoutMS=1500).admin.command("ping")
PY
}

wait_for() { # $1: what, $2..: command that succeeds when ready
  local what="$1"; shift
  for _ in $(seq 1 100); do "$@" && return 0; sleep 0.2; done
  die "$what did not start; see var/log/"
}
