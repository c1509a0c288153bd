"""Formats the rows that bench/compare.sh collected as one Markdown table.

usage: table.py ROWS.tsv

Records, tab-separated:
  G  gid  title  unit  baseline-label        a group; unit is ns, MB/s or KiB
  R  gid  label  values  targets  note       a measured row: one value per round, comma-
                                             separated, in the group's unit
  S  gid  label  reason  targets             a skipped row

The median shown is the median of a row's values. A ratio between two rows with one value per
round each is the median of the round-by-round ratios (the rounds ran the contenders one after
the other, so pairing them cancels most of a change in the machine's load between rounds);
otherwise it is the ratio of the medians. Ratio = row / the group's baseline row. Targets,
';'-separated:
  le:X:LABEL    value / value(LABEL) <= X     (time or memory: at most X times LABEL)
  faster:X:LABEL value(LABEL) / value >= X    (at least X times faster than LABEL)
  ge:X:LABEL    value / value(LABEL) >= X     (throughput: at least X times LABEL)
  below:X       value < X (in the group's unit)
"""

import statistics
import sys


def ratio(a, b):
    """a / b for two lists of per-round samples (see the module docs)."""
    if len(a) == len(b) and len(a) > 1:
        return statistics.median(x / y for x, y in zip(a, b))
    return statistics.median(a) / statistics.median(b)


def fmt_value(v, unit):
    if unit == "ns":
        if v < 1e3:
            return f"{v:.0f} ns"
        if v < 1e6:
            return f"{v / 1e3:.1f} µs"
        return f"{v / 1e6:.2f} ms"
    if unit == "KiB":
        return f"{v / 1024:.2f} MiB"
    if unit == "MB/s":
        return f"{v:,.0f} MB/s"
    return f"{v:g} {unit}"


def short(label):
    return label.split(" (")[0]


def check(target, value, values, unit):
    # value: this row's samples; values: label -> samples.
    """(text, verdict) for one target; verdict is True, False or None (cannot tell).

    When the reference is not the group's baseline, the text ends with the ratio reached.
    """
    kind, _, rest = target.partition(":")
    if kind == "below":
        x = float(rest)
        return f"< {fmt_value(x, unit)}", statistics.median(value) < x
    x, _, ref = rest.partition(":")
    x = float(x)
    refv = values.get(ref)
    if kind == "le":
        text, got = f"≤ {x:g}× {short(ref)}", refv and ratio(value, refv)
        ok = None if refv is None else got <= x
    elif kind == "faster":
        text, got = f"≥ {x:g}× faster than {short(ref)}", refv and ratio(refv, value)
        ok = None if refv is None else got >= x
    elif kind == "ge":
        text, got = f"≥ {x:g}× {short(ref)}", refv and ratio(value, refv)
        ok = None if refv is None else got >= x
    else:
        raise SystemExit(f"table.py: unknown target {target!r}")
    if refv is not None:
        # Three decimals when two would print the threshold itself.
        text += f" (is {got:.3f}×)" if f"{got:.2f}" == f"{x:.2f}" else f" (is {got:.2f}×)"
    return text, ok


def main():
    groups, order, rows = {}, [], {}
    for line in open(sys.argv[1], encoding="utf-8"):
        f = line.rstrip("\n").split("\t")
        if f[0] == "G":
            groups[f[1]] = {"title": f[2], "unit": f[3], "base": f[4]}
            order.append(f[1])
            rows[f[1]] = []
        elif f[0] in ("R", "S"):
            rows[f[1]].append(f)
    out = [
        "| group | contender | median | ratio | target | result |",
        "|---|---|---|---|---|---|",
    ]
    passed = failed = unknown = 0
    for gid in order:
        g = groups[gid]
        unit = g["unit"]
        values = {r[2]: [float(v) for v in r[3].split(",")] for r in rows[gid] if r[0] == "R"}
        base = values.get(g["base"])
        better = "higher" if unit == "MB/s" else "lower"
        out.append(
            f"| **{gid}. {g['title']}** | *ratio vs {short(g['base'])}; {better} is better* | | | | |"
        )
        for r in rows[gid]:
            label = r[2]
            if r[0] == "S":
                targets = [t for t in r[4].split(";") if t] if len(r) > 4 else []
                ttext = "; ".join(check(t, [1.0], {}, unit)[0] for t in targets)
                unknown += bool(targets)
                out.append(f"| | {label} | skipped: {r[3]} | | {ttext} | {'n/a' if targets else ''} |")
                continue
            value = values[label]
            rtext = f"{ratio(value, base):.2f}" if base else ""
            texts, verdicts = [], []
            for t in (t for t in r[4].split(";") if t):
                text, ok = check(t, value, values, unit)
                texts.append(text)
                verdicts.append(ok)
            if None in verdicts:
                unknown += 1
            elif verdicts and all(verdicts):
                passed += 1
            elif verdicts:
                failed += 1
            verdict = "; ".join(
                "n/a" if ok is None else "pass" if ok else "**FAIL**" for ok in verdicts
            )
            note = f" ({r[5]})" if len(r) > 5 and r[5] else ""
            out.append(
                f"| | {label} | {fmt_value(statistics.median(value), unit)}{note} | {rtext} | {'; '.join(texts)} | {verdict} |"
            )
    print("\n".join(out))
    print()
    print(
        "Medians of one run of bench/compare.sh. A ratio between rows measured in rounds (the"
        " contenders one after the other, in reverse order every other round) is the median of"
        " the round-by-round ratios."
    )
    print()
    print(f"targets: {passed} pass, {failed} fail, {unknown} cannot be judged (a row or its reference was skipped)")


if __name__ == "__main__":
    main()
