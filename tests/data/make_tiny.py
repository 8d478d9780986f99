"""Writes the tiny ontology fixtures in tests/data/tiny/ (committed; re-run to regenerate).

Two small OBO files in the shape of HPO and GO (a tree of is_a edges, GO with part_of and three
namespaces, a few obsolete terms (one with replaced_by), one alt_id, one shared label) and annotation files in the hpoa and GAF formats.
"""

import gzip
import random
from pathlib import Path

OUT = Path(__file__).parent / "tiny"
WORDS = (
    "abnormal acute bone brain cardiac cell chronic cortex dental duct ear enamel eye fiber finger "
    "gland growth hair heart hepatic iris joint kidney lens limb liver lung membrane muscle nail "
    "nerve neural optic palate pelvic renal retina rib skin spine tendon thyroid tooth ulna vessel"
).split()


def labels(rng, n):
    seen, out = set(), []
    while len(out) < n:
        lab = " ".join(rng.sample(WORDS, rng.choice([1, 2, 2, 3]))).capitalize()
        if lab.lower() not in seen:
            seen.add(lab.lower())
            out.append(lab)
    return out


def write_obo(path, prefix, n, namespaces, default_ns, rng, part_of=False):
    labs = labels(rng, n)
    labs[n - 1] = labs[n - 2]  # one label shared by two terms
    ids = [f"{prefix}:{i:07d}" for i in range(1, n + 1)]
    lines = ["format-version: 1.2", f"data-version: tiny/releases/2025-01-01", f"default-namespace: {default_ns}", ""]
    lines += ["[Typedef]", "id: part_of", "name: part of", ""]
    roots = {ns: ids[k] for k, ns in enumerate(namespaces)}
    parents = {}
    for k, tid in enumerate(ids):
        ns = namespaces[k % len(namespaces)] if k >= len(namespaces) else namespaces[k]
        lines += ["[Term]", f"id: {tid}", f"name: {labs[k]}"]
        if len(namespaces) > 1:
            lines.append(f"namespace: {ns}")
        if k >= len(namespaces):
            same = [ids[j] for j in range(k) if (namespaces[j % len(namespaces)] if j >= len(namespaces) else namespaces[j]) == ns]
            parent = rng.choice(same[-6:])
            parents[tid] = parent
            lines.append(f"is_a: {parent} ! parent")
            if part_of and k % 5 == 0 and len(same) > 2:
                lines.append(f"relationship: part_of {same[0]} ! whole")
        if k % 4 == 1:
            lines.append(f'synonym: "{labs[k].lower()} syn" EXACT []')
        if k == 11:
            lines.append(f"alt_id: {prefix}:{n + 40:07d}")  # a merged-away identifier of this term
        if k in (7, 19, 33):
            lines.append("is_obsolete: true")
        if k == 7:
            lines.append(f"replaced_by: {ids[k + 1]}")
        lines.append("")
    path.write_text("\n".join(lines))
    return ids


def main():
    rng = random.Random(7)
    OUT.mkdir(exist_ok=True)
    hp = write_obo(OUT / "hp.obo", "HP", 60, ["human_phenotype"], "human_phenotype", rng)
    go = write_obo(OUT / "go.obo", "GO", 72, ["cellular_component", "biological_process", "molecular_function"],
                   "gene_ontology", rng, part_of=True)
    rows = ["#description: tiny fixture", "#version: 2025-01-01",
            "database_id\tdisease_name\tqualifier\thpo_id\treference\tevidence\tonset\tfrequency\tsex\tmodifier\taspect\tbiocuration"]
    for d in range(40):
        for tid in rng.sample(hp[1:], rng.randint(1, 6)):
            q = "NOT" if rng.random() < 0.05 else ""
            rows.append(f"OMIM:{600000 + d}\tDisease {d}\t{q}\t{tid}\tPMID:1\tPCS\t\t\t\t\tP\tHPO:test[2025-01-01]")
    (OUT / "hp.hpoa").write_text("\n".join(rows) + "\n")
    gaf = ["!gaf-version: 2.1", "!date-generated: 2025-01-01"]
    for g in range(50):
        for tid in rng.sample(go[3:], rng.randint(1, 5)):
            q = "NOT|enables" if rng.random() < 0.05 else "enables"
            gaf.append("\t".join(["UniProtKB", f"P{10000 + g}", f"GENE{g}", q, tid, "PMID:1", "IDA", "", "F",
                                  f"Gene {g}", "", "protein", "taxon:9606", "20250101", "UniProt"]))
    with gzip.open(OUT / "go.gaf.gz", "wt") as fh:
        fh.write("\n".join(gaf) + "\n")


if __name__ == "__main__":
    main()
