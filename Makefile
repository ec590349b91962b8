# jiesu — one Makefile for the library, the five daemons, the tools, the tests and the stack.
#
# Targets people type:
#   make            build everything (BUILD=debug: ASan+UBSan, the default; BUILD=release: -O2)
#   make demo       install deps, start the stack and the five daemons, run the demonstration
#   make test       install deps, start the stack, run unit + integration + e2e tests, stop the stack
#   make up|down|status   the local stack (PostgreSQL 15, Redis 7, Kafka KRaft) on loopback
#   make deps       install build and runtime dependencies (idempotent, quiet when present)
#   make unit | integration | e2e   one test tier against an already running stack

BUILD    ?= debug
O        := build/$(BUILD)
V        ?= 0
Q        := $(if $(filter 1,$(V)),,@)

CC       ?= cc
PKGS     := rdkafka jansson libpq hiredis libevent libcrypto xlsxwriter
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wno-unused-parameter -Wformat=2 -Wvla
CSTD     := -std=c11 -D_GNU_SOURCE
ifeq ($(BUILD),release)
OPT      := -O2 -g -DNDEBUG
SAN      :=
else
OPT      := -O1 -g -fno-omit-frame-pointer
SAN      := -fsanitize=address,undefined -fno-sanitize-recover=undefined
endif
CFLAGS   += $(CSTD) $(OPT) $(SAN) $(WARN) -MMD -MP -Icommon $(PKG_CFLAGS)
LDFLAGS  += $(SAN)
LDLIBS   += $(PKG_LIBS) -lm -lpthread

SERVICES := intake dispatcher deadline-watcher revisit reporting

COMMON_SRC := $(sort $(wildcard common/*.c))
COMMON_OBJ := $(COMMON_SRC:%.c=$(O)/%.o)
LIBCOMMON  := $(O)/libcommon.a

SVC_BINS   := $(SERVICES:%=$(O)/bin/jiesu-%)
TOOL_SRC   := $(sort $(wildcard tools/*.c))
TOOL_BINS  := $(TOOL_SRC:tools/%.c=$(O)/bin/%)
UNIT_SRC   := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS  := $(UNIT_SRC:tests/unit/%.c=$(O)/tests/unit/%)
BENCH_SRC  := $(sort $(wildcard bench/*.c))
BENCH_BINS := $(BENCH_SRC:bench/%.c=$(O)/bin/%)
INTEG_SRC  := $(sort $(wildcard tests/integration/test_*.c))
INTEG_BINS := $(INTEG_SRC:tests/integration/%.c=$(O)/tests/integration/%)

.PHONY: all deps up down status test unit integration e2e demo clean bin-link check-deps bench-outbox bench-intake bench-dispatch bench-timers bench-reporting
all: $(LIBCOMMON) $(SVC_BINS) $(TOOL_BINS) $(BENCH_BINS) $(UNIT_BINS) $(INTEG_BINS) bin-link

# bin/ points at the binaries of the last build flavour, so scripts call bin/jiesuctl etc.
bin-link: $(SVC_BINS) $(TOOL_BINS)
	$(Q)ln -sfn $(O)/bin bin

$(O)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

$(LIBCOMMON): $(COMMON_OBJ)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

.SECONDARY:
.SECONDEXPANSION:
$(O)/bin/jiesu-%: $$(addprefix $(O)/,$$(subst .c,.o,$$(wildcard services/$$*/*.c))) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(LIBCOMMON) $(LDLIBS)

$(O)/bin/%: $(O)/tools/%.o $(LIBCOMMON)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(LIBCOMMON) $(LDLIBS)

$(O)/bin/%: $(O)/bench/%.o $(LIBCOMMON)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(LIBCOMMON) $(LDLIBS)

$(O)/tests/unit/%: $(O)/tests/unit/%.o $(LIBCOMMON)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(LIBCOMMON) $(LDLIBS) -lcmocka

$(O)/tests/integration/%: $(O)/tests/integration/%.o $(LIBCOMMON)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(LIBCOMMON) $(LDLIBS) -lcmocka

# --- dependencies and the local stack --------------------------------------------------
deps:
	$(Q)deploy/stack/deps.sh

check-deps:
	$(Q)deploy/stack/deps.sh --check

up: deps
	$(Q)deploy/stack/up.sh

down:
	$(Q)deploy/stack/down.sh

status:
	$(Q)deploy/stack/status.sh

# --- tests -----------------------------------------------------------------------------
# `make test` is the whole thing a new user runs: install, start, test every tier, stop.
test: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tests/run.sh all

unit: all
	$(Q)tests/run.sh unit

integration: all
	$(Q)tests/run.sh integration

e2e: all
	$(Q)tests/run.sh e2e

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)deploy/demo/demo.sh

# --- benchmarks (release build, real stack) ---------------------------------------------------
bench-outbox: deps
	$(Q)$(MAKE) --no-print-directory BUILD=release all
	$(Q)deploy/stack/up.sh
	$(Q)bench/outbox.sh

bench-intake: deps
	$(Q)$(MAKE) --no-print-directory BUILD=release all
	$(Q)deploy/stack/up.sh
	$(Q)bench/intake.sh

bench-dispatch: deps
	$(Q)$(MAKE) --no-print-directory BUILD=release all
	$(Q)deploy/stack/up.sh
	$(Q)bench/dispatch.sh

bench-timers: deps
	$(Q)$(MAKE) --no-print-directory BUILD=release all
	$(Q)deploy/stack/up.sh
	$(Q)bench/timers.sh

bench-reporting: deps
	$(Q)$(MAKE) --no-print-directory BUILD=release all
	$(Q)deploy/stack/up.sh
	$(Q)bench/reporting.sh

clean:
	rm -rf build bin

-include $(COMMON_OBJ:.o=.d) $(wildcard $(O)/services/*/*.d) $(wildcard $(O)/tools/*.d) $(wildcard $(O)/bench/*.d) \
         $(wildcard $(O)/tests/*/*.d)
