"""The checkpoint fragments the tailer owes its owner: a file state changed outside a read (found,
renamed, buried as a tombstone, forgotten: None) or a family seen waits here, and goes out with the
next lines emitted (their batch's checkpoint) or alone (Tailer.flush). A FileState is queued as
the object: it is serialised when taken, as it is then."""
from __future__ import annotations

from typing import Any

from shipper.tail.state import FileState


class CheckpointQueue(dict[str, Any]):
    def take(self) -> dict[str, Any]:
        """The checkpoint fragments waiting, as JSON values, and none waiting any more. States are
        serialised now, not when queued: a later batch may have moved them."""
        frag = {k: (v.to_json() if isinstance(v, FileState) else v) for k, v in self.items()}
        self.clear()
        return frag
