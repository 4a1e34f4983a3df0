# edgestate: the PostgreSQL extension is built with PGXS; the PostgreSQL-free
# core, its unit tests and micro-benchmarks with CMake (CMakeLists.txt).
#
#   make demo    install what is missing, build, install, run the demo
#   make test    install what is missing, build, install, run every suite
#   make bench   install what is missing, build, install, run the benchmarks

EXTENSION = edgestate
EXTVERSION = 0.1.0
MODULE_big = edgestate
OBJS = $(patsubst %.cpp,%.o,$(sort $(wildcard src/*.cpp src/core/*.cpp)))
DATA_built = $(EXTENSION)--$(EXTVERSION).sql
EXTRA_CLEAN = build build-fuzz

PG_CONFIG ?= $(firstword $(wildcard /usr/lib/postgresql/15/bin/pg_config) pg_config)
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)

# PostgreSQL's headers are included as system headers so that -Wextra reports
# our code only.
PG_CPPFLAGS = -Isrc -isystem $(shell $(PG_CONFIG) --includedir-server 2>/dev/null)
PG_CXXFLAGS = -std=c++17 -Wextra -Wno-missing-field-initializers
SHLIB_LINK = -lstdc++

# The server's JIT bitcode is optional; building it would need clang.
override with_llvm = no

# Rebuild objects when headers change.
override autodepend = yes

ifneq ($(PGXS),)
include $(PGXS)
endif

# The install script is assembled from one file per concern, in name order.
$(EXTENSION)--$(EXTVERSION).sql: $(sort $(wildcard src/sql/*.sql))
	cat $^ > $@

.PHONY: setup build-install demo test bench core

setup:
	@scripts/setup.sh

build-install: setup
	@scripts/build-install.sh

core: setup
	cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build build -j2

demo: build-install
	@scripts/demo.sh

test: build-install core
	@scripts/test.sh

bench: build-install core
	@bench/run.sh
