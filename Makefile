# scalelab — one build: the CPU path always, CUDA objects when nvcc is found.
#   make            build ./scalelab (BUILD=dir puts objects elsewhere)
#   make test       unit + end-to-end tests, then again under ASan+UBSan
#   make bench      benchmarks in tests/bench/ (results go to tests/bench/RESULTS.md by hand)
#   make demo       deps, build, then scripts/demo.sh: a byte-level shard of the C headers,
#                   a width sweep and a state sweep on it, IsoFLOP fits, the report
#   make soak       kill -9 soak of the local scheduler (tests/soak/soak.sh; KILLS=N, default 100)
#   make study      rebuild the fits, tables and figures of docs/results/wsfr-study/ from its CSV
#   make fuzz       libFuzzer targets (clang) for the spec, config, CSV and checkpoint
#                   readers, each run FUZZ_SECONDS (default 3600); seeds in tests/fuzz/corpus/
#   CUDA=0 forces a CPU-only build; CUDA=1 fails when nvcc is missing.
#   STATIC=1 links SQLite, libyaml, GSL and OpenBLAS (with its Fortran runtime)
#   statically and puts libgomp and libcmocka beside the binaries (BUILD/lib, found
#   through the rpath), so a build made here runs on a machine without those
#   libraries (the GPU machine): make BUILD=build-dev STATIC=1 CUDA=1 all tests benches

CC      ?= cc
BUILD   ?= build
PREFIX  ?= /usr/local
NVCC    ?= $(shell command -v nvcc 2>/dev/null || ls /usr/local/cuda/bin/nvcc 2>/dev/null)
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))

PKGS    := sqlite3 yaml-0.1 gsl openblas cmocka
PKG_CFLAGS := $(shell pkg-config --cflags openblas 2>/dev/null)
OPENBLAS_LIBDIR := $(shell pkg-config --libs-only-L openblas 2>/dev/null)

WARN    := -Wall -Wextra -Werror
CFLAGS  ?= -O2 -g
ALL_CFLAGS = -std=c17 $(WARN) $(CFLAGS) -D_GNU_SOURCE -fopenmp -I. $(PKG_CFLAGS) $(EXTRA_CFLAGS)
LDLIBS  = $(OPENBLAS_LIBDIR) -lsqlite3 -lyaml -lgsl -lopenblas -lm -lpthread
LDFLAGS_ALL = -fopenmp $(LDFLAGS) $(EXTRA_LDFLAGS)
CMOCKA_LIBS = -lcmocka
ifeq ($(STATIC),1)
  LDLIBS = $(OPENBLAS_LIBDIR) -Wl,-Bstatic -lsqlite3 -lyaml -lgsl -lopenblas -lgfortran -lquadmath -Wl,-Bdynamic \
           -lm -lpthread -ldl -Wl,-rpath,'$$ORIGIN/lib:$$ORIGIN/../lib'
  STATIC_RUNTIME := $(BUILD)/lib/libgomp.so.1 $(BUILD)/lib/libcmocka.so.0
endif

