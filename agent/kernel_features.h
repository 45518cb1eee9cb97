/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Copyright (c) 2026 The odsbpf authors */
/*
 * Kernel features odsbpf relies on, probed once at agent start. The
 * results and reasons are logged and kept for `odsbpf status`.
 */
#ifndef ODSBPF_KERNEL_FEATURES_H
#define ODSBPF_KERNEL_FEATURES_H

#include <jansson.h>

/* {"name": {"ok": bool, "why": "..."}, ...}; caller decrefs. */
json_t *features_probe(void);

#endif
