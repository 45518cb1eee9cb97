# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Copyright (c) 2026 The odsbpf authors
#
# `make bench`, included by the top Makefile: the benchmark drivers, then
# bench/run.sh, which prints the table and writes bench/results.json.

BENCH_DRIVERS := $(BUILD)/bench_connect $(BUILD)/bench_swap $(BUILD)/bench_xdp

.PHONY: bench

bench: all $(BENCH_DRIVERS) $(BUILD)/bench_xdp_pass.bpf.o
	bench/run.sh

$(BENCH_DRIVERS): $(BUILD)/%: bench/%.c bench/bench.h $(AGENT_LIB_OBJS)
	$(CC) $(CFLAGS) $(filter %.c %.o,$^) -o $@ $(LDLIBS)

$(BUILD)/bench_xdp_pass.bpf.o: bench/xdp_pass.bpf.c vmlinux/vmlinux.h
	@mkdir -p $(BUILD)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@