# Modules in dependency order; every .c in them goes into libscalelab.a.
# kernels/cuda's .c files are host arithmetic (its FLOP count), built with or without CUDA.
MODULES := util store kernels/cpu kernels/cuda model sweep fit analysis cli
LIB_SRC := $(foreach m,$(MODULES),$(wildcard $(m)/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
# The float64 twin of the numerical code (kernels/cpu and model/net*.c), for
# finite-difference gradient checks: same source, compiled with SCALELAB_F64.
F64_SRC := $(wildcard kernels/cpu/*.c) $(wildcard model/net*.c)
F64_OBJ := $(F64_SRC:%.c=$(BUILD)/f64/%.o)

CUDA_SRC := $(wildcard kernels/cuda/*.cu)
ifeq ($(CUDA),0)
  USE_CUDA :=
else ifneq ($(NVCC),)
  USE_CUDA := $(if $(CUDA_SRC),1,)
else ifeq ($(CUDA),1)
  $(error CUDA=1 but nvcc was not found; install the CUDA toolkit or build with CUDA=0)
endif
ifeq ($(USE_CUDA),1)
  NVCCFLAGS ?= -O3 -std=c++17 -gencode arch=compute_90,code=[sm_90,compute_90] -I. -DSCALELAB_CUDA=1
  CUDA_OBJ := $(CUDA_SRC:%.cu=$(BUILD)/%.o)
  ALL_CFLAGS += -DSCALELAB_CUDA=1 -I$(CUDA_HOME)/include
  LDLIBS += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublas -lcublasLt -lcudart_static -ldl -lrt -lstdc++
endif

TEST_SRC := $(wildcard tests/unit/test_*.c)
TEST_BIN := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)
BENCH_SRC := $(wildcard tests/bench/bench_*.c)
BENCH_BIN := $(BENCH_SRC:tests/bench/%.c=$(BUILD)/bench/%)

.PHONY: all deps test test-fast bench demo data study install uninstall clean info soak fuzz fuzz-build
all: info $(BUILD)/scalelab scalelab

info:
	@echo "scalelab build: BUILD=$(BUILD) CC=$(CC) CUDA=$(if $(USE_CUDA),yes ($(NVCC)),no$(if $(NVCC), (no kernels/cuda sources or CUDA=0), (nvcc not found)))"

# ./scalelab is a copy of the default build's binary, so tests and users share one path.
scalelab: $(BUILD)/scalelab
	@if [ "$(BUILD)" = build ]; then cp $< $@; fi

# The CUDA objects before the archives: backend.o calls kernels/cuda/flops.c's count, in libscalelab.a.
$(BUILD)/scalelab: $(BUILD)/scalelab.o $(CUDA_OBJ) $(BUILD)/libscalelab.a | $(STATIC_RUNTIME)
	$(CC) -o $@ $^ $(LDFLAGS_ALL) $(LDLIBS)

$(BUILD)/lib/%:
	@mkdir -p $(@D)
	cp -L $$($(CC) -print-file-name=$*) $@ 2>/dev/null || cp -L /usr/lib/x86_64-linux-gnu/$* $@

$(BUILD)/libscalelab.a: $(LIB_OBJ)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/libscalelab_f64.a: $(F64_OBJ)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/f64/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -DSCALELAB_F64 -MMD -MP -c -o $@ $<

# -MMD -MP as for C: a changed kernels/cuda/*.h rebuilds every .cu that includes it.
$(BUILD)/%.o: %.cu
	@mkdir -p $(@D)
	$(NVCC) $(NVCCFLAGS) -MMD -MP -c -o $@ $< < /dev/null

# flash_wg.cu and flash_wg_bwd.cu run wgmma, which exists only for sm_90a (no PTX: they cannot run
# elsewhere, and their launchers say so). The other flags are the rest of NVCCFLAGS.
SM90A_OBJ := $(BUILD)/kernels/cuda/flash_wg.o $(BUILD)/kernels/cuda/flash_wg_bwd.o
$(SM90A_OBJ): $(BUILD)/%.o: %.cu
	@mkdir -p $(@D)
	$(NVCC) $(filter-out -gencode arch=%,$(NVCCFLAGS)) -gencode arch=compute_90a,code=sm_90a -MMD -MP -c -o $@ $< < /dev/null

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libscalelab.a $(BUILD)/libscalelab_f64.a $(CUDA_OBJ) | $(STATIC_RUNTIME)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(CUDA_OBJ) $(BUILD)/libscalelab.a $(BUILD)/libscalelab_f64.a $(LDFLAGS_ALL) $(CMOCKA_LIBS) $(LDLIBS)

$(BUILD)/bench/%: tests/bench/%.c $(BUILD)/libscalelab.a $(BUILD)/libscalelab_f64.a $(CUDA_OBJ) | $(STATIC_RUNTIME)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(CUDA_OBJ) $(BUILD)/libscalelab.a $(BUILD)/libscalelab_f64.a $(LDFLAGS_ALL) $(LDLIBS)

tests: $(TEST_BIN)
benches: $(BENCH_BIN)

# make test: the whole suite on the normal build, then on the sanitizer build.
test: all
	$(MAKE) --no-print-directory tests
	tests/run_tests.sh $(BUILD)
	$(MAKE) --no-print-directory BUILD=build-asan CUDA=0 \
	  EXTRA_CFLAGS="-fsanitize=address,undefined,float-cast-overflow -fno-omit-frame-pointer -fno-sanitize-recover=undefined,float-cast-overflow" \
	  EXTRA_LDFLAGS="-fsanitize=address,undefined" build-asan/scalelab tests
	SCALELAB_SANITIZED=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
	  tests/run_tests.sh build-asan

# Only the normal build (quick iteration).
test-fast: all
	$(MAKE) --no-print-directory tests
	tests/run_tests.sh $(BUILD)

bench: all
	$(MAKE) --no-print-directory benches
	tests/bench/run_bench.sh $(BUILD)

# Not part of `make test`: minutes of random kill -9s (tests/soak/soak.sh says what it checks).
soak: all
	SCALELAB=$(CURDIR)/$(BUILD)/scalelab KILLS=$(or $(KILLS),100) tests/soak/soak.sh

# make fuzz: the library again with clang, coverage and ASan+UBSan (BUILD=build-fuzz),
# one binary per tests/fuzz/fuzz_*.c, then tests/fuzz/run_fuzz.sh (FUZZ_SECONDS each).
FUZZ_SECONDS ?= 3600
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_LDLIBS := $(OPENBLAS_LIBDIR) -lsqlite3 -lyaml -lgsl -lopenblas -lm -lpthread
fuzz: fuzz-build
	tests/fuzz/run_fuzz.sh build-fuzz $(FUZZ_SECONDS)

fuzz-build:
	@command -v clang >/dev/null || { echo "make fuzz needs clang (apt-get install clang; scripts/deps.sh lists it as optional)"; exit 1; }
	$(MAKE) --no-print-directory BUILD=build-fuzz CC=clang CUDA=0 WARN="-Wall -Wextra" \
	  EXTRA_CFLAGS="-fsanitize=fuzzer-no-link $(FUZZ_SAN)" build-fuzz/libscalelab.a
	@mkdir -p build-fuzz/fuzz
	for f in $(FUZZ_SRC); do \
	  clang -std=c17 -O1 -g -D_GNU_SOURCE -I. $(PKG_CFLAGS) -fsanitize=fuzzer $(FUZZ_SAN) -fopenmp \
	    -o build-fuzz/fuzz/$$(basename $$f .c) $$f build-fuzz/libscalelab.a $(FUZZ_LDLIBS) || exit 1; \
	done

deps:
	@scripts/deps.sh

demo: deps
	$(MAKE) --no-print-directory all
	scripts/demo.sh

data: all
	scripts/make_data.sh $(DATA_FROM)

# The weight/state study (docs/results/wsfr-study/README.md): its fits, tables and
# figures again from the committed CSV, on this machine, no GPU needed.
study: all
	SCALELAB=$(CURDIR)/$(BUILD)/scalelab docs/results/wsfr-study/analyse.sh

# The binary, its man page (man scalelab) and bash completion; uninstall removes the three.
MANDIR  ?= $(PREFIX)/share/man/man1
COMPDIR ?= $(PREFIX)/share/bash-completion/completions
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(MANDIR) $(DESTDIR)$(COMPDIR)
	install -m 755 $(BUILD)/scalelab $(DESTDIR)$(PREFIX)/bin/scalelab
	install -m 644 docs/scalelab.1 $(DESTDIR)$(MANDIR)/scalelab.1
	install -m 644 scripts/scalelab-completion.bash $(DESTDIR)$(COMPDIR)/scalelab

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/scalelab $(DESTDIR)$(MANDIR)/scalelab.1 $(DESTDIR)$(COMPDIR)/scalelab

clean:
	rm -rf build build-asan build-fuzz scalelab

-include $(LIB_OBJ:.o=.d) $(F64_OBJ:.o=.d) $(CUDA_OBJ:.o=.d) $(BUILD)/scalelab.d
