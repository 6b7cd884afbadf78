#!/usr/bin/env bash
# make test-clock: the plain spec suite (what `make spec` runs) with the wall clock shifted by libfaketime, once per
# clock below. The shift is an offset (`faketime -f +Ns`), so every process the suite starts (the sandbox, the CLI,
# node, openssl) sees the same shifted clock as the specs; monotonic time stays real (--exclude-monotonic) so
# timeouts and sleeps are as long as without it. Offsets are computed from the real clock now, so it works any day.
#
# usage: tools/test-clock.sh COMMAND...   (make test-clock: the command of make spec; or e.g.
#        lua5.4 /usr/bin/busted --ignore-lua spec/tokenfile_spec.lua)
# env:   VPPTOKEN_BUILD_DIR (default build), CLOCKS (the names of the clocks to run, default all)
set -uo pipefail
cd "$(dirname "$0")/.."

: "${VPPTOKEN_BUILD_DIR:=build}"
export VPPTOKEN_BUILD_DIR

now=$(date -u +%s)
year=$(date -u +%Y)

# The next time (after now) it is $2 (HH:MM) UTC on $1 (MM-DD) of a year, any year or ($3 = leap) a leap year,
# as seconds since the epoch.
next_at() {
  local md=$1 hm=$2 want=$3 y t
  for ((y = year; y < year + 9; y++)); do
    [ "$want" = leap ] && ! is_leap "$y" && continue
    t=$(date -u -d "$y-$md $hm:00" +%s) || return 1
    if ((t > now)); then echo "$t"; return 0; fi
  done
  return 1
}
is_leap() { (($1 % 4 == 0 && ($1 % 100 != 0 || $1 % 400 == 0))); }

# The clocks: name, then the moment the run starts at (seconds since the epoch). The one place to add another.
CLOCK_NAMES=(year-end leap-day two-years)
declare -A CLOCK_AT=(
  [year-end]=$(next_at 12-31 23:58 any)     # 23:58 UTC on 31 December: the run crosses midnight and the year
  [leap-day]=$(next_at 02-28 23:59 leap)    # 23:59 UTC on 28 February of a leap year: the run crosses into the 29th
  [two-years]=$(date -u -d "$(date -u -d "@$now" '+%Y-%m-%d %H:%M:%S') UTC + 2 years" +%s) # fixed dates pass
)

if [ -z "$(command -v faketime)" ]; then
  echo "test-clock: faketime is not installed (Debian package faketime; make test-deps installs it)" >&2
  exit 2
fi

if [ $# -eq 0 ]; then echo "usage: tools/test-clock.sh COMMAND..." >&2; exit 2; fi
selected=(${CLOCKS:-${CLOCK_NAMES[@]}})

status=0
summary=()
for name in "${selected[@]}"; do
  at=${CLOCK_AT[$name]:-}
  if [ -z "$at" ]; then echo "test-clock: no clock named '$name' (have: ${CLOCK_NAMES[*]})" >&2; exit 2; fi
  offset=$((at - $(date -u +%s)))
  echo "=== test-clock $name: the clock starts at $(date -u -d "@$at" '+%Y-%m-%d %H:%M:%S UTC') (offset +${offset}s)"
  started=$(date -u +%s)
  faketime --exclude-monotonic -f "+${offset}s" "$@"
  rc=$?
  took=$(($(date -u +%s) - started))
  if [ $rc -eq 0 ]; then result=pass; else result="FAIL (exit $rc)"; status=1; fi
  echo "=== test-clock $name: $result in ${took}s"
  summary+=("$(printf '%-10s %s  %s in %ss' "$name" "$(date -u -d "@$at" '+%Y-%m-%d %H:%M')" "$result" "$took")")
done

echo "=== test-clock summary"
printf '  %s\n' "${summary[@]}"
exit $status
