#!/usr/bin/env python3
"""Builds the project's versioned reference data (reference/*.csv) from the raw shared data.

Usage: python3 reference/build_reference.py [SOURCE_DIR]
SOURCE_DIR defaults to ../shared/reference relative to the repository root. The output CSVs are
written beside this script; the C++ build embeds only those (see reference/CMakeLists.txt).
Standard library only. Every derivation rule and self-check is described in reference/README.md.
"""

import csv
import datetime
import hashlib
import io
import os
import sys

# --- Hand-maintained corrections -----------------------------------------------------------------
# Kept here as data so a correction is a data change. Each entry cites the source sentence.

# Dated region changes: (code, effective date, region before, region from that date on).
# Source (shared README, gemeente_amr_2015_besluit.csv): "Regions changed since for a few:
# Uitgeest GM0450 moved from 8 to 3 on 2017-01-01."
MEMBERSHIP_CHANGES = [
    ("GM0450", "2017-01-01", 8, 3),
]

# The largest part of each split, where a resident of the old code counts afterwards.
# Source (shared README, "Splits"): "Maasdonk GM1671 -> 's-Hertogenbosch GM0796 (2015);
# Littenseradiel GM0140 -> Súdwest-Fryslân GM1900 (51%; Leeuwarden 31%, Waadhoeke 18%; 2018);
# Winsum GM0053 -> Het Hogeland GM1966 (88%; 2019); Haaren GM0788 -> Oisterwijk GM0824 (42%;
# Vught 34%, Boxtel 15%, Tilburg 8%; 2021)."
SPLIT_PRIMARY = {
    "GM1671": "GM0796",
    "GM0140": "GM1900",
    "GM0053": "GM1966",
    "GM0788": "GM0824",
}

# Codes merged away on 2015-01-01 itself (e.g. Graft-De Rijp GM0365) never existed from 2015 on,
# but mergers.csv names them as old codes, and the C++ loader (core/reference_data.cc) rejects a
# merger whose code is not in municipalities.csv. They are therefore listed with
# [EARLIEST, merger date): never valid on a date the service accepts (>= 2015-01-01), no region.
INCLUDE_CODES_MERGED_BEFORE_2015 = True

EARLIEST = "1970-01-01"  # valid_from when the creation date is unknown / before the data
NEW_CODE_KINDS = ("samenvoeging (nieuwe gemeente)", "naamswijziging (nieuwe code)")
SPLIT_KIND = "splitsing"
LAYOUT_CHECKS = {"2022": "2022-09-30", "2023": "2023-06-30", "2024": "2024-06-30"}

# --- Input ----------------------------------------------------------------------------------------

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(HERE)
DEFAULT_SOURCE = os.path.normpath(os.path.join(REPO_ROOT, "..", "shared", "reference"))

SOURCE_FILES = {
    "regions": ("amr_regions.csv", ["amr_code", "amr_name", "cbs_amr_code", "cbs_amr_name_2026"]),
    "layout": ("gemeente_amr_2022_2024.csv", ["year", "gm_code", "gemeente", "amr_code", "amr_name"]),
    "extra": ("gemeenten_2015_2021_extra.csv",
              ["gm_code", "gemeente", "valid_from", "valid_to", "amr_code"]),
    "besluit": ("gemeente_amr_2015_besluit.csv", ["gm_code", "gemeente", "amr_code_2015"]),
    "her_old": ("herindelingen_2015_2021.csv",
                ["effective_date", "old_gm_code", "old_name", "new_gm_code", "new_name", "kind"]),
    "her_new": ("herindelingen_2022_2024.csv",
                ["effective_date", "old_gm_code", "old_name", "new_gm_code", "new_name", "kind"]),
}


def fail(msg):
    raise SystemExit("build_reference: " + msg)


def check(cond, msg):
    if not cond:
        fail("check failed: " + msg)


