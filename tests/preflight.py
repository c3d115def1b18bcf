"""Says which system parts the tests will use; in CI a missing part is an error."""

import glob
import os
import shutil
import sys

NEEDS = {
    "Chromium (browser tests)": ("apt-get install -y chromium", shutil.which("chromium")),
    "PostgreSQL server (database tests)": (
        "apt-get install -y postgresql",
        glob.glob("/usr/lib/postgresql/*/bin/initdb") or shutil.which("initdb"),
    ),
    "DejaVu Sans (the PDF report's tests)": (
        "apt-get install -y fonts-dejavu-core",
        os.path.isfile("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    ),
}

missing = [(what, how) for what, (how, found) in NEEDS.items() if not found]
for what, how in missing:
    print(f"MISSING: {what}: install with `{how}`; those tests will be skipped", file=sys.stderr)
if missing and os.environ.get("CI") == "true":
    print("CI needs every part: failing.", file=sys.stderr)
    sys.exit(1)
