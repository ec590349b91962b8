#!/usr/bin/env bash
# tests/e2e/due_cli.sh — `jiesuctl due` as operators run it: the shipped profiles and calendars
# from the repository, answers in +08:00 on one line with exit 0, and exit 2 with one clear
# message for each kind of error (unknown profile or kind, a year with no calendar, a deadline
# agreed per case, a malformed instant, a missing option). Needs no stack: pure logic over
# deploy/policies and deploy/calendar. Expected answers are worked out in docs/DEADLINES.md and
# tests/unit/test_deadline.c. (Passes once tools/jiesuctl.c dispatches `due` to
# deadline_cli_due; until then jiesuctl answers "unknown command".)
. "$(dirname "$0")/lib.bash"
cd "${JIESU_ROOT:-$(dirname "$0")/../..}" || exit 1
CTL="$JIESU_BIN/jiesuctl"

due_is() { # expected-output args... : exit 0, exactly that one line on stdout, nothing on stderr
  local want=$1 out err st; shift
  out=$("$CTL" due "$@" 2>/tmp/e2e-due-err.$$); st=$?
  err=$(cat /tmp/e2e-due-err.$$); rm -f /tmp/e2e-due-err.$$
  [ "$st" = 0 ] && [ "$out" = "$want" ] && [ -z "$err" ] && [ "$(printf '%s\n' "$out" | wc -l)" = 1 ] ||
    { echo "    got exit $st, stdout '$out', stderr '$err'; wanted '$want'"; return 1; }
}

due_fails() { # expected-stderr-fragment args... : exit 2, nothing on stdout, the fragment on stderr
  local want=$1 out err st; shift
  out=$("$CTL" due "$@" 2>/tmp/e2e-due-err.$$); st=$?
  err=$(cat /tmp/e2e-due-err.$$); rm -f /tmp/e2e-due-err.$$
  [ "$st" = 2 ] && [ -z "$out" ] && grep -qF -- "$want" <<<"$err" ||
    { echo "    got exit $st, stdout '$out', stderr '$err'; wanted exit 2 and '$want'"; return 1; }
}

# Answers. 汕头 complaint, 3 working days from Wed 2026-09-30: 10-01..07 are the National Day
# holiday, so 10-08 (1), 10-09 (2) and the make-up Saturday 10-10 (3).
check "汕头 complaint over golden week ends on the make-up Saturday" \
  due_is 2026-10-10T23:59:59+08:00 --profile shantou --kind complaint --from 2026-09-30T10:00:00+08:00
# 枣阳 help 5 wd from 2025-12-31: 01-01..03 rest, Sun 01-04 works, then 05, 06, 07, 08.
check "枣阳 help across the year end (the working Sunday 2026-01-04 counts)" \
  due_is 2026-01-08T23:59:59+08:00 --profile zaoyang --kind help --from 2025-12-31T10:00:00+08:00
# 枣阳 complex 20 wd from Fri 2026-02-13: Sat 02-14, the Spring Festival 02-15..23, Sat 02-28 …
check "枣阳 complex over the Spring Festival with two make-up Saturdays" \
  due_is 2026-03-19T23:59:59+08:00 --profile zaoyang --kind help --complexity complex --from 2026-02-13T09:00:00+08:00
# 2026-02-13T18:00-08:00 is Sat 02-14 10:00 in Shanghai (a make-up working day, the receipt day,
# which does not count): 02-24, 25, 26, 27 and Sat 02-28.
check "an instant in -08:00 is counted from its Shanghai date" \
  due_is 2026-02-28T23:59:59+08:00 --profile tengzhou --kind help --from 2026-02-13T18:00:00-08:00
# 2026-09-29T20:00-05:00 is 09-30 09:00 in Shanghai; 1 wd → 10-08 (the naive date would say 09-30).
check "an instant in -05:00 the evening before" \
  due_is 2026-10-08T23:59:59+08:00 --profile shantou --kind consultation --from 2026-09-29T20:00:00-05:00
check "+05:45 crossing midnight into the make-up Saturday" \
  due_is 2026-10-12T23:59:59+08:00 --profile shantou --kind consultation --from 2026-10-09T23:00:00+05:45
check "枣阳 consultation: immediate, else 24 clock hours" \
  due_is 2026-10-02T09:00:00+08:00 --profile zaoyang --kind consultation --from 2026-09-30T20:00:00-05:00
check "options also as --name=value" \
  due_is 2026-10-09T23:59:59+08:00 --profile=shantou --kind=suggestion --from=2026-09-30T10:00:00+08:00
# 广西 complaint (10 wd, a redacted number's default) from Fri 2025-03-28: in Guangxi 03-31 and 04-01
# are 壮族三月三, 04-04..06 清明 → 04-16; with --region 110000 only the national calendar → 04-14.
check "广西 uses its own regional calendar (三月三)" \
  due_is 2025-04-16T23:59:59+08:00 --profile guangxi --kind complaint --from 2025-03-28T10:00:00+08:00
check "--region chooses another region's calendar" \
  due_is 2025-04-14T23:59:59+08:00 --profile guangxi --kind complaint --region 110000 --from 2025-03-28T10:00:00+08:00
check "JIESU_POLICY_DIR and JIESU_CALENDAR_DIR are honoured" \
  env JIESU_POLICY_DIR="$PWD/deploy/policies" JIESU_CALENDAR_DIR="$PWD/deploy/calendar" \
  bash -c 'cd / && "$0" due --profile shantou --kind help --from 2026-03-02T10:00:00+08:00 | grep -qx 2026-03-05T23:59:59+08:00' "$CTL"

# Errors: exit 2 and one clear message.
check "unknown profile" \
  due_fails "unknown profile 'nope'" --profile nope --kind help --from 2026-03-02T10:00:00+08:00
check "unknown kind" \
  due_fails "unknown kind 'question'" --profile shantou --kind question --from 2026-03-02T10:00:00+08:00
check "unknown complexity" \
  due_fails "unknown complexity 'hard'" --profile shantou --kind help --complexity hard --from 2026-03-02T10:00:00+08:00
check "a year with no calendar (2027) is refused, not guessed" \
  due_fails "no working-day calendar is loaded for 2027" --profile shantou --kind help --from 2027-03-01T10:00:00+08:00
check "a deadline that would run into 2027 is refused" \
  due_fails "no working-day calendar is loaded for 2027" --profile shantou --kind help --from 2026-12-30T10:00:00+08:00
check "科右前旗 agrees deadlines case by case" \
  due_fails "with the enterprise case by case" --profile keyouqianqi --kind consultation --from 2026-03-02T10:00:00+08:00
check "malformed --from" \
  due_fails "is not an RFC 3339 date-time" --profile shantou --kind help --from "2026-03-02 10:00"
check "missing --from" \
  due_fails "--from is required" --profile shantou --kind help
check "missing --kind" \
  due_fails "--kind is required" --profile shantou --from 2026-03-02T10:00:00+08:00
check "unknown option" \
  due_fails "unknown option '--zone'" --profile shantou --kind help --zone +08 --from 2026-03-02T10:00:00+08:00

e2e_finish
