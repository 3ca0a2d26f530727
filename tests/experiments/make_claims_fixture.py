"""Write tests/experiments/claims_quick.json from a real quick run of the claims catalogue.

    .venv/bin/trainlab claims run --dir runs/claims          # the whole catalogue, quick settings
    .venv/bin/python tests/experiments/make_claims_fixture.py runs/claims

Keeps each claim's measured numbers (what its rule reads) and its verdict; drops what only the
pictures need (curves, per-step series), so the file stays small.
"""
import json
import sys
from pathlib import Path

HEAVY = {"curves", "curve", "steps", "hist", "grid_points", "random_points", "size_curve", "rows", "images", "fits", "xs",
         "losses"}


def strip(v):
    if isinstance(v, dict):
        return {k: strip(x) for k, x in v.items() if k not in HEAVY}
    if isinstance(v, list):
        return [strip(x) for x in v[:LONGEST]]  # very long series (per-step records): their start is what a rule reads
    return v


LONGEST = 1000


def main(folder: str) -> None:
    out = {}
    for f in sorted(Path(folder).glob("*/result.json")):
        r = json.loads(f.read_text())
        out[r["id"]] = {"verdict": r["verdict"], "mode": r["mode"], "data": strip(r["data"])}
    target = Path(__file__).with_name("claims_quick.json")
    target.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    print(f"{len(out)} claims -> {target}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/claims")
