"""The command line of a helper process of the agent's own (the checkpoint writer, the journal's writer)."""
from __future__ import annotations

import sys
from types import ModuleType


def helper_command(module: ModuleType, *args: str) -> list[str]:
    """`python -I -S -c` running `module`'s main(args), the module imported by name, not its file run by path: a script
    run by path is compiled from its source at every start (~47 M instructions, a fifth of the checkpoint writer's
    start), a module imported is read from its bytecode. The file's path stays in the command line, where the helper is
    known by it (checkpoint_db.holder_of, ps)."""
    main = (f"import os, sys; sys.path.insert(0, os.path.dirname(os.path.dirname(sys.argv[1]))); "
            f"from {module.__name__} import main; main(sys.argv[2:])")
    return [sys.executable, "-I", "-S", "-c", main, module.__file__ or "", *args]
