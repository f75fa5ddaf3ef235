"""Run the whole test suite on a given HOOMD-blue and record what ran: the README's "HOOMD-blue versions".

``python3 benchmarks/suite_on_hoomd.py`` runs ``python3 -m pytest`` on the HOOMD-blue this Python
imports; ``--hoomd-path DIR`` puts another build first on ``PYTHONPATH`` (a HOOMD-blue build directory,
e.g. 4.8.2's, beside the one installed), for the suite and every process it starts (job subprocesses,
``mpirun`` ranks). Records the HOOMD-blue version, the pytest summary and the marker groups that ran
(``tests/conftest.py``) in ``benchmarks/results/hoomd_versions.json``, one entry per version.

Usage::

    python3 benchmarks/suite_on_hoomd.py
    python3 benchmarks/suite_on_hoomd.py --hoomd-path /opt/hoomd-src/hoomd-4.8.2/build
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "hoomd_versions.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hoomd-path", help="a HOOMD-blue build to put first on PYTHONPATH")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments")
    args = parser.parse_args()
    env = dict(os.environ)
    if args.hoomd_path:
        env["PYTHONPATH"] = os.pathsep.join([args.hoomd_path, env.get("PYTHONPATH", "")])
    version = subprocess.run(
        [sys.executable, "-c", "import hoomd; print(hoomd.version.version, hoomd.version.mpi_enabled)"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout.split()
    start = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args.pytest_args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    output = run.stdout + run.stderr
    print(output[-6000:])
    summary = [line for line in output.splitlines() if re.search(r"\d+ (passed|failed)", line)]
    groups = re.findall(r"^\s*(\w+): (\d+) ran, (\d+) skipped$", output, flags=re.M)
    entry = {
        "hoomd": version[0],
        "mpi": version[1] == "True",
        "date": datetime.date.today().isoformat(),
        "exit_status": run.returncode,
        "minutes": round((time.monotonic() - start) / 60, 1),
        "summary": summary[-1].strip("= ") if summary else "",
        "marker_groups": {name: {"ran": int(ran), "skipped": int(skipped)} for name, ran, skipped in groups},
        "failed": re.findall(r"^FAILED (\S+)", output, flags=re.M),
        "skipped_reasons": sorted(set(re.findall(r"^SKIPPED \[\d+\] (.+)$", output, flags=re.M))),
    }
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results[entry["hoomd"]] = entry
    RESULTS.write_text(json.dumps(results, indent=2))
    print(json.dumps(entry, indent=2))
    sys.exit(run.returncode)


if __name__ == "__main__":
    main()
