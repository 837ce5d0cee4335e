"""Search speed at 100,000 datasets, SQLite (FTS5) and PostgreSQL (tsvector + GIN), one run.

Generates N synthetic archived datasets (titles, descriptions, organisms, methods,
instruments and dates drawn from realistic vocabularies) straight into the catalog's search
index of a fresh SQLite file and a fresh PostgreSQL database, then runs a mix of queries
(full text, facets, both) many times each and prints p50 / p95 per engine.

    python benchmarks/search.py [--n 100000] [--repeat 30] [--pg postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa

from catalog import Catalog
from catalog.models import SearchRow, utcnow
from catalog.search import SearchFilters
from core.records import FAIR_LEVELS

ORGANISMS = [
    ("Homo sapiens", 9606), ("Mus musculus", 10090), ("Danio rerio", 7955),
    ("Drosophila melanogaster", 7227), ("Caenorhabditis elegans", 6239),
    ("Arabidopsis thaliana", 3702), ("Saccharomyces cerevisiae", 4932),
]  # fmt: skip
METHODS = [
    ("spinning disk confocal microscopy", "FBbi_00000253"),
    ("single-spot confocal microscopy", "FBbi_00000252"),
    ("wide-field fluorescence microscopy", "FBbi_00100013"),
    ("selective plane illumination microscopy", "FBbi_00000369"),
    ("bright-field microscopy", "FBbi_00000243"),
]
INSTRUMENTS = ["Eclipse Ti2-E", "LSM 980", "Lightsheet 7", "Dragonfly 505", "Stellaris 8"]
TOPICS = [
    "focal adhesion", "mitosis", "cilia", "neuronal migration", "heart regeneration",
    "root development", "yeast polarity", "synapse formation", "organoid growth",
    "wound healing", "chromatin dynamics", "mitochondrial fission", "germ cells",
]  # fmt: skip
WORDS = [
    "cells",
    "imaged",
    "live",
    "fixed",
    "stained",
    "antibody",
    "fluorescent",
    "protein",
    "time-lapse",
    "stack",
    "tissue",
    "embryo",
    "larva",
    "section",
    "sample",
    "quantified",
    "segmented",
    "tracked",
    "dynamics",
    "marker",
]

QUERIES: list[tuple[str, str, SearchFilters]] = [
    ("words", "mitosis", SearchFilters()),
    ("two words", "heart regeneration", SearchFilters()),
    ("organism", "", SearchFilters(organism="danio rerio")),
    ("method id", "", SearchFilters(method="FBbi_00000253")),
    ("words + organism", "cilia", SearchFilters(organism="mus musculus")),
    ("words + date range", "synapse",
     SearchFilters(since=date(2025, 1, 1), until=date(2025, 6, 30))),
    ("words + FAIR level", "organoid", SearchFilters(fair_level="rembi+nbo-tier1")),
    ("instrument + level", "", SearchFilters(instrument="lsm 980", fair_level="rembi")),
]  # fmt: skip


def _rows(n: int, seed: int = 1) -> list[dict[str, object]]:
    rng = random.Random(seed)
    start = date(2020, 1, 1)
    rows = []
    for i in range(n):
        org, taxon = rng.choice(ORGANISMS)
        method, term = rng.choice(METHODS)
        topic = rng.choice(TOPICS)
        instrument = rng.choice(INSTRUMENTS)
        title = f"{topic.capitalize()} in {org} ({i})"
        body = " ".join(
            [title, *rng.sample(WORDS, 8), org, f"NCBITaxon:{taxon}", method, term, instrument]
        )
        level = rng.choice(FAIR_LEVELS[1:])
        rows.append(
            {
                "dataset": f"fw-{i:016x}",
                "acquisition_id": f"acq-{i:016x}",
                "title": title,
                "body": body,
                "organism": f"{org} | ncbitaxon:{taxon}".lower(),
                "method": f"{method} | http://purl.obolibrary.org/obo/{term}".lower(),
                "instrument": instrument.lower(),
                "study": title.lower(),
                "acquired": f"{start + timedelta(days=rng.randrange(2000))}T10:00:00",
                "fair_rank": FAIR_LEVELS.index(level),
                "fair_level": level,
                "updated_at": utcnow(),
            }
        )
    return rows


def _load(catalog: Catalog, rows: list[dict[str, object]]) -> float:
    t0 = time.perf_counter()
    with catalog.engine.begin() as conn:
        for start in range(0, len(rows), 5000):
            batch = rows[start : start + 5000]
            conn.execute(sa.insert(SearchRow), batch)
            if catalog.engine.dialect.name == "sqlite":
                conn.execute(
                    sa.text("INSERT INTO search_fts (dataset, body) VALUES (:dataset, :body)"),
                    [{"dataset": r["dataset"], "body": r["body"]} for r in batch],
                )
    if catalog.engine.dialect.name == "postgresql":
        with catalog.engine.begin() as conn:
            conn.execute(sa.text("ANALYZE search_index"))
    return time.perf_counter() - t0


def _measure(catalog: Catalog, repeat: int) -> None:
    for name, query, filters in QUERIES:
        times, hits = [], 0
        for _ in range(repeat):
            t0 = time.perf_counter()
            hits = len(catalog.search(query, filters, limit=50))
            times.append((time.perf_counter() - t0) * 1000)
        times.sort()
        p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
        print(
            f"  {name:22} p50 {statistics.median(times):7.1f} ms   p95 {p95:7.1f} ms   "
            f"({hits} shown)"
        )


def main() -> int:
    """Load both engines and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    rows = _rows(args.n)
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = Catalog.open(f"sqlite:///{Path(tmp) / 'bench.sqlite'}")
        print(f"SQLite FTS5, {args.n} datasets: loaded in {_load(sqlite, rows):.1f} s")
        _measure(sqlite, args.repeat)
        sqlite.close()
    name = f"fairway_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(args.pg, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        print(f"PostgreSQL not reachable ({exc.orig}); skipped")
        return 0
    try:
        pg = Catalog.open(admin.url.set(database=name).render_as_string(hide_password=False))
        print(f"PostgreSQL tsvector, {args.n} datasets: loaded in {_load(pg, rows):.1f} s")
        _measure(pg, args.repeat)
        pg.close()
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
