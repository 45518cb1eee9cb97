#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Copyright (c) 2026 The odsbpf authors
"""Turn the benchmarks' JSON lines into one table.

    report.py RAW.jsonl --json OUT.json --svg OUT.svg --md DOC.md [--quick]

Every figure is a ratio against a baseline measured in the same run: for
the samples taken round robin (connect, XDP) the ratio is taken per
repeat, between samples measured side by side, and the table gives the
median of those ratios and their interquartile range. Prints the table,
writes it with the samples to OUT.json, draws how the figures grow with
policy size into OUT.svg, and puts table and machine between the
markers of DOC.md. With --quick (a smoke run) only the table and the
JSON are written.
"""
import argparse
import collections
import json
import math
import os
import statistics
import sys

MD_BEGIN = "<!-- bench:results:begin -->"
MD_END = "<!-- bench:results:end -->"


def quantile(xs, q):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    pos = (len(xs) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def summary(xs):
    """median, p25, p75, count"""
    return {"median": quantile(xs, 0.5), "p25": quantile(xs, 0.25),
            "p75": quantile(xs, 0.75), "n": len(xs)}


def fmt_size(n):
    return {10: "10", 1000: "1k", 10000: "10k", 100000: "100k"}.get(n, str(n))


def fmt_ns(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e4:
        return f"{ns / 1e3:.1f} µs"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.0f} ns"


def fmt_ratio(s):
    return f"{s['median']:.2f}× [{s['p25']:.2f}–{s['p75']:.2f}]"


def fmt_value(s, unit=fmt_ns):
    return f"{unit(s['median'])} [{unit(s['p25'])}–{unit(s['p75'])}]"


def fmt_ms(ms):
    return f"{ms:.0f} ms" if ms >= 10 else f"{ms:.1f} ms"


def fmt_mib(kib):
    return f"{kib / 1024:.1f} MiB"


class Report:
    def __init__(self, lines):
        self.by = collections.defaultdict(list)
        for e in lines:
            self.by[e["bench"]].append(e)
        self.machine = (self.by.get("machine") or [{}])[0]
        self.rows = []
        self.series = {}
        self.notes = []

    def row(self, bench, size, odsbpf, baseline, ratio, others, target, verdict,
            key=None, data=None):
        self.rows.append({"benchmark": bench, "cidrs": size, "odsbpf": odsbpf,
                          "baseline": baseline, "ratio": ratio, "others": others,
                          "target": target, "verdict": verdict, "key": key,
                          "data": data or {}})

    # connect() --------------------------------------------------------

    def connect_samples(self):
        s = collections.defaultdict(dict)
        for e in self.by.get("connect", []):
            s[(e["n"], e["proto"], e["dest"], e["rep"])][e["config"]] = e
        return s

    def paired(self, samples, n, proto, dest, num, den):
        out = []
        for (sn, sp, sd, _), configs in samples.items():
            if (sn, sp, sd) == (n, proto, dest) and num in configs and den in configs:
                out.append(configs[num]["ns_per_op"] / configs[den]["ns_per_op"])
        return out

    def values(self, samples, n, proto, dest, config):
        return [c[config]["ns_per_op"] for (sn, sp, sd, _), c in samples.items()
                if (sn, sp, sd) == (n, proto, dest) and config in c]

    def outcome(self, n, proto, dest, config):
        seen = {(e["outcome"], e["differing"] > 0) for e in self.by.get("connect", [])
                if (e["n"], e["proto"], e["dest"], e["config"]) == (n, proto, dest, config)}
        return ", ".join(sorted(o + (" (mixed)" if mixed else "") for o, mixed in seen))

    def connect(self):
        samples = self.connect_samples()
        sizes = sorted({k[0] for k in samples})
        alts = [("odsbpf+skb", "+skb"), ("iptables", "iptables"),
                ("iptables-legacy", "iptables-legacy"), ("nftables", "nftables")]
        for proto, dest in (("tcp", "allowed"), ("tcp", "denied"),
                            ("udp", "allowed"), ("udp", "denied")):
            what = {"tcp": "connect() TCP", "udp": "connect() UDP, syscall alone"}[proto]
            for n in sizes:
                r = self.paired(samples, n, proto, dest, "odsbpf", "none")
                if not r:
                    continue
                rs = summary(r)
                v = summary(self.values(samples, n, proto, dest, "odsbpf"))
                base = summary(self.values(samples, n, proto, dest, "none"))
                others = []
                for config, label in alts:
                    ar = self.paired(samples, n, proto, dest, config, "none")
                    if ar:
                        others.append(f"{label} {summary(ar)['median']:.2f}×")
                self.series.setdefault(f"connect_{proto}_{dest}", {}).setdefault(
                    "odsbpf", {})[n] = rs["median"]
                for config, _ in alts:
                    ar = self.paired(samples, n, proto, dest, config, "none")
                    if ar:
                        self.series[f"connect_{proto}_{dest}"].setdefault(config, {})[n] = \
                            summary(ar)["median"]
                met = rs["median"] <= 1.10
                self.row(f"{what}, {dest} dest.", fmt_size(n),
                         f"{fmt_value(v)}; {self.outcome(n, proto, dest, 'odsbpf')}",
                         f"no program {fmt_ns(base['median'])}", fmt_ratio(rs),
                         "; ".join(others), "≤ 1.10× no program",
                         "met" if met else f"missed by {(rs['median'] / 1.10 - 1) * 100:.0f}%",
                         key=f"connect_{proto}_{dest}_{n}",
                         data={"ratio": rs, "odsbpf_ns": v, "none_ns": base})
        self.connect_flat(samples, sizes)
        self.connect_vs_iptables(samples)

    def connect_flat(self, samples, sizes):
        """The ratio at the largest size against the smallest; a growth
        within the two ratios' spread is noise, not growth."""
        if len(sizes) < 2:
            return
        lo, hi = sizes[0], sizes[-1]
        for proto, dest in (("tcp", "allowed"), ("udp", "allowed"), ("udp", "denied")):
            a = summary(self.paired(samples, lo, proto, dest, "odsbpf", "none"))
            b = summary(self.paired(samples, hi, proto, dest, "odsbpf", "none"))
            growth = b["median"] / a["median"]
            overlap = b["p25"] <= a["p75"] and a["p25"] <= b["p75"]
            if growth <= 1.05:
                verdict = "met"
            elif overlap:
                verdict = "met within noise (the IQRs overlap)"
            else:
                verdict = f"missed: grows {(growth - 1) * 100:.0f}%"
            self.row(f"connect() {proto.upper()} {dest}: flat in policy size",
                     f"{fmt_size(lo)} → {fmt_size(hi)}",
                     f"{fmt_ratio(a)} → {fmt_ratio(b)} no program",
                     f"the ratio at {fmt_size(lo)} CIDRs", f"{growth:.2f}×", "",
                     "≤ 1.05×, or within the spread", verdict,
                     key=f"connect_flat_{proto}_{dest}", data={"growth": growth})

    def connect_vs_iptables(self, samples):
        for n in (10000,):
            for alt in ("iptables", "iptables-legacy", "nftables"):
                r = self.paired(samples, n, "tcp", "allowed", alt, "odsbpf")
                if not r:
                    continue
                rs = summary(r)
                target = "≥ 10× (odsbpf faster)" if alt == "iptables" else "—"
                verdict = "—"
                if alt == "iptables":
                    verdict = "met" if rs["median"] >= 10 else \
                        f"missed: {rs['median']:.1f}× of 10×"
                ours = summary(self.values(samples, n, "tcp", "allowed", "odsbpf"))
                theirs = summary(self.values(samples, n, "tcp", "allowed", alt))
                self.row(f"connect() TCP allowed: {alt} ÷ odsbpf", fmt_size(n),
                         fmt_value(ours), f"{alt} {fmt_ns(theirs['median'])}",
                         fmt_ratio(rs), "", target, verdict,
                         key=f"connect_vs_{alt}_{n}", data={"ratio": rs})

    # XDP ----------------------------------------------------------------

    def xdp(self):
        s = collections.defaultdict(dict)
        for e in self.by.get("xdp", []):
            s[(e["n"], e["dest"], e["rep"])][e["config"]] = e
        sizes = sorted({k[0] for k in s})
        skipped = {e["n"]: e["why"] for e in self.by.get("xdp_skip", [])}
        for dest in ("allowed", "denied"):
            for n in sizes:
                def pair(num, den):
                    return [c[num]["ns_per_pkt"] / c[den]["ns_per_pkt"]
                            for (sn, sd, _), c in s.items()
                            if (sn, sd) == (n, dest) and num in c and den in c
                            and c[den]["ns_per_pkt"] > 0]

                def vals(config):
                    return [c[config]["ns_per_pkt"] for (sn, sd, _), c in s.items()
                            if (sn, sd) == (n, dest) and config in c]

                r = summary(pair("odsbpf", "xdp-pass"))
                if not r["n"]:
                    continue
                v = summary(vals("odsbpf"))
                verdicts = {e["verdict"] for e in self.by["xdp"]
                            if (e["n"], e["dest"], e["config"]) == (n, dest, "odsbpf")}
                f = pair("odsbpf", "xdp-filter")
                others = f"xdp-filter {summary(vals('xdp-filter'))['median']:.0f} ns; " \
                         f"odsbpf ÷ xdp-filter {fmt_ratio(summary(f))}" if f else \
                         f"xdp-filter: {skipped.get(n, 'not run')}"
                parse = [c["odsbpf"]["ns_per_pkt"] for (sn, sd, _), c in s.items()
                         if (sn, sd) == (n, "parse-only") and "odsbpf" in c]
                if parse and dest == "allowed":
                    others += f"; odsbpf parse alone (an ACK, not judged) " \
                              f"{summary(parse)['median']:.0f} ns"
                met_pass = r["median"] <= 1.5
                met_filt = (summary(f)["median"] <= 1.0) if f else None
                verdict = ("met" if met_pass else
                           f"missed: {r['median']:.1f}× of 1.5×")
                if met_filt is not None:
                    verdict += "; vs xdp-filter " + (
                        "met" if met_filt else
                        f"missed: {summary(f)['median']:.2f}× of 1.0×")
                for config in ("odsbpf", "xdp-pass", "xdp-filter"):
                    vv = vals(config)
                    if vv:
                        self.series.setdefault(f"xdp_{dest}", {}).setdefault(config, {})[n] = \
                            summary(vv)["median"]
                self.row(f"XDP per packet (TEST_RUN), {dest} dest.", fmt_size(n),
                         f"{fmt_value(v)}; {'/'.join(sorted(verdicts))}",
                         f"XDP_PASS {summary(vals('xdp-pass'))['median']:.0f} ns",
                         fmt_ratio(r), others,
                         "≤ 1.5× XDP_PASS; ≤ 1.0× xdp-filter", verdict,
                         key=f"xdp_{dest}_{n}",
                         data={"ratio_pass": r, "ratio_filter": summary(f) if f else None,
                               "odsbpf_ns": v})

    # compile and swap ---------------------------------------------------

    def swap(self):
        swaps = collections.defaultdict(list)
        for e in self.by.get("swap", []):
            swaps[e["n"]].append(e)
        gaps = {e["n"]: e for e in self.by.get("swap_gap", [])}
        loads = collections.defaultdict(lambda: collections.defaultdict(list))
        for e in self.by.get("load", []):
            if "config" in e:
                loads[e["n"]][e["config"]].append(e["ms"])
        reloads = collections.defaultdict(list)
        for e in self.by.get("reload", []):
            reloads[e["n"]].append(e["ms"])
        rcu = [e["rcu_ms"] for e in self.by.get("swap", []) if e["rcu_ms"] >= 0]
        for n in sorted(swaps):
            t = summary([e["total_ms"] for e in swaps[n]])
            parts = {k: summary([e[k] for e in swaps[n]])["median"]
                     for k in ("parse_ms", "compile_ms", "install_ms")}
            gap = gaps.get(n, {})
            nft = summary(loads[n]["nftables"]) if loads[n]["nftables"] else None
            ipt = summary(loads[n]["iptables"]) if loads[n]["iptables"] else None
            legacy = summary(loads[n]["iptables-legacy"]) if loads[n]["iptables-legacy"] else None
            ratio = f"{t['median'] / nft['median']:.2f}× nft -f" if nft else "—"
            others = []
            if ipt:
                others.append(f"iptables-restore {fmt_ms(ipt['median'])}")
            if legacy:
                others.append(f"iptables-legacy-restore {fmt_ms(legacy['median'])}")
            if reloads[n]:
                others.append(f"agent, SIGHUP to policy.load line: "
                              f"{fmt_ms(summary(reloads[n])['median'])}")
            ok_time = t["median"] <= 1000
            ok_gap = gap.get("wrong") == 0 and gap.get("rounds", 0) > 0
            verdict = ("met" if ok_time else f"missed by {t['median'] - 1000:.0f} ms") + \
                "; " + (f"no gap in {gap.get('rounds', 0):,} checks" if ok_gap else
                        f"GAP: {gap.get('wrong')} wrong verdicts")
            self.series.setdefault("swap_ms", {}).setdefault("odsbpf", {})[n] = t["median"]
            for label, s in (("nftables", nft), ("iptables", ipt), ("iptables-legacy", legacy)):
                if s:
                    self.series["swap_ms"].setdefault(label, {})[n] = s["median"]
            if reloads[n]:
                self.series["swap_ms"].setdefault("agent reload", {})[n] = \
                    summary(reloads[n])["median"]
            self.row("compile and swap, file to flipped generation", fmt_size(n),
                     f"{fmt_value(t, fmt_ms)} (parse {fmt_ms(parts['parse_ms'])}, compile "
                     f"{fmt_ms(parts['compile_ms'])}, install {fmt_ms(parts['install_ms'])})",
                     f"nft -f {fmt_ms(nft['median'])}" if nft else "—", ratio,
                     "; ".join(others), "≤ 1 s; no enforcement gap", verdict,
                     key=f"swap_{n}", data={"total_ms": t, "parts_ms": parts, "gap": gap,
                                            "nft_ms": nft, "iptables_ms": ipt,
                                            "iptables_legacy_ms": legacy,
                                            "agent_reload_ms":
                                                summary(reloads[n]) if reloads[n] else None})
        if rcu:
            r = summary(rcu)
            self.row("one map-in-map update (the kernel's RCU wait)", "any",
                     fmt_value(r, fmt_ms), "—", "—",
                     "two per swap (IPv4 and IPv6 outer maps)", "—", "reported",
                     key="rcu_wait", data={"rcu_ms": r})

    # events ---------------------------------------------------------------

    def events(self):
        un = [e for e in self.by.get("events", []) if e["mode"] == "unlimited"]
        if un:
            rate = summary([e["lines_at_flood_end"] / e["flood_s"] for e in un])
            produced = summary([e["denials"] / e["flood_s"] for e in un])
            ratio = summary([(e["lines_at_flood_end"] / e["flood_s"]) /
                             (e["denials"] / e["flood_s"]) for e in un])
            accounted = all(e["lines"] + e["suppressed"] == e["denials"] for e in un)
            lost = sum(e["lost"] for e in un)
            denials = sum(e["denials"] for e in un)
            self.row("events, kernel to audit log (no rate limit)", "10",
                     f"{rate['median'] / 1e3:.0f}k lines/s [{rate['p25'] / 1e3:.0f}k–"
                     f"{rate['p75'] / 1e3:.0f}k]",
                     f"kernel denials {produced['median'] / 1e3:.0f}k/s",
                     fmt_ratio(ratio),
                     f"lost {lost:,} of {denials:,}, each counted: lines + suppressed "
                     f"{'=' if accounted else '≠'} denials",
                     "≥ 500k lines/s; nothing lost silently",
                     ("met" if rate["median"] >= 5e5 else
                      f"missed: {rate['median'] / 5e5:.2f}× of 500k") +
                     ("; all accounted" if accounted else "; NOT ACCOUNTED"),
                     key="events_unlimited",
                     data={"lines_per_s": rate, "denials_per_s": produced,
                           "ratio": ratio, "lost": lost, "accounted": accounted})
        for e in self.by.get("events", []):
            if e["mode"] != "rate_limited":
                continue
            ok = e["lines"] + e["suppressed"] == e["denials"]
            self.row("events under the default rate limit (10/s, burst 20)", "10",
                     f"{e['lines']} lines for {e['denials']:,} denials",
                     f"kernel denials {e['denials'] / e['flood_s'] / 1e3:.0f}k/s", "—",
                     f"suppressed {e['suppressed']:,}, lost {e['lost']}",
                     "lines + suppressed = denials",
                     "met" if ok else "missed", key="events_rate_limited", data=e)

    # memory ---------------------------------------------------------------

    def memory(self):
        mem = collections.defaultdict(dict)
        for e in self.by.get("memory", []):
            mem[e["n"]][e["phase"]] = e
        starts = {e["n"]: e["ms"] for e in self.by.get("agent_start", [])}
        sizes = sorted(mem)
        if not sizes:
            return
        base = mem[sizes[0]].get("after_reloads") or mem[sizes[0]].get("loaded")
        for n in sizes:
            m = mem[n].get("after_reloads") or mem[n].get("loaded")
            loaded = mem[n].get("loaded", m)
            rss = m["rss_kb"]
            hwm = m["hwm_kb"]
            bpf = m["bpf"]["total"] / 1024
            tries = sum(v for k, v in m["bpf"]["maps"].items() if "trie" in k) / 1024
            for key, val in (("rss", rss), ("hwm", hwm), ("bpf", bpf), ("tries", tries)):
                self.series.setdefault("memory_kib", {}).setdefault(key, {})[n] = val
            met = rss <= 30 * 1024
            target = "≤ 30 MiB RSS at 100k" if n == 100000 else "—"
            verdict = ("met" if met else f"missed by {(rss - 30 * 1024) / 1024:.1f} MiB") \
                if n == 100000 else "—"
            if n == 100000 and hwm > 30 * 1024:
                verdict += f"; peak {fmt_mib(hwm)} over"
            self.row("agent memory: RSS; BPF maps (memlock)", fmt_size(n),
                     f"RSS {fmt_mib(rss)} (peak {fmt_mib(hwm)}); maps {fmt_mib(bpf)} "
                     f"(tries {fmt_mib(tries)})",
                     f"at {fmt_size(sizes[0])} CIDRs: RSS {fmt_mib(base['rss_kb'])}, maps "
                     f"{fmt_mib(base['bpf']['total'] / 1024)}",
                     f"RSS {rss / base['rss_kb']:.2f}×; maps "
                     f"{bpf / (base['bpf']['total'] / 1024):.2f}×",
                     f"after first load: RSS {fmt_mib(loaded['rss_kb'])}, maps "
                     f"{fmt_mib(loaded['bpf']['total'] / 1024)}; agent start to policy in "
                     f"force {fmt_ms(starts[n]) if n in starts else '?'}",
                     target, verdict, key=f"memory_{n}",
                     data={"after_reloads": m, "loaded": loaded})

    def build(self):
        for step in (self.connect, self.xdp, self.swap, self.events, self.memory):
            step()
        for e in self.by.get("failed", []):
            self.notes.append(f"{e['step']} did not complete: {e['why'].strip()}")
        return self

    # output ---------------------------------------------------------------

    def load(self):
        loads = [e["loadavg1"] for e in self.by.get("load", []) if "loadavg1" in e]
        if not loads:
            return None
        return {k: round(v, 2) for k, v in summary(loads).items()} | {"max": max(loads)}

    def machine_line(self):
        m = self.machine
        load = self.load()
        text = (f"{m.get('date', '?')}, commit {m.get('commit', '?')}: "
                f"{m.get('cpu', '?')}, {m.get('cpus', '?')} CPUs, {m.get('mem_gib', '?')} GiB, "
                f"{m.get('os', '?')}, kernel {m.get('kernel', '?')}")
        if load:
            text += (f"; 1-minute load average during the run: median {load['median']:.1f}, "
                     f"max {load['max']:.1f} (the machine is shared)")
        return text

    def table(self):
        head = ["benchmark", "CIDRs", "odsbpf, median [IQR]", "baseline, same run",
                "ratio, median [IQR]", "alternatives, same run", "target", "verdict"]
        keys = ["benchmark", "cidrs", "odsbpf", "baseline", "ratio", "others", "target",
                "verdict"]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in self.rows:
            lines.append("| " + " | ".join(str(r[k]).replace("|", "\\|") for k in keys) + " |")
        return "\n".join(lines)

    def json(self):
        return {"machine": self.machine, "load": self.load(), "rows": self.rows,
                "series": {k: {c: {str(n): v for n, v in s.items()} for c, s in d.items()}
                           for k, d in self.series.items()},
                "notes": self.notes}


# The plot -------------------------------------------------------------------

PALETTE = ["#1b6ac9", "#d1495b", "#edae49", "#00798c", "#66a182", "#8d5a97"]


def panel(x0, y0, w, h, title, ylabel, lines, ylog=True):
    """One chart: lines is [(label, {size: value})]. Returns SVG text."""
    out = []
    pts = [v for _, s in lines for v in s.values() if v and v > 0]
    sizes = sorted({n for _, s in lines for n in s})
    if not pts or not sizes:
        return ""
    lo, hi = min(pts), max(pts)
    if ylog:
        lo, hi = 10 ** math.floor(math.log10(lo)), 10 ** math.ceil(math.log10(hi))
        scale = math.log10
    else:
        lo, hi = 0, hi * 1.15
        scale = float
    left, right, top, bottom = x0 + 58, x0 + w - 24, y0 + 28, y0 + h - 34
    xs = {n: left + (right - left) * (math.log10(n) - math.log10(sizes[0])) /
          max(1e-9, math.log10(sizes[-1]) - math.log10(sizes[0])) for n in sizes}

    def yy(v):
        return bottom - (bottom - top) * (scale(v) - scale(lo if ylog else 0)) / \
            max(1e-9, scale(hi) - scale(lo if ylog else 0))

    out.append(f'<text x="{x0 + w / 2}" y="{y0 + 16}" text-anchor="middle" '
               f'font-weight="bold">{title}</text>')
    out.append(f'<rect x="{left}" y="{top}" width="{right - left}" height="{bottom - top}" '
               f'fill="none" stroke="#999"/>')
    ticks = []
    if ylog:
        v = lo
        while v <= hi * 1.0001:
            ticks.append(v)
            v *= 10
    else:
        step = 10 ** math.floor(math.log10(hi / 4)) if hi > 0 else 1
        while hi / step > 6:
            step *= 2
        ticks = [i * step for i in range(int(hi / step) + 1)]
    for v in ticks:
        y = yy(v)
        label = f"{v:g}" if v < 1e3 else fmt_size(int(v)) if v in (1e3, 1e4, 1e5) else f"{v:g}"
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="#eee"/>')
        out.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{label}</text>')
    for n, x in xs.items():
        out.append(f'<text x="{x:.1f}" y="{bottom + 14}" text-anchor="middle">'
                   f'{fmt_size(n)}</text>')
    out.append(f'<text x="{(left + right) / 2}" y="{bottom + 28}" text-anchor="middle">'
               f'CIDRs in the policy</text>')
    out.append(f'<text x="{x0 + 12}" y="{(top + bottom) / 2}" text-anchor="middle" '
               f'transform="rotate(-90 {x0 + 12} {(top + bottom) / 2})">{ylabel}</text>')
    for i, (label, s) in enumerate(lines):
        color = PALETTE[i % len(PALETTE)]
        p = [(xs[n], yy(v)) for n, v in sorted(s.items()) if v and v > 0]
        if len(p) > 1:
            out.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>' %
                       (color, " ".join(f"{x:.1f},{y:.1f}" for x, y in p)))
        for x, y in p:
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"/>')
        ly = top + 12 + 13 * i
        out.append(f'<line x1="{left + 8}" y1="{ly - 4}" x2="{left + 22}" y2="{ly - 4}" '
                   f'stroke="{color}" stroke-width="2"/>')
        out.append(f'<text x="{left + 26}" y="{ly}">{label}</text>')
    return "\n".join(out)


