# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Copyright (c) 2026 The odsbpf authors
#
# make          build build/odsbpf (installs missing Debian packages first)
# make run      the sandbox demo: the agent on policies/default.json
# make test     every test; ends with "N passed, N failed, N skipped"
# make vmlinux  regenerate vmlinux/vmlinux.h from the running kernel
# make bench    the benchmarks (bench/run.sh; not part of make test)

CC	?= gcc
CLANG	?= clang
BPFTOOL	?= bpftool
BUILD	:= build

ARCH	:= $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
CFLAGS	?= -O2 -g
CFLAGS	+= -std=gnu11 -Wall -Wextra -Werror -Wno-missing-field-initializers -Wno-format-truncation \
	   -Iinclude -I$(BUILD) -Iagent -D_GNU_SOURCE
LDLIBS	:= -lbpf -lelf -lz -ljansson -lcrypto -lmicrohttpd -lpthread
BPF_CFLAGS := -O2 -g -target bpf -D__TARGET_ARCH_$(ARCH) -Ivmlinux -Iinclude \
	      -Wall -Werror

AGENT_LIB_SRCS := agent/addr.c agent/policy.c agent/compile.c agent/log.c agent/policy_source.c \
		  agent/event.c agent/cgroup.c agent/enforcer.c agent/agent_state.c agent/hosts.c agent/kernel_features.c \
		  agent/audit_log.c agent/podid.c agent/pipeline.c agent/packet.c
AGENT_CMD_SRCS := agent/main.c agent/cmd_exec.c agent/cmd_agent.c \
		  agent/cmd_policy.c agent/cmd_events.c agent/cmd_status.c \
		  agent/cmd_audit.c agent/http.c
AGENT_LIB_OBJS := $(AGENT_LIB_SRCS:agent/%.c=$(BUILD)/agent/%.o)
AGENT_CMD_OBJS := $(AGENT_CMD_SRCS:agent/%.c=$(BUILD)/agent/%.o) \
		  $(BUILD)/agent/default_policy.o
HEADERS := $(wildcard include/*.h agent/*.h)

.PHONY: all deps run test unit e2e vmlinux clean format format-check

all: deps $(BUILD)/odsbpf $(BUILD)/probe

deps:
	@scripts/install-deps.sh

$(BUILD)/%.bpf.o: bpf/%.bpf.c bpf/policy.bpf.h include/odsbpf.h vmlinux/vmlinux.h
	@mkdir -p $(BUILD)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/sock.skel.h: $(BUILD)/sock.bpf.o
	$(BPFTOOL) gen skeleton $< name sock_bpf > $@.tmp && mv $@.tmp $@

$(BUILD)/packet.bpf.o: bpf/parse.bpf.h

$(BUILD)/packet.skel.h: $(BUILD)/packet.bpf.o
	$(BPFTOOL) gen skeleton $< name packet_bpf > $@.tmp && mv $@.tmp $@

$(BUILD)/agent/%.o: agent/%.c $(HEADERS) $(BUILD)/sock.skel.h $(BUILD)/packet.skel.h
	@mkdir -p $(BUILD)/agent
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/agent/default_policy.o: agent/default_policy.S policies/default.json
	@mkdir -p $(BUILD)/agent
	$(CC) -c $< -o $@

$(BUILD)/odsbpf: $(AGENT_LIB_OBJS) $(AGENT_CMD_OBJS)
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/probe: tests/probe.c
	$(CC) $(CFLAGS) $< -o $@

$(BUILD)/pkt_probe: tests/pkt_probe.c
	$(CC) $(CFLAGS) $< -o $@

$(BUILD)/test_policy: tests/test_policy.c $(AGENT_LIB_OBJS) $(BUILD)/agent/default_policy.o
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)

run: all
	scripts/sandbox-demo.sh

test: all $(BUILD)/test_policy $(BUILD)/test_swap $(BUILD)/test_audit_log $(BUILD)/test_podid \
      $(BUILD)/test_packet $(BUILD)/pkt_probe
	tests/run.sh

vmlinux:
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > vmlinux/vmlinux.h

format:
	clang-format -i bpf/*.c include/*.h agent/*.c agent/*.h tests/*.c

clean:
	rm -rf $(BUILD)

$(BUILD)/test_swap: tests/test_swap.c $(AGENT_LIB_OBJS)
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/test_audit_log $(BUILD)/test_podid: $(BUILD)/%: tests/%.c $(AGENT_LIB_OBJS)
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/test_packet: tests/test_packet.c $(AGENT_LIB_OBJS) $(BUILD)/agent/default_policy.o
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)

include bench/bench.mk