def read_source(src, key):
    name, header = SOURCE_FILES[key]
    path = os.path.join(src, name)
    with open(path, "rb") as f:
        raw = f.read()
    text = raw.decode("utf-8")  # strict: any invalid byte is an error
    check(not text.startswith("\ufeff"), name + " has a BOM")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    check(rows and rows[0] == header, "%s header is %r, expected %r" % (name, rows[0], header))
    out = []
    for i, r in enumerate(rows[1:], start=2):
        if not r:
            continue
        check(len(r) == len(header), "%s:%d has %d fields" % (name, i, len(r)))
        check(all(v == v.strip() for v in r), "%s:%d has surrounding whitespace" % (name, i))
        out.append(dict(zip(header, r)))
    return out, hashlib.sha256(raw).hexdigest()


def iso(s):
    return datetime.date.fromisoformat(s)


def valid_on(m, d):
    return iso(m["valid_from"]) <= d and (m["valid_to"] == "" or d < iso(m["valid_to"]))


# --- Build ----------------------------------------------------------------------------------------


def build(src):
    data, digests = {}, {}
    for key in SOURCE_FILES:
        data[key], digests[SOURCE_FILES[key][0]] = read_source(src, key)
    for name in sorted(digests):
        print("source %s sha256=%s" % (name, digests[name]))

    # regions.csv
    regions = []
    for r in data["regions"]:
        regions.append({"number": int(r["amr_code"]), "name": r["amr_name"],
                        "cbs_code": r["cbs_amr_code"]})
        if r["amr_name"] != r["cbs_amr_name_2026"]:
            print("note: region %s UWV name %r, CBS 2026 name %r (UWV name used)"
                  % (r["amr_code"], r["amr_name"], r["cbs_amr_name_2026"]))
    regions.sort(key=lambda r: r["number"])
    check([r["number"] for r in regions] == list(range(1, 36)), "regions are numbered 1..35")
    check(len({r["cbs_code"] for r in regions}) == 35, "CBS region codes are unique")
    region_name = {r["number"]: r["name"] for r in regions}

    # mergers.csv
    mergers = []
    for key in ("her_old", "her_new"):
        for r in data[key]:
            iso(r["effective_date"])
            mergers.append({"effective_date": r["effective_date"], "old_code": r["old_gm_code"],
                            "new_code": r["new_gm_code"], "kind": r["kind"],
                            "old_name": r["old_name"], "new_name": r["new_name"]})
    check(len({(m["old_code"], m["new_code"]) for m in mergers}) == len(mergers),
          "one merger row per old/new pair")
    by_old = {}
    for m in mergers:
        by_old.setdefault(m["old_code"], []).append(m)
    for old, rows in by_old.items():
        check(len({m["effective_date"] for m in rows}) == 1, old + " merged on one date")
        is_split = [m["kind"] == SPLIT_KIND for m in rows]
        check(all(is_split) or not any(is_split), old + ": split rows and non-split rows mixed")
        if all(is_split):
            check(old in SPLIT_PRIMARY, "split of %s has no largest part in SPLIT_PRIMARY" % old)
            check(SPLIT_PRIMARY[old] in [m["new_code"] for m in rows],
                  "SPLIT_PRIMARY[%s] is not among its split rows" % old)
            for m in rows:
                m["primary"] = 1 if m["new_code"] == SPLIT_PRIMARY[old] else 0
        else:
            check(old not in SPLIT_PRIMARY, old + " is in SPLIT_PRIMARY but is not split")
            for m in rows:
                m["primary"] = 1
        check(sum(m["primary"] for m in rows) == 1, old + " has exactly one primary row")
    for old in SPLIT_PRIMARY:
        check(old in by_old, "SPLIT_PRIMARY names %s, which has no merger" % old)
    mergers.sort(key=lambda m: (m["effective_date"], m["old_code"], m["new_code"]))
    merged_away = {m["old_code"]: m["effective_date"] for m in mergers}
    created = {}
    for m in mergers:
        if m["kind"] in NEW_CODE_KINDS:
            check(created.get(m["new_code"], m["effective_date"]) == m["effective_date"],
                  m["new_code"] + " created on two dates")
            created[m["new_code"]] = m["effective_date"]

    # municipalities.csv
    munis = {}
    layout_codes = {}  # year -> set of codes
    layout_region = {}  # code -> {year: region}
    for r in sorted(data["layout"], key=lambda r: r["year"]):
        code, year, region = r["gm_code"], r["year"], int(r["amr_code"])
        check(code not in layout_codes.get(year, set()), "%s twice in %s" % (code, year))
        layout_codes.setdefault(year, set()).add(code)
        check(region in region_name, "%s %s: unknown region %d" % (code, year, region))
        if region_name[region] != r["amr_name"]:
            print("note: %s %s region %d named %r in layout, %r in amr_regions"
                  % (code, year, region, r["amr_name"], region_name[region]))
        layout_region.setdefault(code, {})[year] = region
        prev = munis.get(code)
        if prev and prev["name"] != r["gemeente"]:
            print("note: %s renamed %r -> %r in %s" % (code, prev["name"], r["gemeente"], year))
        munis[code] = {"code": code, "name": r["gemeente"],
                       "valid_from": created.get(code, EARLIEST),
                       "valid_to": merged_away.get(code, "")}
    for year, n in (("2022", 344), ("2023", 342), ("2024", 342)):
        check(len(layout_codes.get(year, ())) == n, "%s layout has %d codes" % (year, n))
    extra_region = {}
    for r in data["extra"]:
        code = r["gm_code"]
        check(code not in munis, code + " is both in the 2022-2024 layout and in the extras")
        check(iso(r["valid_from"]) < iso(r["valid_to"]), code + " has an empty interval")
        munis[code] = {"code": code, "name": r["gemeente"], "valid_from": r["valid_from"],
                       "valid_to": r["valid_to"]}
        extra_region[code] = int(r["amr_code"])
        check(extra_region[code] in region_name, code + ": unknown region")
        if merged_away.get(code) != r["valid_to"]:
            print("note: extra %s valid_to %s, merger date %s"
                  % (code, r["valid_to"], merged_away.get(code)))
        if code in created and created[code] != r["valid_from"]:
            print("note: extra %s valid_from %s, created by merger on %s"
                  % (code, r["valid_from"], created[code]))
    check(len(data["extra"]) == 69, "69 extra codes")
    pre_2015 = sorted(set(merged_away) - set(munis))
    for code in pre_2015:
        m = by_old[code][0]
        print("note: merger old code %s %s (merged %s) is in neither the layout nor the extras%s"
              % (code, m["old_name"], m["effective_date"],
                 "; listed as valid until then" if INCLUDE_CODES_MERGED_BEFORE_2015 else ""))
        check(iso(m["effective_date"]) <= datetime.date(2015, 1, 1),
              code + " merged away after 2015-01-01 but is missing from the sources")
        if INCLUDE_CODES_MERGED_BEFORE_2015:
            munis[code] = {"code": code, "name": m["old_name"], "valid_from": EARLIEST,
                           "valid_to": m["effective_date"]}
    for m in mergers:
        check(m["new_code"] in munis, "merger successor %s unknown" % m["new_code"])
        if m["old_code"] in munis:
            check(munis[m["old_code"]]["valid_to"] == m["effective_date"],
                  m["old_code"] + " valid_to differs from its merger date")
        check(valid_on(munis[m["new_code"]], iso(m["effective_date"])),
              "%s not valid on its merger date %s" % (m["new_code"], m["effective_date"]))
        for side in ("old", "new"):
            c = m[side + "_code"]
            if c in munis and munis[c]["name"] != m[side + "_name"]:
                print("note: merger names %s %r, table %r" % (c, m[side + "_name"], munis[c]["name"]))

    # Layout sets must match the table exactly.
    for year, day in sorted(LAYOUT_CHECKS.items()):
        d = iso(day)
        valid = {c for c, m in munis.items() if valid_on(m, d)}
        print("municipalities valid on %s: %d" % (day, len(valid)))
        check(valid == layout_codes[year], "codes valid on %s == %s layout (extra: %s, missing: %s)"
              % (day, year, sorted(valid - layout_codes[year]), sorted(layout_codes[year] - valid)))

    # Besluit 2015: every code valid on 2015-01-01.
    d2015 = datetime.date(2015, 1, 1)
    besluit = {r["gm_code"]: r for r in data["besluit"]}
    check(len(besluit) == len(data["besluit"]) == 393, "393 besluit codes, no duplicates")
    missing = sorted(c for c in besluit if c not in munis)
    print("besluit codes missing from the table: %s" % (missing or "none"))
    for c in sorted(besluit):
        if c in munis:
            check(valid_on(munis[c], d2015), c + " (besluit) is not valid on 2015-01-01")
    valid_2015 = {c for c, m in munis.items() if valid_on(m, d2015)}
    print("municipalities valid on 2015-01-01: %d; not in besluit: %s"
          % (len(valid_2015), sorted(valid_2015 - set(besluit)) or "none"))

    # region_membership.csv
    membership = []
    for code in sorted(munis):
        m = munis[code]
        if code in layout_region:
            years = sorted(layout_region[code])
            pieces = [(m["valid_from"], layout_region[code][years[0]])]
            for prev, year in zip(years, years[1:]):
                if layout_region[code][year] != layout_region[code][prev]:
                    print("note: %s region %d in %s, %d in %s: split at %s-01-01"
                          % (code, layout_region[code][prev], prev, layout_region[code][year],
                             year, year))
                    pieces.append((year + "-01-01", layout_region[code][year]))
        elif code in extra_region:
            pieces = [(m["valid_from"], extra_region[code])]
        else:
            print("note: %s %s has no region (merged away %s)" % (code, m["name"], m["valid_to"]))
            continue
        rows = [{"code": code, "region": reg, "valid_from": f, "valid_to": t}
                for (f, reg), t in zip(pieces, [p[0] for p in pieces[1:]] + [m["valid_to"]])]
        for c, day, before, after in MEMBERSHIP_CHANGES:
            if c != code:
                continue
            split = []
            for r in rows:
                if valid_on(r, iso(day)) and r["valid_from"] != day:
                    check(r["region"] == after, "%s: data says region %d from %s, correction says %d"
                          % (code, r["region"], day, after))
                    split.append(dict(r, region=before, valid_to=day))
                    split.append(dict(r, valid_from=day))
                else:
                    split.append(r)
            check(len(split) == len(rows) + 1, "%s: change on %s applied once" % (code, day))
            rows = split
        membership.extend(rows)
    for c, day, before, after in MEMBERSHIP_CHANGES:
        check(c in munis, "MEMBERSHIP_CHANGES names unknown code " + c)
        if c in besluit and iso(day) > d2015:
            check(int(besluit[c]["amr_code_2015"]) == before,
                  "%s: besluit 2015 region %s, correction says %d before %s"
                  % (c, besluit[c]["amr_code_2015"], before, day))
    membership.sort(key=lambda r: (r["code"], r["valid_from"]))

    def region_on(code, d):
        hits = [r["region"] for r in membership if r["code"] == code and valid_on(r, d)]
        check(len(hits) <= 1, "%s has overlapping memberships on %s" % (code, d))
        return hits[0] if hits else None

    # Membership intervals must tile each municipality's validity exactly.
    for code, m in munis.items():
        rows = [r for r in membership if r["code"] == code]
        if not rows:
            continue
        check(rows[0]["valid_from"] == m["valid_from"] and rows[-1]["valid_to"] == m["valid_to"]
              and all(a["valid_to"] == b["valid_from"] for a, b in zip(rows, rows[1:]))
              and all(r["valid_to"] == "" or r["valid_from"] < r["valid_to"] for r in rows),
              code + ": membership intervals tile its validity")

    # Compare the besluit 2015 regions with the table (informational; see README uncertainties).
    for c in sorted(besluit):
        if c in munis:
            now = region_on(c, d2015)
            if now != int(besluit[c]["amr_code_2015"]):
                print("note: %s %s region on 2015-01-01 here %s, besluit 2015 %s"
                      % (c, besluit[c]["gemeente"], now, besluit[c]["amr_code_2015"]))
            if besluit[c]["gemeente"] != munis[c]["name"]:
                print("note: %s named %r in besluit, %r here"
                      % (c, besluit[c]["gemeente"], munis[c]["name"]))

    # --- Self-checks, with the same semantics as core/reference_data.cc -------------------------
    primary = {m["old_code"]: m for m in mergers if m["primary"] == 1}

    def successor(code, d):
        for _ in range(16):
            m = primary.get(code)
            if m is None or iso(m["effective_date"]) > d:
                return code
            code = m["new_code"]
        fail("merger cycle")

    D = iso
    check(successor("GM0856", D("2022-09-30")) == "GM1991", "Uden -> Maashorst")
    check(successor("GM0265", D("2016-06-01")) == "GM1945", "Millingen -> Berg en Dal")
    check(successor("GM0265", D("2015-06-01")) == "GM0241", "Millingen -> Groesbeek")
    check(successor("GM0457", D("2022-03-23")) == "GM0457", "Weesp on 2022-03-23")
    check(successor("GM0457", D("2022-03-24")) == "GM0363", "Weesp -> Amsterdam on 2022-03-24")
    check(successor("GM0788", D("2021-01-01")) == "GM0824", "Haaren -> Oisterwijk")
    check(region_on("GM0654", D("2022-09-30")) == 29, "Borsele in 29")
    zeeland = sorted(m["name"] for c, m in munis.items()
                     if valid_on(m, D("2022-09-30")) and region_on(c, D("2022-09-30")) == 29)
    check(zeeland == ["Borsele", "Goes", "Hulst", "Kapelle", "Middelburg", "Noord-Beveland",
                      "Reimerswaal", "Schouwen-Duiveland", "Sluis", "Terneuzen", "Tholen", "Veere",
                      "Vlissingen"], "region 29 on 2022-09-30: %s" % zeeland)
    check(region_on("GM0450", D("2016-12-31")) == 8, "Uitgeest in 8 on 2016-12-31")
    check(region_on("GM0450", D("2017-01-01")) == 3, "Uitgeest in 3 on 2017-01-01")
    checked = 0
    for year in range(2015, 2027):
        for d in (datetime.date(year, 1, 1), datetime.date(year, 7, 1)):
            for code, m in munis.items():
                if iso(m["valid_from"]) > d:
                    continue  # not yet created: nothing to map
                s = successor(code, d)
                check(valid_on(munis[s], d), "successor %s of %s not valid on %s" % (s, code, d))
                check(region_on(s, d) is not None, "successor %s of %s has no region on %s"
                      % (s, code, d))
                checked += 1
    print("successor checks passed: %d (code, date) pairs" % checked)

    return {
        "regions": (["number", "name", "cbs_code"], regions),
        "municipalities": (["code", "name", "valid_from", "valid_to"],
                           [munis[c] for c in sorted(munis)]),
        "region_membership": (["code", "region", "valid_from", "valid_to"], membership),
        "mergers": (["effective_date", "old_code", "new_code", "primary", "kind"], mergers),
    }


def write(tables, out_dir):
    for name, (header, rows) in tables.items():
        buf = io.StringIO(newline="")
        w = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        w.writerow(header)
        for r in rows:
            w.writerow([r[h] for h in header])
        text = buf.getvalue()
        check(")sonarcsv\"" not in text, name + " contains the embedding delimiter")
        for line in text.splitlines():
            if '"' in line:
                print("note: %s.csv has a quoted field: %s" % (name, line))
        path = os.path.join(out_dir, name + ".csv")
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        print("wrote %s (%d rows)" % (os.path.relpath(path, REPO_ROOT), len(rows)))


def main(argv):
    if len(argv) > 2:
        fail("usage: build_reference.py [SOURCE_DIR]")
    src = os.path.abspath(argv[1]) if len(argv) == 2 else DEFAULT_SOURCE
    print("source: %s" % src)
    write(build(src), HERE)


if __name__ == "__main__":
    main(sys.argv)