def svg(series, machine_text):
    w, h = 440, 280
    charts = []
    c = series.get("connect_tcp_allowed", {})
    charts.append(("connect() TCP, allowed: ÷ no program", "ratio",
                   [(k, c[k]) for k in ("odsbpf", "odsbpf+skb", "iptables",
                                        "iptables-legacy", "nftables") if k in c], True))
    x = series.get("xdp_allowed", {})
    d = series.get("xdp_denied", {})
    charts.append(("XDP ns per packet (BPF_PROG_TEST_RUN)", "ns",
                   [(f"odsbpf {k}", s.get("odsbpf", {})) for k, s in
                    (("allowed", x), ("denied", d))] +
                   [(k, x.get(k, {})) for k in ("xdp-pass", "xdp-filter")], True))
    s = series.get("swap_ms", {})
    charts.append(("loading the policy: file to enforced", "ms",
                   [(k, s[k]) for k in ("odsbpf", "agent reload", "nftables", "iptables",
                                        "iptables-legacy") if k in s], True))
    m = series.get("memory_kib", {})
    charts.append(("agent memory", "MiB",
                   [(label, {n: v / 1024 for n, v in m.get(k, {}).items()})
                    for k, label in (("rss", "RSS after reloads"), ("hwm", "peak RSS"),
                                     ("bpf", "BPF maps"), ("tries", "policy tries"))],
                   False))
    body = [panel((i % 2) * w, 20 + (i // 2) * h, w, h, *chart) for i, chart in
            enumerate(charts)]
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * w}" height="{2 * h + 40}" '
            f'font-family="sans-serif" font-size="11">\n'
            f'<rect width="100%" height="100%" fill="white"/>\n'
            f'<text x="8" y="14" fill="#555">odsbpf make bench: how the figures grow with '
            f'policy size ({machine_text})</text>\n' + "\n".join(body) +
            f'\n<text x="8" y="{2 * h + 34}" fill="#555">medians over repeats; '
            f'log scales except memory</text>\n</svg>\n')


