"""The keepa-deals command tunes the garbage collector for a long ingest process."""

from __future__ import annotations

import subprocess
import sys


def test_tune_gc_raises_the_collector_thresholds_and_freezes_start_up_objects() -> None:
    code = (
        "import gc, sys\n"
        "from keepa_deals import runtime\n"
        "runtime.tune_gc()\n"
        "assert gc.get_threshold() == (runtime.GC_YOUNG_THRESHOLD, *runtime.GC_OLDER_THRESHOLDS)\n"
        "assert gc.get_freeze_count() > 0\n"
        "assert gc.isenabled()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_main_tunes_the_collector() -> None:
    code = (
        "import gc, sys\n"
        "from keepa_deals.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "from keepa_deals.runtime import GC_YOUNG_THRESHOLD\n"
        "assert gc.get_threshold()[0] == GC_YOUNG_THRESHOLD\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60, capture_output=True)
