"""CTest entry point: runs pytest on one integration test file; "no tests collected" (exit 5) is a failure."""
import os
import sys

import pytest

if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: run_pytest.py TEST_FILE [pytest args...]")
    sys.dont_write_bytecode = True
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    # pytest creates --basetemp itself but not its parents (absent in a fresh build tree).
    for arg in sys.argv[2:]:
        if arg.startswith("--basetemp="):
            os.makedirs(os.path.dirname(arg.split("=", 1)[1].rstrip("/")), exist_ok=True)
    rc = pytest.main([*sys.argv[1:]])
    if rc == pytest.ExitCode.NO_TESTS_COLLECTED:
        print(f"run_pytest: no tests collected from {sys.argv[1]}: counted as a failure", file=sys.stderr)
        sys.exit(1)
    sys.exit(int(rc))