def update_md(path, text):
    try:
        doc = open(path, encoding="utf-8").read()
    except FileNotFoundError:
        print(f"report: {path} missing: the table goes only to stdout and JSON",
              file=sys.stderr)
        return
    if MD_BEGIN not in doc or MD_END not in doc:
        print(f"report: {path} has no {MD_BEGIN} ... {MD_END} markers: not updated",
              file=sys.stderr)
        return
    head, rest = doc.split(MD_BEGIN, 1)
    _, tail = rest.split(MD_END, 1)
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        f.write(head + MD_BEGIN + "\n" + text + "\n" + MD_END + tail)
    os.replace(path + ".tmp", path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("raw")
    ap.add_argument("--json", required=True)
    ap.add_argument("--svg", required=True)
    ap.add_argument("--md", required=True)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()

    raw = [json.loads(l) for l in open(a.raw, encoding="utf-8") if l.strip()]
    r = Report(raw).build()
    table = r.table()
    print(r.machine_line())
    print(table)
    for n in r.notes:
        print("NOTE:", n)

    out = r.json() | {"quick": a.quick}
    path = a.json
    with open(path, "w", encoding="utf-8") as f:
        # The summary indented; the samples one to a line.
        text = json.dumps(out, indent=1, ensure_ascii=False)
        f.write(text[:-2] + ',\n "samples": [\n  ' +
                ",\n  ".join(json.dumps(e, ensure_ascii=False) for e in raw) + "\n ]\n}\n")
    print(f"bench: wrote {path}", file=sys.stderr)
    if a.quick:
        return
    with open(a.svg, "w", encoding="utf-8") as f:
        f.write(svg(r.series, r.machine.get("date", "")))
    md = (f"Run of {r.machine_line()}.\n\n{table}\n\n" +
          "".join(f"- NOTE: {n}\n" for n in r.notes) +
          f"\n![How the figures grow with policy size]({os.path.basename(a.svg)})\n")
    update_md(a.md, md)
    print(f"bench: wrote {a.svg} and the results block of {a.md}", file=sys.stderr)


if __name__ == "__main__":
    main()
