/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Copyright (c) 2026 The odsbpf authors */
/* policies/default.json inside the binary, NUL-terminated. */
	.section .rodata
	.global default_policy_json
	.type default_policy_json, @object
default_policy_json:
	.incbin "policies/default.json"
	.byte 0
	.size default_policy_json, . - default_policy_json
	.section .note.GNU-stack, "", @progbits
