"""bench/corpus.py writes every product's corpus without pytest or hypothesis: `make bench-cpu` runs it in the
bench's venv (.venv-bench: the project and its dependencies only), where importing a test module failed."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PRODUCTS = ["datameer", "databricks", "posit_connect_text", "posit_connect_json", "cloudera_ai", "puppet_enterprise"]

# Run in a fresh interpreter that cannot import the test tools, as the bench's venv cannot.
_WRITE = """
import sys
sys.modules["pytest"] = sys.modules["hypothesis"] = None  # an import of either raises ImportError
sys.path.insert(0, sys.argv[1])
import corpus
from pathlib import Path
for name in corpus.PRODUCTS:
    path = corpus.corpus(name, 50, Path(sys.argv[2]), distinct=True)
    print(name, sum(1 for _ in open(path, "rb")))
"""


def test_every_corpus_is_written_without_the_test_tools(tmp_path):
    p = subprocess.run([sys.executable, "-c", _WRITE, str(REPO / "bench"), str(tmp_path)], capture_output=True,
                       text=True, cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    assert p.stdout.split("\n")[:-1] == [f"{name} 50" for name in PRODUCTS]
