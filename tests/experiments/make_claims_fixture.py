"""Write tests/experiments/claims_quick.json from a real quick run of the claims catalogue.

    .venv/bin/trainlab claims run --dir runs/claims          # the whole catalogue, quick settings
    .venv/bin/python tests/experiments/make_claims_fixture.py runs/claims

Keeps each claim's measured numbers (what its rule reads) and its verdict; drops what only the
pictures need (curves, per-step series), so the file stays small. Claims the folder has no quick
result for keep their entry from the file as it was (a catalogue run on part of the claims
updates those alone).
"""
import json
import sys
from pathlib import Path

HEAVY = {"curves", "curve", "steps", "hist", "grid_points", "random_points", "size_curve", "rows", "images", "fits", "xs",
         "losses"}


def per_seed(x) -> bool:
    """A short flat list of numbers: one value per seed (relu-6x-faster's "steps"), which a rule reads."""
    return isinstance(x, list) and len(x) <= 50 and all(isinstance(i, (int, float)) for i in x)


def strip(v):
    if isinstance(v, dict):
        return {k: strip(x) for k, x in v.items() if k not in HEAVY or per_seed(x)}
    if isinstance(v, list):
        return [strip(x) for x in v[:LONGEST]]  # very long series (per-step records): their start is what a rule reads
    return v


LONGEST = 1000


def main(folder: str) -> None:
    target = Path(__file__).with_name("claims_quick.json")
    out = json.loads(target.read_text()) if target.is_file() else {}
    fresh = 0
    for f in sorted(Path(folder).glob("*/quick.json")):
        r = json.loads(f.read_text())
        out[r["id"]] = {"verdict": r["verdict"], "mode": r["mode"], "data": strip(r["data"])}
        fresh += 1
    target.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    print(f"{fresh} claims measured, {len(out)} in all -> {target}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/claims")
